"""FOCUS 1.3 and 1.4 as published samples write them (tests/data/billing/focus-1.3, focus-1.4: focus-data-toolkit's
files, see their README): every column kept with its meaning, both datasets of a folder loaded in one transaction,
totals per billing period and provider equal to an independent reader (Python's csv + Decimal + json), the contract
commitments' used and unused amounts computed the same way, and a version-5 store migrated with its rows."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import BILLING

from finops.commitments import read_commitments
from finops.store import open_store

V13 = BILLING / "focus-1.3"
V14 = BILLING / "focus-1.4"
COSTS_13 = sorted(V13.glob("focus_1_3_cost_and_usage_*.csv"))
COMMITMENTS_13 = sorted(V13.glob("focus_1_3_contract_commitment_*.csv"))
COSTS_14 = sorted(V14.glob("*/synthetic_focus_1_4_cost_and_usage.csv"))
COMMITMENTS_14 = sorted(V14.glob("*/synthetic_focus_1_4_contract_commitment.csv"))
MAY = datetime(2026, 5, 1, tzinfo=UTC)
JUNE = datetime(2026, 6, 1, tzinfo=UTC)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def independent_totals(files: list[Path]) -> dict[tuple[str, str], tuple[Decimal, Decimal, int]]:
    """(billing period start, ServiceProviderName) -> (billed, effective, rows), with nothing finops uses."""
    totals: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    for path in files:
        for row in read_rows(path):
            key = (row["BillingPeriodStart"][:10], row["ServiceProviderName"])
            totals[key][0] += Decimal(row["BilledCost"])
            totals[key][1] += Decimal(row["EffectiveCost"])
            totals[key][2] += 1
    return {k: (v[0], v[1], int(v[2])) for k, v in totals.items()}


def store_totals(db: Path) -> dict[tuple[str, str], tuple[Decimal, Decimal, int]]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute("""SELECT strftime("BillingPeriodStart", '%Y-%m-%d'), "ServiceProviderName",
                                     sum("BilledCost"), sum("EffectiveCost"), count(*) FROM costs GROUP BY ALL""")
        return {(p, provider): (b, e, n) for p, provider, b, e, n in rows.fetchall()}


def test_a_1_3_folder_loads_both_datasets_and_reconciles(cli, db: Path) -> None:
    result = cli("ingest", "--db", db, V13)
    assert result.code == 0, result.err
    assert "contract commitments of" in result.err
    expected = independent_totals(COSTS_13)
    # Three providers, one billing period (May 2026): figures from the files by csv + Decimal above.
    assert sorted(expected) == [
        ("2026-05-01", "AWS"),
        ("2026-05-01", "Google Cloud"),
        ("2026-05-01", "Microsoft Azure"),
    ]
    assert store_totals(db) == expected  # exact: every digit, every row
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("""SELECT count(*), sum("ContractCommitmentCost"), count(DISTINCT "ContractId"),
                                       any_value("x_FocusVersion") FROM contract_commitments""").fetchone()
        loads = con.execute("SELECT DISTINCT load_id, table_name FROM loads ORDER BY 2").fetchall()
    rows = [row for path in COMMITMENTS_13 for row in read_rows(path)]
    assert stored == (len(rows), sum(Decimal(r["ContractCommitmentCost"]) for r in rows),
                      len({r["ContractId"] for r in rows}), "1.3")  # fmt: skip
    assert len({load_id for load_id, _ in loads}) == 1 and [t for _, t in loads] == ["contract_commitments", "costs"]


def test_every_1_3_column_keeps_its_values_and_meaning(cli, db: Path) -> None:
    """Each of the 65 columns: as many values in the store as in the file, and the provider columns apart."""
    azure = V13 / "focus_1_3_cost_and_usage_azure.csv"
    assert cli("ingest", "--db", db, azure).code == 0
    rows = read_rows(azure)
    assert len(rows[0]) == 65
    with duckdb.connect(str(db), read_only=True) as con:
        for column in rows[0]:
            stored = con.execute(f'SELECT count("{column}") FROM costs').fetchone()[0]
            assert stored == sum(1 for r in rows if r[column] != ""), column
        providers = con.execute("""SELECT DISTINCT "ProviderName", "PublisherName", "ServiceProviderName",
                                          "HostProviderName", "x_FocusVersion" FROM costs""").fetchall()  # fmt: skip
        extras = con.execute('SELECT count("x_Extras") FROM costs').fetchone()[0]
        applied = con.execute("""SELECT "ContractApplied" FROM costs WHERE "ContractApplied" IS NOT NULL
                                 ORDER BY "ChargePeriodStart", "ContractApplied" LIMIT 1""").fetchone()[0]  # fmt: skip
    # "Microsoft" published it, "Microsoft Azure" provides and hosts it: four columns, two different values.
    assert providers == [("Microsoft Azure", "Microsoft", "Microsoft Azure", "Microsoft Azure", "1.3")]
    assert extras == 0  # every column is a FOCUS column now: nothing left over for x_Extras
    first = sorted(
        (r for r in rows if r["ContractApplied"]), key=lambda r: (r["ChargePeriodStart"], r["ContractApplied"])
    )
    assert json.loads(applied, parse_float=Decimal) == json.loads(first[0]["ContractApplied"], parse_float=Decimal)


def test_1_4_bundles_load_cost_and_commitments_and_name_the_rest(cli, db: Path) -> None:
    result = cli("ingest", "--db", db, V14)
    assert result.code == 0, result.err
    assert "Billing Period file" in result.err and "Invoice Detail file" in result.err  # named, left out
    expected = independent_totals(COSTS_14)
    assert sorted(expected) == [("2026-05-01", "AWS"), ("2026-05-01", "Microsoft Azure")]
    assert store_totals(db) == expected
    with duckdb.connect(str(db), read_only=True) as con:
        names = con.execute("""SELECT DISTINCT "ProviderName" = "ServiceProviderName", "PublisherName" IS NULL,
                                      "x_FocusVersion" FROM costs""").fetchall()  # fmt: skip
        invoice_details = con.execute('SELECT count("InvoiceDetailId") FROM costs').fetchone()[0]
        commitments = con.execute("""SELECT count(*), count("ContractCommitmentLifecycleStatus"),
                                            count(DISTINCT "x_Source") FROM contract_commitments""").fetchone()
    # 1.4 has no ProviderName: it is ServiceProviderName's (the spec's replacement); no PublisherName is invented.
    assert names == [(True, True, "1.4")]
    assert invoice_details == sum(1 for path in COSTS_14 for r in read_rows(path) if r["InvoiceDetailId"])
    rows = [row for path in COMMITMENTS_14 for row in read_rows(path)]
    assert commitments == (len(rows), len(rows), 2)  # one source per ServiceProviderName


def test_a_folder_of_datasets_finops_does_not_store_is_refused(cli, db: Path) -> None:
    result = cli("ingest", "--db", db, *sorted((V14 / "aws").glob("*_billing_period.csv")))
    assert result.code == 2
    assert "no Cost and Usage or Contract Commitment data" in result.err and "Billing Period" in result.err


def independent_use(costs: Path, commitment_id: str, key: str) -> tuple[Decimal, Decimal]:
    """(used, unused) of one commitment: the `key` amounts (ContractCommitmentAppliedCost or ...Quantity) that its
    Usage rows' ContractApplied give it, split by CommitmentDiscountStatus."""
    used, unused = Decimal(0), Decimal(0)
    for row in read_rows(costs):
        if row["ChargeCategory"] != "Usage" or not row["ContractApplied"]:
            continue
        for element in json.loads(row["ContractApplied"], parse_float=Decimal)["Elements"]:
            if element["ContractCommitmentId"] == commitment_id and key in element:
                if row["CommitmentDiscountStatus"] == "Unused":
                    unused += element[key]
                else:
                    used += element[key]
    return used, unused


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_commitment_use_matches_the_cost_rows(cli, db: Path, provider: str) -> None:
    costs = V13 / f"focus_1_3_cost_and_usage_{provider}.csv"
    assert cli("ingest", "--db", db, costs, V13 / f"focus_1_3_contract_commitment_{provider}.csv").code == 0
    with open_store(db, read_only=True) as store:
        commitments = {c.commitment_id: c for c in read_commitments(store, MAY, JUNE)}
    spend = [c for c in commitments.values() if c.applied_as == "cost"]
    assert spend and any(c.unused for c in spend)  # the samples have unused commitment-discount hours
    for commitment in spend:
        expected = independent_use(costs, commitment.commitment_id, "ContractCommitmentAppliedCost")
        assert (commitment.used, commitment.unused) == expected
    # A usage commitment counts applied quantities (its unit, hours here), not money.
    usage = [c for c in commitments.values() if c.applied_as == "quantity"]
    assert usage
    for commitment in usage:
        expected = independent_use(costs, commitment.commitment_id, "ContractCommitmentAppliedQuantity")
        assert (commitment.used, commitment.unused) == expected and commitment.unit == "Hours"


