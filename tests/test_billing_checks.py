"""Validation before writing (connectors/billing_checks.py): every refusal goes through `finops ingest`, exits 2,
names the file, row, column and value, and leaves the store exactly as it was, for CSV and parquet, on the checked
path and on the direct parquet path (whose SQL guards send a refused file back to the checked path). Files that are
no format finops reads are named for what they are, from real files of other projects where one was found."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from conftest import BILLING

from finops.connectors.focus_parquet import plan_parquet_load
from finops.schema import COSTS
from finops.store import QueryError, open_store

HEADER = [
    "ProviderName", "BillingAccountId", "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart",
    "ChargePeriodEnd", "BilledCost", "EffectiveCost", "BillingCurrency", "ServiceName", "x_Team",
]  # fmt: skip
TIMES = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
MONEY = ("BilledCost", "EffectiveCost")
Row = dict[str, str]


def row(**values: str) -> Row:
    base = {
        "ProviderName": "Example", "BillingAccountId": "000123456789", "BillingPeriodStart": "2024-10-01T00:00:00Z",
        "BillingPeriodEnd": "2024-11-01T00:00:00Z", "ChargePeriodStart": "2024-10-02T00:00:00Z",
        "ChargePeriodEnd": "2024-10-03T00:00:00Z", "BilledCost": "1.25", "EffectiveCost": "1.25",
        "BillingCurrency": "USD", "ServiceName": "Compute", "x_Team": "data",
    }  # fmt: skip
    return {**base, **values}


def write(path: Path, rows: list[Row]) -> Path:
    """CSV as text; parquet typed as an export writes it (UTC timestamps, DECIMAL(38, 15) money), so DuckDB reads
    it on the direct path."""
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows([r[name] for name in HEADER] for r in rows)
        return path
    frame = pl.DataFrame(rows, schema=dict.fromkeys(HEADER, pl.String)).with_columns(
        *(pl.col(name).str.to_datetime(time_zone="UTC", time_unit="us") for name in TIMES),
        *(pl.col(name).cast(pl.Decimal(38, 15)) for name in MONEY),
    )
    frame.write_parquet(path)
    return path


def state(db: Path) -> tuple[object, ...]:
    """What a refused load must leave as it was: every slice's rows and totals as text, and the load log."""
    with duckdb.connect(str(db), read_only=True) as con:
        slices = con.execute(
            'SELECT "x_Source", CAST("BillingPeriodStart" AS VARCHAR), count(*), CAST(sum("BilledCost") AS VARCHAR), '
            'CAST(sum("EffectiveCost") AS VARCHAR), list(DISTINCT "BillingCurrency") FROM costs GROUP BY ALL '
            "ORDER BY ALL"
        ).fetchall()
        loads = con.execute("SELECT load_id, source, slice, rows FROM loads ORDER BY ALL").fetchall()
    return (slices, loads)


@pytest.fixture
def loaded(cli: Callable[..., Any], db: Path, tmp_path: Path) -> tuple[Path, tuple[object, ...]]:
    """A store holding the slice every bad file below would replace, and its state."""
    good = write(tmp_path / "good.csv", [row(), row(BilledCost="2.50", EffectiveCost="2.00")])
    assert cli("ingest", "--db", db, good).code == 0
    before = state(db)
    assert before[0] == [
        ("focus:Example:000123456789", "2024-10-01 00:00:00+00", 2, "3.750000000000000", "3.250000000000000", ["USD"])
    ]
    return db, before


