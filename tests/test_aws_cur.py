"""AWS Cost and Usage Reports (legacy CUR 1.0 and CUR 2.0) mapped to FOCUS, reconciled against an independent
reader (Python's csv + Decimal) and against figures worked out by hand."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import BILLING

from finops.connectors.aws_cur import COLUMNS, NUMERIC, check_cur_header, cur_version, read_cur_batches
from finops.connectors.focus_files import read_header
from finops.errors import InputError
from finops.schema import COSTS
from finops.store import open_store

LEGACY = BILLING / "focus-converters" / "aws-cur-legacy.csv"
CENT = Decimal("0.01")
PAYER = "012345678901"  # leading zero: an integer would lose it
ACCOUNT = "000123456789"
SP_ARN = f"arn:aws:savingsplans::{PAYER}:savingsplan/0a1b2c3d"
RI_ARN = f"arn:aws:ec2:us-east-1:{PAYER}:reserved-instances/4e5f6a7b"


def legacy_totals() -> dict[tuple[str, str], Decimal]:
    """(billing period start date, line item type) -> sum of lineItem/UnblendedCost, with nothing finops uses."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with LEGACY.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            key = (row["bill/BillingPeriodStartDate"][:10], row["lineItem/LineItemType"])
            totals[key] += Decimal(row["lineItem/UnblendedCost"])
    return dict(totals)


def stored_by_type(db: Path) -> dict[tuple[str, str], tuple[Decimal, Decimal, int]]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            """SELECT strftime("BillingPeriodStart", '%Y-%m-%d'), json_extract_string("x_Extras", '$.x_LineItemType'),
                      sum("BilledCost"), sum("EffectiveCost"), count(*) FROM costs GROUP BY ALL"""
        ).fetchall()
    return {(period, kind): (billed, effective, n) for period, kind, billed, effective, n in rows}


def test_cur_version_reads_the_header() -> None:
    assert cur_version(read_header(LEGACY)) == "1.0"
    assert cur_version(["identity_line_item_id", "line_item_unblended_cost"]) == "2.0"
    assert cur_version(read_header(BILLING / "focus-data-toolkit" / "focus_1_2_cost_and_usage_aws.csv")) is None


def test_legacy_cur_reconciles_exactly_per_period_and_line_item_type(db: Path) -> None:
    batches = list(read_cur_batches(LEGACY, batch_rows=500))
    assert [b.height for b in batches] == [500, 500, 281]
    with open_store(db) as store:
        assert store.replace_slices(COSTS, batches, checksum="cur", inputs=["aws-cur-legacy.csv"]).rows == 1281
    expected = legacy_totals()
    actual = stored_by_type(db)
    assert set(actual) == set(expected) == {("2023-11-01", "Usage"), ("2023-11-01", "Tax")}
    for key, unblended in expected.items():
        billed, effective, _ = actual[key]
        assert billed.quantize(CENT) == unblended.quantize(CENT), key
        # Exact, not just to the cent: values such as 1.81E-8 are parsed, not rounded away.
        assert billed == unblended, key
        assert effective == unblended, key  # no commitments in this file: amortised equals unblended
    assert sum(expected.values()) == Decimal("1.68230869740")
    with duckdb.connect(str(db), read_only=True) as con:
        tax = con.execute(
            """SELECT "ChargeCategory", count(*) FROM costs
               WHERE json_extract_string("x_Extras", '$.x_LineItemType') = 'Tax' GROUP BY ALL"""
        ).fetchall()
        ids = con.execute(
            """SELECT DISTINCT "BillingAccountId", "SubAccountId", typeof("BillingAccountId"), "ProviderName",
                      "InvoiceIssuerName", "x_Source", "x_FocusVersion" FROM costs"""
        ).fetchall()
        categories = con.execute('SELECT DISTINCT "ChargeCategory" FROM costs ORDER BY 1').fetchall()
    assert tax == [("Tax", 12)]
    assert categories == [("Tax",), ("Usage",)]
    assert ids == [
        (
            "123412340534",
            "123412340534",
            "VARCHAR",
            "AWS",
            "Amazon Web Services Canada, Inc.",
            "focus:AWS:123412340534",
            "cur-1.0",
        )
    ]