def test_the_report_shows_commitments_only_when_there_are_some(cli, db: Path) -> None:
    assert cli("ingest", "--db", db, COSTS_13[0]).code == 0
    without = cli("report", "--db", db, "--period", "2026-05", "--format", "json")
    assert "commitments" not in json.loads(without.out)
    assert cli("ingest", "--db", db, COMMITMENTS_13[0]).code == 0
    shown = cli("report", "--db", db, "--period", "2026-05", "--format", "json")
    commitments = json.loads(shown.out)["commitments"]
    assert len(commitments) == len(read_rows(COMMITMENTS_13[0]))
    table = cli("report", "--db", db, "--period", "2026-05")
    assert "Contract commitments" in table.out and "CC-MINSPEND-AWS" in table.out


def test_a_version_5_store_migrates_keeping_its_rows(cli, db: Path) -> None:
    from finops.migrations import MIGRATIONS, SCHEMA_VERSION

    assert SCHEMA_VERSION >= 6
    with duckdb.connect(str(db)) as con:  # a store as finops wrote it at schema version 5
        for version in range(1, 6):
            for statement in MIGRATIONS[version]:
                con.execute(statement)
        con.execute("INSERT INTO finops_meta VALUES ('schema_version', '5')")
        con.execute("""INSERT INTO costs ("BilledCost", "EffectiveCost", "ProviderName", "x_Source")
                       VALUES (1.25, 1.5, 'AWS', 'old')""")
    with open_store(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
        kept = store.fetch('SELECT "BilledCost", "ProviderName", "ServiceProviderName", "x_Source" FROM costs')
        assert kept == [(Decimal("1.25"), "AWS", None, "old")]
        assert store.fetch("SELECT count(*) FROM contract_commitments") == [(0,)]
    assert cli("ingest", "--db", db, V13).code == 0  # and the migrated store takes 1.3 files