# (rows, the message's expected text after "<file>: ") for each refusal, CSV and parquet alike.
CASES = {
    "mixed-currency": (
        [row(), row(), row(BillingCurrency="EUR"), row()],
        "row 3, column BillingCurrency: 'EUR', but the rows before it in source focus:Example:000123456789, "
        "billing period 2024-10-01 are in 'USD' (currencies seen: EUR, USD)",
    ),
    "currency-name": (
        [row(), row(BillingCurrency="US Dollars")],
        "row 2, column BillingCurrency: 'US Dollars' is not an ISO 4217 currency code",
    ),
    "currency-case": ([row(BillingCurrency="usd")], "row 1, column BillingCurrency: 'usd' is not an ISO 4217"),
    "charge-end-before-start": (
        [row(), row(ChargePeriodEnd="2024-10-01T23:00:00Z")],
        "row 2, column ChargePeriodEnd: 2024-10-01T23:00:00+00:00 is before ChargePeriodStart "
        "2024-10-02T00:00:00+00:00",
    ),
    "billing-end-before-start": (
        [row(BillingPeriodEnd="2024-09-01T00:00:00Z")],
        "row 1, column BillingPeriodEnd: 2024-09-01T00:00:00+00:00 is before BillingPeriodStart",
    ),
    "nul-in-focus-column": (
        [row(), row(), row(ServiceName="Comp\x00ute")],
        "row 3, column ServiceName: 'Comp\\x00ute' holds a NUL byte",
    ),
    "nul-in-extra-column": ([row(x_Team="da\x00ta")], "row 1, column x_Team: 'da\\x00ta' holds a NUL byte"),
    "23-digit-amount": (
        # Two such rows made the load summary's SUM overflow (exit 3, "internal error") before this check.
        [row(BilledCost="12345678901234567890123"), row(BilledCost="12345678901234567890123")],
        "row 1, column BilledCost: 12345678901234567890123 is beyond the amounts finops can sum exactly",
    ),
    "amount-at-the-limit": (
        [row(), row(EffectiveCost="-1000000000000000")],
        "row 2, column EffectiveCost: -1000000000000000 is beyond",
    ),
}