# One billing period of CUR 2.0 line items, with the FOCUS result worked out by hand:
# (line item type, unblended cost, expected BilledCost, expected EffectiveCost, expected ChargeCategory, columns).
# The Savings Plan commits 6.00 for the period and 5.00 of it covers usage worth 8.00 On-Demand; the RI costs
# 2.00 amortised upfront + 4.00 recurring, 5.00 of it used; the RI and SP upfront payments were made this month.
CASES: list[tuple[str, str, str, str, str, dict[str, object]]] = [
    ("Usage", "10.00", "10.00", "10.00", "Usage", {"tags": {"user_team": "ml", "aws_createdBy": "tf"}, "gpu": True}),
    ("Usage", "2.50", "2.50", "2.50", "Usage", {"tags": {"user_Team": "infra"}}),
    ("SavingsPlanCoveredUsage", "8.00", "8.00", "5.00", "Usage", {"sp": SP_ARN, "sp_effective": "5.00"}),
    ("SavingsPlanNegation", "-8.00", "-8.00", "0", "Usage", {"sp": SP_ARN}),
    ("SavingsPlanRecurringFee", "6.00", "6.00", "1.00", "Purchase", {"sp": SP_ARN, "total": "6.00", "used": "5.00"}),
    ("SavingsPlanUpfrontFee", "50.00", "50.00", "0", "Purchase", {"sp": SP_ARN}),
    ("DiscountedUsage", "0", "0", "5.00", "Usage", {"ri": RI_ARN, "ri_effective": "5.00"}),
    ("RIFee", "4.00", "4.00", "1.00", "Purchase", {"ri": RI_ARN, "unused_upfront": "0.40", "unused_recurring": "0.60"}),
    ("Fee", "100.00", "100.00", "0", "Purchase", {"ri": RI_ARN}),
    ("Credit", "-1.25", "-1.25", "-1.25", "Credit", {}),
    ("Refund", "-0.75", "-0.75", "-0.75", "Adjustment", {}),
    ("Tax", "1.10", "1.10", "1.10", "Tax", {}),
    ("Usage", "7.00", "7.00", "7.00", "Usage", {"marketplace": "Acme Data Inc."}),
]
TOTAL_BILLED = Decimal("178.60")  # 10 + 2.50 + 6 + 50 + 4 + 100 - 1.25 - 0.75 + 1.10 + 7
TOTAL_EFFECTIVE = Decimal("30.60")  # 10 + 2.50 + 5 + 1 + 5 + 1 - 1.25 - 0.75 + 1.10 + 7


def cur2_rows() -> list[dict[str, object]]:
    rows = []
    for kind, unblended, _, _, _, extra in CASES:
        marketplace = extra.get("marketplace")
        rows.append(
            {
                "identity_line_item_id": f"line-{len(rows)}",
                "bill_bill_type": "Anniversary",
                "bill_billing_entity": "AWS Marketplace" if marketplace else "AWS",
                "bill_invoicing_entity": "Amazon Web Services, Inc.",
                "bill_payer_account_id": PAYER,
                "bill_payer_account_name": "Lumen Labs",
                "bill_billing_period_start_date": "2024-06-01T00:00:00.000Z",
                "bill_billing_period_end_date": "2024-07-01T00:00:00.000Z",
                "line_item_usage_account_id": ACCOUNT,
                "line_item_line_item_type": kind,
                "line_item_usage_start_date": "2024-06-03T00:00:00.000Z",
                "line_item_usage_end_date": "2024-06-04T00:00:00.000Z",
                "line_item_product_code": "AmazonEC2",
                "line_item_usage_type": "USE1-BoxUsage:p4d.24xlarge" if extra.get("gpu") else "USE1-Requests",
                "line_item_unblended_cost": unblended,
                "line_item_legal_entity": marketplace or "Amazon Web Services, Inc.",
                "product": {"product_name": "Amazon Elastic Compute Cloud", "region": "us-east-1"},
                "product_instance_type": "p4d.24xlarge" if extra.get("gpu") else None,
                "savings_plan_savings_plan_a_r_n": extra.get("sp"),
                "savings_plan_savings_plan_effective_cost": extra.get("sp_effective"),
                "savings_plan_total_commitment_to_date": extra.get("total"),
                "savings_plan_used_commitment": extra.get("used"),
                "reservation_reservation_a_r_n": extra.get("ri"),
                "reservation_effective_cost": extra.get("ri_effective"),
                "reservation_unused_amortized_upfront_fee_for_billing_period": extra.get("unused_upfront"),
                "reservation_unused_recurring_fee": extra.get("unused_recurring"),
                "resource_tags": extra.get("tags", {}),
            }
        )
    return rows


