"""`finops export focus`: FOCUS 1.2 files per billing period that reconcile to the store, checked by the FinOps
Foundation's own validator (focus-validator 2.2.1, in its own Python 3.12 environment that `.ci/run` builds in
build/focus-validator; set FINOPS_REQUIRE_VALIDATOR=1 to fail rather than skip without it).

The validator's remaining failures on these exports are its own false positives, each explained in KNOWN."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree as ET

import duckdb
import pytest
from conftest import BILLING

ROOT = Path(__file__).parents[1]
VALIDATOR = ROOT / "build" / "focus-validator"
KNOWN = {
    "InvoiceId-C-004-C": "'MUST be null when the charge is not associated with an invoice' is checked with no "
    "condition: every invoiced row fails it (its twin C-005 fails every row of an open month); both cannot pass",
    "InvoiceId-C-005-C": "'MUST NOT be null when associated with an invoice' is checked with no condition: every row of"
    " a month not yet invoiced fails it",
    "BilledCost-C-005-C": "marketplace charges are detected as ProviderName != InvoiceIssuerName by literal name, but "
    "providers name themselves differently in the two columns (AWS vs 'Amazon Web Services, Inc.' in AWS's own "
    "exports): every direct charge is flagged",
    "BilledCost-C-000-M": "the composite of BilledCost-C-005-C",
    "EffectiveCost-C-005-C": "'EffectiveCost MUST be 0 for a Purchase that covers future charges' is checked on every "
    "Purchase: support plans and other fees are Purchases that cover nothing and keep their cost",
}


# The FinOps Foundation's anonymised FOCUS 1.0 sample, exported as 1.2, keeps what its source says (finops invents
# no values): these failures are the source's, checked in the file itself.
FOCUS_1_0_SAMPLE = {
    "ServiceSubcategory-C-002-M": "ServiceSubcategory is new in FOCUS 1.1: a 1.0 file has none to carry over",
    "ServiceSubcategory-C-000-O": "the composite of ServiceSubcategory-C-002-M",
    "ServiceName-C-008-C": "follows from ServiceSubcategory being empty",
    "ServiceName-C-005-C": "one ServiceName has two ServiceCategory values in the source rows",
    "ServiceName-C-004-C": "the composite of ServiceName-C-005-C",
    "ServiceName-C-007-C": "the composite of ServiceName-C-008-C",
    "ServiceName-C-000-M": "the composite of the ServiceName rules above",
    "ContractedCost-C-003-M": "7 source rows have ContractedCost NULL",
    "ContractedCost-C-004-M": "7 source rows have ContractedCost NULL",
    "ContractedCost-C-000-M": "the composite of the two above",
    "PricingUnit-C-003-O": "the source writes units such as 'GB Hours', 'Gigabyte Per Hour' and 'GB/Month' (a SHOULD)",
    "PricingUnit-C-000-M": "the composite of PricingUnit-C-003-O",
}


def _export(cli, db: Path, out: Path, *args: str) -> list[Path]:
    result = cli("export", "focus", "--db", db, "--output", out, *args)
    assert result.code == 0, result.err
    return sorted(out.rglob("part-*.*"))


def test_export_partitions_and_reconciles(cli, demo_db: Path, tmp_path: Path) -> None:
    files = _export(cli, demo_db, tmp_path / "out")
    assert [f.parent.name for f in files] == [f"billing_period=2026-{m}" for m in ("08", "09", "10", "11")]
    with duckdb.connect() as con:
        exported = con.execute(
            "SELECT billing_period, count(*), sum(BilledCost), sum(EffectiveCost) FROM read_parquet(?, "
            "hive_partitioning = true) GROUP BY 1 ORDER BY 1", [str(tmp_path / "out" / "*" / "*.parquet")]
        ).fetchall()  # fmt: skip
        row = con.execute(
            "SELECT Tags, ChargePeriodStart, x_Source, x_InstanceType FROM read_parquet(?) "
            "WHERE Tags IS NOT NULL AND x_InstanceType IS NOT NULL LIMIT 1",
            [str(files[-1])],
        ).fetchone()
    with duckdb.connect(str(demo_db), read_only=True) as con:
        stored = con.execute("""SELECT strftime("BillingPeriodStart", '%Y-%m'), count(*), sum("BilledCost"),
                                       sum("EffectiveCost") FROM costs GROUP BY 1 ORDER BY 1""").fetchall()  # fmt: skip
    assert exported == stored  # every row, every digit
    assert isinstance(json.loads(row[0]), dict) and row[1].endswith("Z") and row[2].startswith("demo:")
    again = cli("export", "focus", "--db", demo_db, "--output", tmp_path / "out")
    assert again.code == 2 and "not empty" in again.err  # nothing is overwritten


def test_csv_export(cli, demo_db: Path, tmp_path: Path) -> None:
    files = _export(cli, demo_db, tmp_path / "csv", "--format", "csv")
    header = files[0].read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "BilledCost" in header and "x_Extras" in header and "x_LoadId" not in header
    total = Decimal(0)
    for file in files:
        with duckdb.connect() as con:
            total += con.execute("SELECT sum(CAST(BilledCost AS DECIMAL(38, 15))) FROM read_csv(?, all_varchar = true)",
                                 [str(file)]).fetchone()[0]  # fmt: skip
    assert total.quantize(Decimal("0.01")) == Decimal("1089575.77")  # sample_data/README.md, all billed


def _validate(file: Path, report: Path, version: str = "1.2") -> set[str]:
    python = VALIDATOR / "bin" / "focus-validator"
    if not python.exists():
        if os.environ.get("FINOPS_REQUIRE_VALIDATOR") == "1":
            pytest.fail("focus-validator is required here (.ci/run builds it in build/focus-validator)")
        pytest.skip("no focus-validator environment (see .ci/run)")
    # It reads its rule files relative to the working directory: run it from its own package folder.
    packages = next(VALIDATOR.glob("lib/python3*/site-packages"))
    if not list((packages / "focus_validator" / "rules").glob(f"model-{version}*.json")):
        # 2.2.1 ships the 1.2 rules only and downloads the others from GitHub, which a test must not reach.
        pytest.skip(f"focus-validator has no FOCUS {version} rules on this machine")
    subprocess.run([str(python), "--data-file", str(file), "--validate-version", version, "--block-download",
                    "--output-type", "unittest", "--output-destination", str(report)],
                   cwd=packages, check=True, capture_output=True, timeout=600)  # fmt: skip
    cases = ET.parse(report).getroot().iter("testcase")  # it exits 0 even on failures: the JUnit file is the verdict
    return {
        c.get("name", "").split(" ::")[0] for c in cases if c.find("failure") is not None or c.find("error") is not None
    }


def test_the_demo_export_passes_the_official_validator(cli, demo_db: Path, tmp_path: Path) -> None:
    failures: dict[str, set[str]] = {}
    for file in _export(cli, demo_db, tmp_path / "out"):
        failures[file.parent.name] = _validate(file, tmp_path / f"{file.parent.name}.xml")
    unexplained = {period: rules - KNOWN.keys() for period, rules in failures.items() if rules - KNOWN.keys()}
    assert unexplained == {}


def test_the_shared_samples_export_passes_the_official_validator(cli, db: Path, tmp_path: Path) -> None:
    toolkit = BILLING / "focus-data-toolkit"
    for name in ("focus_1_2_cost_and_usage_aws.csv", "focus_1_2_cost_and_usage_azure.csv",
                 "focus_1_2_cost_and_usage_gcp.csv"):  # fmt: skip
        assert cli("ingest", toolkit / name, "--db", db).code == 0  # FOCUS 1.2, May 2026
    assert cli("ingest", BILLING / "focus-sample-data" / "FOCUS-1.0" / "focus_sample.csv", "--db", db).code == 0
    failures = {
        f.parent.name: _validate(f, tmp_path / f"{f.parent.name}.xml") for f in _export(cli, db, tmp_path / "o")
    }
    assert failures["billing_period=2026-05"] - KNOWN.keys() == set()  # the 1.2 files: only the validator's own
    for period in ("billing_period=2024-09", "billing_period=2024-10"):  # the 1.0 sample
        assert failures[period] - KNOWN.keys() - FOCUS_1_0_SAMPLE.keys() == set(), period


V13 = BILLING / "focus-1.3"


def _store_with_1_2_and_1_3_rows(cli, db: Path) -> None:
    assert cli("ingest", "--db", db, V13).code == 0  # FOCUS 1.3, both datasets
    assert cli("ingest", "--db", db, BILLING / "focus-sample-data" / "FOCUS-1.0" / "focus_sample.csv").code == 0


def test_export_as_1_3_writes_its_columns(cli, db: Path, tmp_path: Path) -> None:
    from finops.schema import COST_EXTRAS, FOCUS_1_3_COLUMNS, FOCUS_COLUMNS

    _store_with_1_2_and_1_3_rows(cli, db)
    files = _export(cli, db, tmp_path / "v13", "--format", "csv", "--version", "1.3")
    plain = _export(cli, db, tmp_path / "v12", "--format", "csv")  # 1.2 stays the default
    header = files[0].read_text(encoding="utf-8").splitlines()[0].split(",")
    extras = [name for name, _ in COST_EXTRAS if name != "x_LoadId"]
    assert header == [name for name, _ in FOCUS_COLUMNS + FOCUS_1_3_COLUMNS] + extras
    assert plain[0].read_text(encoding="utf-8").splitlines()[0].split(",") == [n for n, _ in FOCUS_COLUMNS] + extras
    with duckdb.connect() as con:
        exported = con.execute(
            """SELECT "x_FocusVersion", count(*), sum(CAST("BilledCost" AS DECIMAL(38, 15))),
                      count("ServiceProviderName"), count(*) FILTER ("ServiceProviderName" = "ProviderName"),
                      count(DISTINCT "HostProviderName"), count("ContractApplied")
               FROM read_csv(?, all_varchar = true) GROUP BY 1 ORDER BY 1""",
            [[str(f) for f in files]],
        ).fetchall()
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute('''SELECT "x_FocusVersion", count(*), sum("BilledCost") FROM costs GROUP BY 1
                                ORDER BY 1''').fetchall()  # fmt: skip
        applied = con.execute('SELECT count("ContractApplied") FROM costs').fetchone()[0]
    assert [row[:3] for row in exported] == stored  # every row, every digit
    (old, n_old, _, spn_old, same_old, hosts_old, _), (new, n_new, _, spn_new, _, hosts_new, applied_new) = exported
    assert (old, new) == ("1.0", "1.3")
    # A 1.0 row's ServiceProviderName is its ProviderName (the spec's replacement); its host is not known.
    assert spn_old == same_old == n_old and hosts_old == 0
    assert spn_new == n_new and hosts_new == 3 and applied_new == applied > 0


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_exports_of_1_3_data_pass_the_official_validator(cli, db: Path, tmp_path: Path, version: str) -> None:
    _store_with_1_2_and_1_3_rows(cli, db)
    files = _export(cli, db, tmp_path / "out", "--version", version)
    failures = {f.parent.name: _validate(f, tmp_path / f"{f.parent.name}.xml", version) for f in files}
    assert failures["billing_period=2026-05"] - KNOWN.keys() == set()  # the 1.3 samples' month
    for period in ("billing_period=2024-09", "billing_period=2024-10"):  # the 1.0 sample
        assert failures[period] - KNOWN.keys() - FOCUS_1_0_SAMPLE.keys() == set(), period