@pytest.mark.parametrize("mode", ["csv", "parquet-direct", "parquet-checked"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_refusals_name_file_row_column_and_value(cli, loaded, tmp_path: Path, case: str, mode: str) -> None:
    db, before = loaded
    rows, expected = CASES[case]
    bad = write(tmp_path / f"{case}.{mode.split('-')[0]}", rows)
    flags = ["--no-direct"] if mode == "parquet-checked" else []
    result = cli("ingest", "--db", db, *flags, bad)
    assert result.code == 2, result.err
    assert f"{bad}: {expected}" in " ".join(result.err.split())
    assert "hint:" in result.err and "internal error" not in result.err and "Traceback" not in result.err
    assert state(db) == before


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_direct_path_refuses_by_its_own_guards(db: Path, tmp_path: Path, case: str) -> None:
    """DuckDB itself stops on each bad file (so the checked path then names the row), while the same file without
    the bad row loads directly: the guard, not a shape the direct path cannot plan, sent it back."""
    rows, _ = CASES[case]
    bad = write(tmp_path / f"{case}.parquet", rows)
    good = write(tmp_path / "good.parquet", [row()])
    with open_store(db) as store:

        def fetch(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            return store.fetch_named(sql, params)[1]

        for path, refused in ((bad, True), (good, False)):
            planned = plan_parquet_load([path], None, fetch)
            assert planned is not None
            if refused:
                with pytest.raises(QueryError):
                    store.replace_slices_from_query(
                        COSTS, planned.sql, planned.params, checksum="x", inputs=[str(path)]
                    )
            else:
                result = store.replace_slices_from_query(
                    COSTS, planned.sql, planned.params, checksum="y", inputs=[str(path)]
                )
                assert result.reader == "duckdb" and result.rows == 1


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_one_slice_in_two_currencies_across_files_is_refused_by_the_store(
    cli, loaded, tmp_path: Path, suffix: str
) -> None:
    """Each file is in one currency, so no frame sees two; the store does, before commit."""
    db, before = loaded
    usd = write(tmp_path / f"usd{suffix}", [row(), row()])
    eur = write(tmp_path / f"eur{suffix}", [row(BillingCurrency="EUR")])
    result = cli("ingest", "--db", db, usd, eur)
    assert result.code == 2, result.err
    message = " ".join(result.err.split())
    assert (
        "source focus:Example:000123456789, billing period 2024-10-01: rows in 2 currencies (EUR, USD) from the "
        f"files of this load ({usd}, {eur})" in message
    )
    assert state(db) == before
    # Apart, under a source of its own, the EUR file loads, and every total stays in one currency.
    assert cli("ingest", "--db", db, "--source", "example-eur", eur).code == 0
    slices = state(db)[0]
    assert [(s[0], s[5]) for s in slices] == [("example-eur", ["EUR"]), ("focus:Example:000123456789", ["USD"])]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_what_is_allowed_still_loads(cli, db: Path, tmp_path: Path, suffix: str) -> None:
    """End equal to start (an instant: FOCUS's end is exclusive), an amount just under the limit, ISO codes FOCUS
    files use, and a slice per currency."""
    rows = [
        row(ChargePeriodStart="2024-10-05T00:00:00Z", ChargePeriodEnd="2024-10-05T00:00:00Z"),
        row(BilledCost="999999999999999.999999999999999", EffectiveCost="-999999999999999"),
        row(BillingAccountId="other", BillingCurrency="JPY", BilledCost="120", EffectiveCost="120"),
    ]
    result = cli("ingest", "--db", db, write(tmp_path / f"ok{suffix}", rows))
    assert result.code == 0, result.err
    slices = state(db)[0]
    assert [(s[0], s[2], s[3], s[5]) for s in slices] == [
        ("focus:Example:000123456789", 2, "1000000000000001.249999999999999", ["USD"]),
        ("focus:Example:other", 1, "120.000000000000000", ["JPY"]),
    ]
    assert cli("report", "--db", db, "--period", "2024-10", "--format", "json").code == 0


# -- duplicate columns ---------------------------------------------------------------------------------------------


def _duplicate_focus(path: Path) -> Path:
    frame = pl.DataFrame([row()], schema=dict.fromkeys(HEADER, pl.String)).with_columns(billedcost=pl.lit("9"))
    if path.suffix == ".csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path)
    return path


CUR = BILLING / "focus-converters" / "aws-cur-legacy.csv"


def _cur_with(path: Path, extra: dict[str, str]) -> Path:
    """The real legacy CUR with extra columns, each a copy of an existing one (or a constant)."""
    frame = pl.read_csv(CUR, infer_schema=False)
    frame = frame.with_columns(
        (pl.col(source) if source in frame.columns else pl.lit(source)).alias(name) for name, source in extra.items()
    )
    frame.write_csv(path)
    return path


def _cur2_parquet(path: Path) -> Path:
    """A CUR 2.0 shaped parquet whose cost column appears twice, in two cases."""
    frame = pl.DataFrame(
        {
            "line_item_line_item_type": ["Usage"],
            "line_item_unblended_cost": ["1.0"],
            "LINE_ITEM_UNBLENDED_COST": ["2.0"],
            "line_item_usage_start_date": [datetime(2024, 10, 1)],
        }
    )
    frame.write_parquet(path)
    return path


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("focus.csv", _duplicate_focus, "BilledCost, billedcost"),
        ("focus.parquet", _duplicate_focus, "BilledCost, billedcost"),
        ("cur.csv", lambda p: _cur_with(p, {"lineitem/unblendedcost": "lineItem/UnblendedCost"}),
         "lineItem/UnblendedCost, lineitem/unblendedcost"),
        ("cur2.parquet", _cur2_parquet, "line_item_unblended_cost, LINE_ITEM_UNBLENDED_COST"),
    ],
)  # fmt: skip
def test_duplicate_columns_in_any_case_are_named(cli, loaded, tmp_path: Path, name: str, make, expected: str) -> None:
    db, before = loaded
    bad = make(tmp_path / name)
    for flags in ([], ["--no-direct"]):
        result = cli("ingest", "--db", db, *flags, bad)
        assert result.code == 2, result.err
        assert f"{bad}: duplicate column(s) {expected}" in " ".join(result.err.split())
        assert "internal error" not in result.err
        assert state(db) == before


def test_cur_tag_columns_differing_in_case_still_load(cli, db: Path, tmp_path: Path) -> None:
    """AWS tag keys are case-sensitive, so `user:Team` and `user:team` are two columns of a real export, not a
    duplicate: the file loads, and finops.tags makes them one key as it does everywhere (the first wins)."""
    cur = _cur_with(tmp_path / "cur.csv", {"resourceTags/user:Team": "data", "resourceTags/user:team": "ml"})
    result = cli("ingest", "--db", db, cur)
    assert result.code == 0, result.err
    with duckdb.connect(str(db), read_only=True) as con:
        tags = con.execute("SELECT DISTINCT \"Tags\"['team'] FROM costs").fetchall()
    assert tags == [("data",)]


# -- files that are none of the formats finops reads ----------------------------------------------------------------

# The FOCUS 0.5 Cost and Usage columns: every "Column ID" of FOCUS_Spec at tag v0.5 (commit 928d3a8,
# specification/dimensions and specification/metrics). No public file in this layout was found.
_FOCUS_0_5 = (
    "AvailabilityZone BillingAccountId BillingAccountName BillingCurrency BillingPeriodEnd BillingPeriodStart "
    "ChargePeriodEnd ChargePeriodStart ChargeType InvoiceIssuerName ProviderName PublisherName Region ResourceId "
    "ResourceName ServiceCategory ServiceName SubAccountId SubAccountName AmortizedCost BilledCost"
)
FOCUS_0_5 = _FOCUS_0_5.split()


def _header_file(path: Path, header: list[str]) -> Path:
    path.write_text(",".join(header) + "\n" + ",".join("x" for _ in header) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        # Real: an OCI cost report from focus_converters' tests (506 rows, Nov 2023).
        (lambda tmp: BILLING / "focus-converters" / "oci-cost-report.csv",
         "it looks like an Oracle Cloud (OCI) cost report (lineItem/referenceNo, cost/myCost)"),
        # Real: a GCP BigQuery billing export saved as CSV, from koku's tests (9 rows, Aug 2022).
        (lambda tmp: BILLING / "koku" / "gcp-billing-export.csv",
         "it looks like a Google Cloud billing export from BigQuery"),
        (lambda tmp: _header_file(tmp / "focus-0.5.csv", FOCUS_0_5), "it looks like a FOCUS 0.5 file (AmortizedCost"),
        # A FOCUS 1.3 Contract Commitment file is read now (tests/test_focus_versions.py), no longer refused.
    ],
)  # fmt: skip
def test_files_of_another_kind_are_named_with_what_to_do(cli, db: Path, tmp_path: Path, make, expected: str) -> None:
    path = make(tmp_path)
    result = cli("ingest", "--db", db, path)
    assert result.code == 2, result.err
    message = " ".join(result.err.split())
    assert f"{path}: not a FOCUS file: {expected}" in message
    assert not db.exists()


