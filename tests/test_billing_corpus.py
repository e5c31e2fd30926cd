"""Every billing file in tests/data/billing/ (none written for finops) loads to exactly what it says, per billing
period, provider and currency, or is refused naming what is wrong. The expected figures come from expected_totals.py,
which reads the files with plain csv and Decimal, never through finops."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import BILLING

EXPECTED = json.loads((BILLING / "expected_totals.json").read_text())
CENT = Decimal("0.01")


def stored(db: Path) -> dict[tuple[str, str, str], tuple[Decimal, Decimal]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            """SELECT strftime("BillingPeriodStart", '%Y-%m-%d'), coalesce("ProviderName", ''),
                      coalesce("BillingCurrency", ''), sum("BilledCost"), sum("EffectiveCost")
               FROM costs GROUP BY ALL"""
        ).fetchall()
    return {(p, prov, cur): (billed, effective) for p, prov, cur, billed, effective in rows}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_reconciles_to_its_own_totals(name: str, cli, tmp_path: Path) -> None:
    expected = EXPECTED[name]
    db = tmp_path / "store.duckdb"
    result = cli("ingest", BILLING / name, "--db", db)
    if "refused" in expected:
        assert result.code == 2 and expected["refused"] in result.err and name.split("/")[-1] in result.err
        assert not db.exists()
        return
    assert result.code == 0, result.err
    if expected["kind"] == "focus-contract-commitment":
        with duckdb.connect(str(db), read_only=True) as con:
            rows = con.execute(
                'SELECT "BillingCurrency", count(*), sum("ContractCommitmentCost") FROM contract_commitments GROUP BY 1'
            ).fetchall()
        assert sum(n for _, n, _ in rows) == expected["rows"]
        assert {cur: cost for cur, _, cost in rows} == {
            t["currency"]: Decimal(t["commitment_cost"]) for t in expected["totals"]
        }
        return
    got = stored(db)
    want = {(t["billing_period"], t["provider"], t["currency"]): t for t in expected["totals"]}
    assert set(got) == set(want), name
    for key, totals in want.items():
        billed, effective = got[key]
        for column, value in (("billed", billed), ("effective", effective)):
            if column in totals:
                source = Decimal(totals[column])
                assert value.quantize(CENT) == source.quantize(CENT), (name, key, column)
                assert abs(value - source) < Decimal("1e-9"), (name, key, column)  # exact as far as the file goes
