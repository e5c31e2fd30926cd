"""Azure cost details (EA actual and amortized exports, the older usage-details CSV) through `finops ingest`:
each reconciles to its own file to the cent, with Azure's quirks read right."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import duckdb
from conftest import BILLING

from finops.money import CENT

EA = BILLING / "finops-toolkit" / "azure-ea-exports"


def _file_total(path: Path, column: str) -> Decimal:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return sum((Decimal(row[column]) for row in csv.DictReader(handle) if row[column]), Decimal(0))


def _reconciles(stored: Decimal, source: Decimal) -> bool:
    """To the cent, as the standard asks; and closer still: the store keeps 15 decimal places, Azure writes up to
    28 (0.0000000072922557592391990000), so only digits past the 15th may differ."""
    return stored.quantize(CENT) == source.quantize(CENT) and abs(stored - source) < Decimal("1e-13")


def _sums(db: Path) -> tuple[Decimal, Decimal, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute('SELECT sum("BilledCost"), sum("EffectiveCost"), count(*) FROM costs').fetchone()


def test_actual_cost_is_the_invoice(cli, db: Path) -> None:
    path = EA / "EA_ActualCost_Small.csv"
    assert cli("ingest", path, "--db", db).code == 0
    billed, effective, rows = _sums(db)
    assert rows == 11
    assert _reconciles(billed, _file_total(path, "Cost"))
    assert _file_total(path, "Cost") == Decimal("8.5450077867419368")
    assert effective == billed  # actual data cannot amortise: it says so by being equal
    with duckdb.connect(str(db), read_only=True) as con:
        purchase = con.execute("""SELECT "ChargeCategory", "ChargeFrequency", "PricingCategory",
                                         "CommitmentDiscountType", "BillingPeriodEnd"::DATE
                                  FROM costs WHERE "BilledCost" = 3.25""").fetchone()  # fmt: skip
    assert purchase[:4] == ("Purchase", "Recurring", "Committed", "Reservation")
    assert str(purchase[4]) == "2023-10-01"  # Azure's inclusive 09/30/2023, as an exclusive end


def test_amortized_cost_spreads_commitments(cli, db: Path) -> None:
    path = EA / "EA_AmortizedCost_Small.csv"
    assert cli("ingest", path, "--db", db).code == 0
    billed, effective, rows = _sums(db)
    assert rows == 28 and _reconciles(effective, _file_total(path, "Cost"))
    with duckdb.connect(str(db), read_only=True) as con:
        covered = con.execute(
            """SELECT "CommitmentDiscountStatus", "BilledCost", "EffectiveCost", "x_InstanceType", "ConsumedQuantity",
                      "ConsumedUnit", "SubAccountName", "Tags"['env']
               FROM costs WHERE "PricingCategory" = 'Committed' ORDER BY "EffectiveCost" DESC"""
        ).fetchall()
    reservation = covered[0]
    assert reservation[:3] == ("Used", Decimal(0), Decimal("0.493152"))  # paid by the purchase, not billed itself
    assert reservation[3] == "Standard_DS2_v2" and reservation[4] == 8 and reservation[5] == "Hour"
    assert reservation[6] == "Trey Research Corporate" and reservation[7] == "prod"  # brace-less tags read
    assert billed == effective - sum(c[2] for c in covered)


def test_the_older_usage_details_csv(cli, db: Path) -> None:
    path = BILLING / "focus-converters" / "azure-ea.csv"
    result = cli("ingest", path, "--db", db)
    assert result.code == 0, result.err
    billed, _, rows = _sums(db)
    assert rows == 27 and _reconciles(billed, _file_total(path, "CostInBillingCurrency"))
    with duckdb.connect(str(db), read_only=True) as con:
        first = con.execute(
            """SELECT "ChargePeriodStart"::DATE, "BillingCurrency", "Tags"['tag_a'], "ProviderName", "ConsumedUnit"
               FROM costs ORDER BY "ChargePeriodStart" LIMIT 1"""
        ).fetchone()
    assert (str(first[0]), first[1], first[2], first[3]) == ("2023-09-02", "CAD", "valueA", "Microsoft")


def test_actual_and_amortized_replace_each_other_and_never_double_count(cli, db: Path) -> None:
    assert cli("ingest", EA / "EA_ActualCost_Small.csv", "--db", db).code == 0
    assert cli("ingest", EA / "EA_AmortizedCost_Small.csv", "--db", db).code == 0
    _, effective, rows = _sums(db)
    assert rows == 28 and _reconciles(effective, _file_total(EA / "EA_AmortizedCost_Small.csv", "Cost"))