def test_the_kinds_say_what_to_do(cli, db: Path) -> None:
    oci = " ".join(cli("ingest", "--db", db, BILLING / "focus-converters" / "oci-cost-report.csv").err.split())
    assert "OCI writes FOCUS reports too (Billing & Cost Management > Cost and Usage Reports > FOCUS Reports)" in oci
    gcp = " ".join(cli("ingest", "--db", db, BILLING / "koku" / "gcp-billing-export.csv").err.split())
    assert "configure the gcp-billing-export source and run finops sync" in gcp


def test_a_bigquery_json_export_is_named(cli, db: Path, tmp_path: Path) -> None:
    """BigQuery exports a table as newline-delimited JSON: the first record of koku's CSV export, as JSON."""
    with (BILLING / "koku" / "gcp-billing-export.csv").open(newline="") as handle:
        first = next(csv.DictReader(handle))
    record = {key: value for key, value in first.items() if "." not in key}
    record["invoice"] = {"month": first["invoice.month"]}
    path = tmp_path / "billing.json"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    result = cli("ingest", "--db", db, path)
    assert result.code == 2
    message = " ".join(result.err.split())
    assert f"{path}: unknown file type" in message and "it looks like a Google Cloud billing export" in message


def test_the_real_files_hold_what_the_messages_say() -> None:
    """Read without finops: the OCI report has OCI's columns and cost; the GCP export its `cost` and `credits`."""
    with (BILLING / "focus-converters" / "oci-cost-report.csv").open(newline="", encoding="utf-8") as handle:
        oci = list(csv.DictReader(handle))
    assert len(oci) == 506 and {"lineItem/referenceNo", "cost/myCost", "product/service"} <= set(oci[0])
    assert sum(Decimal(r["cost/myCost"] or "0") for r in oci) > 0
    with (BILLING / "koku" / "gcp-billing-export.csv").open(newline="", encoding="utf-8") as handle:
        gcp = list(csv.DictReader(handle))
    assert len(gcp) == 9 and {"cost", "credits", "invoice.month"} <= set(gcp[0])


def test_an_azure_layout_finops_does_not_read_is_named() -> None:
    """Real: koku's camelCase usage-details file (subscriptionGuid, usageDateTime, preTaxCost). Checked on the
    recogniser itself: finops may learn to read this layout (issue 15), and then the recogniser is never asked."""
    from finops.connectors.billing_checks import describe_unknown
    from finops.connectors.focus_files import read_header

    header = read_header(BILLING / "koku" / "azure-usage-details-camel.csv")
    assert "preTaxCost" in header and "meterCategory" in header
    described = describe_unknown(header)
    assert described is not None and described.startswith("Azure cost details in a layout finops does not read")
    assert describe_unknown(["Date", "Cost"]) is None