MAPS = ("product", "resource_tags")
MONEY = (
    "line_item_unblended_cost",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "reservation_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
)


def write_cur2(rows: list[dict[str, object]], path: Path) -> Path:
    """CSV as AWS writes CUR 2.0 CSV (maps as JSON text), or parquet as AWS writes it (MAP columns, doubles)."""
    names = list(rows[0])
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=names)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: json.dumps(v) if k in MAPS else v for k, v in row.items()})
        return path
    columns = {}
    for name in names:
        values = [row[name] for row in rows]
        if name in MAPS:
            columns[name] = pa.array([list(v.items()) for v in values], pa.map_(pa.string(), pa.string()))
        elif name in MONEY:
            columns[name] = pa.array([None if v is None else float(v) for v in values], pa.float64())
        else:
            columns[name] = pa.array(values, pa.string())
    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cur2_commitments_are_amortised_without_double_counting(tmp_path: Path, suffix: str) -> None:
    path = write_cur2(cur2_rows(), tmp_path / f"cur2{suffix}")
    frame = pl.concat(list(read_cur_batches(path)))
    frame = frame.with_columns(kind=pl.col("x_Extras").str.json_path_match("$.x_LineItemType"))
    assert frame.height == len(CASES)
    rows = frame.to_dicts()
    for row, (kind, unblended, billed, effective, category, _) in zip(rows, CASES, strict=True):
        assert row["kind"] == kind
        assert (row["BilledCost"], row["EffectiveCost"], row["ChargeCategory"]) == (
            Decimal(billed),
            Decimal(effective),
            category,
        ), kind
        assert Decimal(json.loads(row["x_Extras"])["x_UnblendedCost"]) == Decimal(unblended), kind
    billed_total = sum(r["BilledCost"] for r in rows)
    effective_total = sum(r["EffectiveCost"] for r in rows)
    # Float parquet values here round to themselves at 15 places, so both formats are exact.
    assert billed_total == TOTAL_BILLED == sum(Decimal(c[1]) for c in CASES)  # the invoice: sum of unblended
    assert effective_total == TOTAL_EFFECTIVE
    # Each commitment counts once in EffectiveCost: the Savings Plan exactly its 6.00 commitment, the RI exactly
    # its 6.00 for the period; the covered usage's 8.00 On-Demand and its negation count nowhere.
    by_commitment = (
        frame.filter(pl.col("kind") != "SavingsPlanUpfrontFee")
        .group_by("CommitmentDiscountId")
        .agg(pl.col("EffectiveCost").sum(), pl.col("BilledCost").sum())
    )
    totals = {r["CommitmentDiscountId"]: (r["EffectiveCost"], r["BilledCost"]) for r in by_commitment.to_dicts()}
    assert totals[SP_ARN] == (Decimal("6.00"), Decimal("6.00"))
    assert totals[RI_ARN][0] == Decimal("6.00")

    covered, fee, ri_fee = rows[2], rows[4], rows[7]
    assert (covered["CommitmentDiscountType"], covered["CommitmentDiscountStatus"], covered["PricingCategory"]) == (
        "Savings Plan",
        "Used",
        "Committed",
    )
    assert (fee["CommitmentDiscountStatus"], fee["CommitmentDiscountCategory"]) == ("Unused", "Spend")
    assert (ri_fee["CommitmentDiscountType"], ri_fee["CommitmentDiscountStatus"]) == ("Reserved Instance", "Unused")
    assert rows[11]["PricingCategory"] is None  # Tax has no pricing category in FOCUS 1.2

    gpu, s3, marketplace = rows[0], rows[1], rows[12]
    assert json.loads(gpu["Tags"]) == {"team": "ml", "aws:created_by": "tf"}
    assert json.loads(s3["Tags"]) == {"team": "infra"}
    assert rows[2]["Tags"] is None  # an empty map is no tags
    assert (gpu["x_InstanceType"], json.loads(gpu["SkuPriceDetails"])) == (
        "p4d.24xlarge",
        {"InstanceType": "p4d.24xlarge"},
    )
    assert (gpu["ServiceName"], gpu["RegionId"]) == ("Amazon Elastic Compute Cloud", "us-east-1")
    assert (marketplace["ProviderName"], marketplace["PublisherName"]) == ("AWS", "Acme Data Inc.")
    assert (gpu["ProviderName"], gpu["PublisherName"]) == ("AWS", "AWS")
    assert {(r["BillingAccountId"], r["SubAccountId"], r["BillingAccountName"]) for r in rows} == {
        (PAYER, ACCOUNT, "Lumen Labs")
    }
    assert set(frame.get_column("x_FocusVersion")) == {"cur-2.0"}


def test_cur2_csv_and_parquet_give_the_same_rows(tmp_path: Path) -> None:
    rows = cur2_rows()
    from_csv = pl.concat(list(read_cur_batches(write_cur2(rows, tmp_path / "cur2.csv"))))
    from_parquet = pl.concat(list(read_cur_batches(write_cur2(rows, tmp_path / "cur2.parquet"))))
    # The extras keep each file's own unblended text ("8.00" against 8.0); every FOCUS column is the same.
    assert from_csv.drop("x_Extras").equals(from_parquet.drop("x_Extras"))


def test_non_numeric_cost_names_file_row_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    frame = pl.read_csv(LEGACY, infer_schema=False)
    column = "lineItem/UnblendedCost"
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 516).then(pl.lit("12.3O")).otherwise(pl.col(column)).alias(column)
    ).write_csv(bad)
    with pytest.raises(InputError, match=r"bad\.csv: row 517, column lineItem/UnblendedCost: '12\.3O' is not a number"):
        list(read_cur_batches(bad, batch_rows=200))


def test_commitment_line_without_its_amortisation_is_refused(tmp_path: Path) -> None:
    rows = cur2_rows()
    rows[2]["savings_plan_savings_plan_effective_cost"] = None
    path = write_cur2(rows, tmp_path / "cur2.csv")
    with pytest.raises(InputError, match="row 3, column savings_plan_savings_plan_effective_cost: empty"):
        list(read_cur_batches(path))


def test_a_file_that_is_not_a_cur_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not an AWS Cost and Usage Report"):
        check_cur_header(BILLING / "focus-data-toolkit" / "focus_1_2_cost_and_usage_aws.csv")
    partial = tmp_path / "partial.csv"
    partial.write_text("lineItem/UnblendedCost,lineItem/LineItemType\n1.0,Usage\n")
    with pytest.raises(InputError, match="missing column\\(s\\) lineItem/UsageStartDate"):
        check_cur_header(partial)


def test_legacy_cur_as_parquet_flat_tag_and_product_columns(tmp_path: Path) -> None:
    """Legacy CUR delivered as parquet for Athena: CUR 2.0 spellings, but tags and product attributes as columns."""
    rows = []
    for row in cur2_rows()[:2]:
        tags = row.pop("resource_tags")
        product = row.pop("product")
        assert isinstance(tags, dict) and isinstance(product, dict)
        row["product_product_name"] = product["product_name"]
        row["product_region"] = product["region"]
        row["resource_tags_user_team"] = tags.get("user_team")
        rows.append(row)
    path = tmp_path / "legacy.parquet"
    pl.DataFrame(rows).write_parquet(path)
    frame = pl.concat(list(read_cur_batches(path)))
    assert frame.get_column("Tags").to_list() == ['{"team":"ml"}', None]
    assert set(frame.get_column("ServiceName")) == {"Amazon Elastic Compute Cloud"}
    assert set(frame.get_column("RegionId")) == {"us-east-1"}


def test_finops_ingest_reads_a_cur_file_by_its_header(cli, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    result = cli("ingest", "--db", db, LEGACY)
    assert result.code == 0, result.err
    with duckdb.connect(str(db), read_only=True) as con:
        rows, billed, version = con.execute(
            'SELECT count(*), sum("BilledCost"), any_value("x_FocusVersion") FROM costs'
        ).fetchall()[0]
    assert (rows, billed, version) == (1281, Decimal("1.68230869740"), "cur-1.0")


# Real CUR files written by AWS: the Well-Architected Labs' workshop CUR (legacy CUR delivered as parquet for Athena,
# November and December 2018, one payer), as AWS typed it: money as DOUBLE, rates as strings with "" on lines that
# have no rate (RIFee), tags as resource_tags_* columns. tests/data/billing/README.md has where they come from.
WA_LABS = BILLING / "aws-wa-labs-cur"
# Worked out without finops: pyarrow reads each file, every DOUBLE becomes Decimal(repr(value)) (Python's shortest
# repr, the number AWS wrote), summed per billing period. EffectiveCost follows AWS's CID summary_view: Usage at its
# unblended cost, DiscountedUsage at reservation_effective_cost, RIFee at its unused upfront + unused recurring fee.
# Blank rates: rows whose pricing_public_on_demand_rate is "" (none is NULL).
WA_LABS_EXPECTED = {
    "2018-11-01": {"rows": 124340, "billed": "3505.3269681268", "effective": "3632.5598464968", "blank_rates": 2474},
    "2018-12-01": {"rows": 91264, "billed": "408.3759924354", "effective": "539.8499667354", "blank_rates": 905},
}


def test_real_cur_parquet_from_aws_reconciles_exactly_per_period(cli, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    result = cli("ingest", "--db", db, *sorted(WA_LABS.glob("*.parquet")))
    assert result.code == 0, result.err  # "" in the string-typed rate column is no rate, not a bad number
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            """SELECT strftime("BillingPeriodStart", '%Y-%m-%d'), count(*), sum("BilledCost"), sum("EffectiveCost"),
                      count(*) FILTER (WHERE "ListUnitPrice" IS NULL), any_value("BillingAccountId")
               FROM costs GROUP BY ALL ORDER BY 1"""
        ).fetchall()
    actual = {period: (n, billed, effective, no_rate, payer) for period, n, billed, effective, no_rate, payer in rows}
    assert set(actual) == set(WA_LABS_EXPECTED)
    for period, expected in WA_LABS_EXPECTED.items():
        n, billed, effective, no_rate, payer = actual[period]
        # Exact, not to the cent: float money is read as its shortest repr, so no binary noise is summed
        # (reading each DOUBLE's binary value to 15 places would give 3505.326968126800001 for November).
        assert (n, billed, effective, no_rate) == (
            expected["rows"],
            Decimal(expected["billed"]),
            Decimal(expected["effective"]),
            expected["blank_rates"],
        ), period
        assert payer == "836060457634"


def test_real_cur_float_money_is_its_shortest_repr_row_by_row() -> None:
    path = WA_LABS / "Dec2018-WorkshopCUR-00001.snappy.parquet"
    expected = [
        Decimal(repr(v)) for v in pq.read_table(path, columns=["line_item_unblended_cost"]).column(0).to_pylist()
    ]
    frame = pl.concat(list(read_cur_batches(path, batch_rows=40000)))
    assert frame.get_column("BilledCost").to_list() == expected


# The CUR 2.0 data dictionary as AWS publishes it in machine-readable form: the Glue table (column name and Athena
# type) and the default CUR 2.0 export query of the Data Exports template in aws-solutions-library-samples/
# cloud-intelligence-dashboards-data-collection (tests/data/billing/aws-cur2-dictionary).
DICTIONARY = BILLING / "aws-cur2-dictionary" / "data-exports-aggregation.yaml"


def cur2_dictionary() -> dict[str, str]:
    """Every column of a default CUR 2.0 export (with IAM principal and split cost allocation) and its type. The
    Glue table gives the type of 87 of them; for the others, CID's own rule for a CUR 2.0 column it has not seen
    (cid/helpers/cur.py `get_type_of_column`): `_cost`, `_fee`, `_amount`, `_quantity`, `_factor`, `_usage`... are
    double, `_date` timestamp, everything else (rates and `_time` columns included) string."""
    text = DICTIONARY.read_text()
    table = text[text.index("Name: cur2") :]
    table = table[: table.index("PartitionKeys")]
    typed = {d["Name"]: d["Type"] for d in map(json.loads, re.findall(r'- (\{"Name".*?\})', table))}
    queries = [line.split("SELECT", 1)[1] for line in text.splitlines() if "SELECT bill_bill_type" in line]
    columns = [name.strip() for name in max(queries, key=len).split(",")]

    def rule(name: str) -> str:
        endings = ("_cost", "_factor", "_quantity", "_fee", "_amount", "_discount", "_usage", "_usage_ratio")
        if name.endswith(endings) or name.endswith("_units") or name.endswith("_reservations"):
            return "double"
        if name.endswith("_date") and not name.endswith("_to_date"):
            return "timestamp"
        if name.endswith("_value") or name == "savings_plan_savings_plan_rate":
            return "double"
        return "string"

    return {name: typed.get(name) or rule(name) for name in columns}


def test_the_dictionary_is_what_finops_reads() -> None:
    dictionary = cur2_dictionary()
    assert len(dictionary) == 127
    # AWS's own types for the columns the issue is about.
    assert dictionary["pricing_public_on_demand_rate"] == "string"
    assert dictionary["line_item_unblended_rate"] == "string"
    assert dictionary["line_item_unblended_cost"] == "double"
    assert (dictionary["product"], dictionary["discount"]) == ("map<string,string>", "map<string,double>")
    mapped = {COLUMNS[field][0] for field in COLUMNS}
    numeric = {COLUMNS[field][0] for field in NUMERIC}
    # Every money and quantity column finops maps is in the dictionary, as a double or a string.
    assert numeric <= set(dictionary)
    assert {dictionary[name] for name in numeric} == {"double", "string"}
    # Every other column finops maps is a column of the dictionary or a key of its `product` map (product_name,
    # product_region), or the capacity reservation column AWS added after this template's query.
    outside = mapped - set(dictionary)
    assert outside == {"product_product_name", "product_region", "capacity_reservation_capacity_reservation_arn"}


MAP_TYPES = {
    "map<string,string>": pa.map_(pa.string(), pa.string()),
    "map<string,double>": pa.map_(pa.string(), pa.float64()),
}
ARROW_TYPES = {"string": pa.string(), "double": pa.float64(), "timestamp": pa.timestamp("ms"), **MAP_TYPES}


def write_cur2_as_aws(rows: list[dict[str, object]], path: Path) -> Path:
    """A CUR 2.0 parquet file with every column of the dictionary, each typed as AWS types it: DOUBLE money,
    string rates ("" where a line has none, as AWS writes them), MAP columns, naive millisecond timestamps.
    A row's value for a column: given, else None for doubles and timestamps and "" for strings."""
    columns = {}
    for name, kind in cur2_dictionary().items():
        values = [row.get(name, "" if kind == "string" else None) for row in rows]
        if kind in MAP_TYPES:
            values = [list(v.items()) if isinstance(v, dict) else [] for v in values]
        elif kind == "double":
            values = [None if v is None else float(v) for v in values]  # type: ignore[arg-type]
        elif kind == "timestamp":
            values = [None if v is None else datetime.fromisoformat(str(v)) for v in values]
        columns[name] = pa.array(values, ARROW_TYPES[kind])
    pq.write_table(pa.table(columns), path)
    return path


def aws_rows(period: str = "2024-06") -> list[dict[str, object]]:
    """CASES as a CUR 2.0 export writes them, plus what the issue found in real exports: rates as text ("" on tax,
    credit and fee lines), money AWS computed to 10 places that a DOUBLE cannot hold exactly, a `discount` MAP of
    doubles, and a Savings Plan negation that does not exactly offset its covered line."""
    start = f"{period}-01T00:00:00"
    year, month = (int(part) for part in period.split("-"))
    end = f"{year + month // 12}-{month % 12 + 1:02d}-01T00:00:00"
    rows = []
    for index, row in enumerate(cur2_rows()):
        kind = str(row["line_item_line_item_type"])
        rate = "" if kind in ("Tax", "Credit", "Refund", "Fee", "SavingsPlanUpfrontFee") else "0.0123"
        rows.append(
            {
                **{k: v for k, v in row.items() if v is not None and k != "resource_tags"},
                "bill_billing_period_start_date": start,
                "bill_billing_period_end_date": end,
                "line_item_usage_start_date": f"{period}-03T00:00:00",
                "line_item_usage_end_date": f"{period}-04T00:00:00",
                "line_item_currency_code": "USD",
                "pricing_public_on_demand_rate": rate,
                "line_item_unblended_rate": rate,
                "resource_tags": row["resource_tags"],
                "cost_category": {"team": "ml"} if index == 0 else {},
                "discount": {"bundled_discount": -0.5} if index == 0 else {},
                "identity_line_item_id": f"{period}-line-{index}",
            }
        )
    extra = dict(rows[0], identity_line_item_id=f"{period}-line-float")
    rows.append({**extra, "line_item_unblended_cost": 48975.4191462273, "pricing_public_on_demand_cost": 0.1 + 0.2})
    covered = dict(rows[2], line_item_unblended_cost="16.97", savings_plan_savings_plan_effective_cost="6.20")
    negation = dict(rows[3], line_item_unblended_cost="-6.20")  # offsets 6.20 of 16.97: 10.77 stays billed
    rows += [
        dict(covered, identity_line_item_id=f"{period}-cov"),
        dict(negation, identity_line_item_id=f"{period}-neg"),
    ]
    return rows


AWS_ROWS_BILLED = TOTAL_BILLED + Decimal("48975.4191462273") + Decimal("16.97") - Decimal("6.20")
AWS_ROWS_EFFECTIVE = TOTAL_EFFECTIVE + Decimal("48975.4191462273") + Decimal("6.20")


def test_cur2_parquet_typed_as_aws_types_it(tmp_path: Path) -> None:
    path = write_cur2_as_aws(aws_rows(), tmp_path / "cur2.snappy.parquet")
    schema = pq.read_schema(path)
    discount = schema.field("discount").type
    assert schema.field("pricing_public_on_demand_rate").type == pa.string()
    assert isinstance(discount, pa.MapType) and discount.item_type == pa.float64()
    frame = pl.concat(list(read_cur_batches(path)))
    kinds = frame.get_column("x_Extras").str.json_path_match("$.x_LineItemType").to_list()
    # Worked out by hand from the rows above: CASES' totals, the float line, and the covered line with its
    # negation (16.97 - 6.20: the 10.77 the negation does not offset stays in BilledCost).
    assert sum(frame.get_column("BilledCost")) == AWS_ROWS_BILLED
    assert sum(frame.get_column("EffectiveCost")) == AWS_ROWS_EFFECTIVE
    rows = frame.to_dicts()
    floats = rows[len(CASES)]
    # 0.1 + 0.2 is the float 0.30000000000000004 (shortest repr): the store keeps 15 decimals, so 0.3.
    assert (floats["BilledCost"], floats["ListCost"]) == (Decimal("48975.4191462273"), Decimal("0.3"))
    for row, kind in zip(rows, kinds, strict=True):
        expected = None if kind in ("Tax", "Credit", "Refund", "Fee", "SavingsPlanUpfrontFee") else Decimal("0.0123")
        assert row["ListUnitPrice"] == expected, kind
    assert json.loads(rows[0]["Tags"]) == {"team": "ml", "aws:created_by": "tf"}


@pytest.mark.parametrize("direct", [True, False], ids=["duckdb", "streaming"])
def test_focus_parquet_with_float_money_and_a_map_sku_price_details(tmp_path: Path, direct: bool) -> None:
    """AWS's FOCUS export as parquet writes money as DOUBLE and SkuPriceDetails as a MAP (CID's focus table:
    `skupricedetails: map<string,string>`). Both load paths read the floats as their shortest repr."""
    from finops.ingest import ingest_focus

    source = pl.read_csv(BILLING / "focus-data-toolkit" / "focus_1_2_cost_and_usage_aws.csv", infer_schema=False)
    table = source.head(40).to_arrow()
    costs = [48975.4191462273 + i * 0.1 for i in range(table.num_rows)]  # not one of them a DOUBLE holds exactly
    table = table.set_column(table.schema.get_field_index("BilledCost"), "BilledCost", pa.array(costs))
    details = [[("InstanceType", "p4d.24xlarge")] if i % 2 else [] for i in range(table.num_rows)]
    index = table.schema.get_field_index("SkuPriceDetails")
    table = table.set_column(index, "SkuPriceDetails", pa.array(details, pa.map_(pa.string(), pa.string())))
    path = tmp_path / "focus.parquet"
    pq.write_table(table, path)
    db = tmp_path / "store.duckdb"
    result = ingest_focus(db, [path], direct=direct)
    assert result.reader == ("duckdb" if direct else "stream")
    with duckdb.connect(str(db), read_only=True) as con:
        billed = [r[0] for r in con.execute('SELECT "BilledCost" FROM costs').fetchall()]
        details_read = con.execute('SELECT DISTINCT CAST("SkuPriceDetails" AS VARCHAR) FROM costs').fetchall()
    assert sorted(billed) == sorted(Decimal(repr(c)) for c in costs)
    assert sum(billed) == sum(Decimal(repr(c)) for c in costs)
    assert {row[0] for row in details_read} == {'{"InstanceType":"p4d.24xlarge"}', "{}"}
