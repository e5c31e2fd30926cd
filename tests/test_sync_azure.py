"""`finops sync` of Azure Cost Management exports from Blob Storage (Azurite, a real emulator process): runs found
through their manifests, the newest run of a period wins, a re-sync is a no-op, a restated run replaces its period,
and every period reconciles to its files to the cent. An MCA export syncs; an emptied period empties its month; a
bad manifest fails its period alone; a path with no manifest is an error naming where finops looked."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from azurite import azurite
from conftest import BILLING

from finops.money import CENT

FOCUS_AZURE = BILLING / "focus-data-toolkit" / "focus_1_2_cost_and_usage_azure.csv"
EA_ACTUAL = BILLING / "finops-toolkit" / "azure-ea-exports" / "EA_ActualCost_Small.csv"
EA_NO_ROWS = BILLING / "azure-finops-toolkit" / "EA_NoRows.csv"  # an EA export's header, no rows
MCA = BILLING / "azure-opencost" / "values" / "test_azure_billing.csv"  # MCA, Oct 2024: 5 rows, 42.676 USD
MCA_CONFIG = """
[sources.azure-mca]
type = "azure-exports"
container = "costs"
path = "exports/mca-actual"
connection_string_env = "TEST_AZURE_STORAGE"
"""
CONFIG = """
[sources.azure-focus]
type = "azure-exports"
container = "costs"
path = "exports/lumen-focus"
connection_string_env = "TEST_AZURE_STORAGE"

[sources.azure-actual]
type = "azure-exports"
container = "costs"
path = "exports/lumen-actual"
connection_string_env = "TEST_AZURE_STORAGE"
"""


@pytest.fixture
def storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from azure.storage.blob import BlobServiceClient

    with azurite(tmp_path / "azurite") as connection:
        monkeypatch.setenv("TEST_AZURE_STORAGE", connection)
        container = BlobServiceClient.from_connection_string(connection).create_container("costs")
        yield container


def publish(container: Any, path: str, days: str, run: str, kind: str, submitted: str, files: dict[str, bytes],
            manifest_body: bytes | None = None) -> None:  # fmt: skip
    """One export run as Cost Management writes it: data files, then the manifest that lists them."""
    folder = f"{path}/{days}/{run}"
    if manifest_body is not None:  # a run whose manifest is broken
        container.upload_blob(f"{folder}/manifest.json", manifest_body, overwrite=True)
        return
    for name, body in files.items():
        container.upload_blob(f"{folder}/{name}", body, overwrite=True)
    manifest = {"manifestVersion": "2024-04-01",
                "exportConfig": {"exportName": path.rsplit("/", 1)[-1], "type": kind, "dataVersion": "1.2-preview"},
                "deliveryConfig": {"fileFormat": "Csv", "compressionMode": "None"},
                "runInfo": {"runId": run, "submittedTime": submitted, "startDate": days[:8], "endDate": days[9:]},
                "blobs": [{"blobName": f"{folder}/{name}", "byteCount": len(body)}
                          for name, body in files.items()]}  # fmt: skip
    container.upload_blob(f"{folder}/manifest.json", json.dumps(manifest).encode(), overwrite=True)


def _total(path: Path, column: str, rows: int | None = None) -> Decimal:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        values = [Decimal(r[column]) for r in csv.DictReader(handle) if r[column]]
    return sum(values[:rows] if rows else values, Decimal(0))


def _head(path: Path, rows: int) -> bytes:
    lines = path.read_bytes().splitlines(keepends=True)
    return b"".join(lines[: rows + 1])


def _loaded(db: Path, source: str) -> tuple[int, Decimal, Decimal]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute('SELECT count(*), sum("BilledCost"), sum("EffectiveCost") FROM costs WHERE "x_Source" = ?',
                           [source]).fetchone()  # fmt: skip


def test_azure_exports_sync(storage: Any, cli, db: Path, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(CONFIG)
    # A FOCUS export of May 2026 (split in two files), and an ActualCost export of Sep 2023 with two runs: the
    # older run held a part of the month; the newer one holds all of it.
    lines = FOCUS_AZURE.read_bytes().splitlines(keepends=True)
    part1, part2 = b"".join(lines[:251]), lines[0] + b"".join(lines[251:])
    publish(storage, "exports/lumen-focus", "20260501-20260531", "run-a", "FocusCost", "2026-06-02T04:00:00Z",
            {"part_0_0001.csv": part1, "part_0_0002.csv": part2})  # fmt: skip
    publish(storage, "exports/lumen-actual", "20230901-20230930", "run-1", "ActualCost", "2023-09-25T04:00:00Z",
            {"part_0_0001.csv": _head(EA_ACTUAL, 4)})  # fmt: skip
    publish(storage, "exports/lumen-actual", "20230901-20230930", "run-2", "ActualCost", "2023-10-03T04:00:00Z",
            {"part_0_0001.csv": EA_ACTUAL.read_bytes()})  # fmt: skip

    first = cli("--config", config, "sync", "--db", db, "--period", "2026-05", "--period", "2023-09")
    assert first.code == 0, first.err
    rows, billed, effective = _loaded(db, "azure-focus")
    assert rows == 500 and billed.quantize(CENT) == _total(FOCUS_AZURE, "BilledCost").quantize(CENT)
    assert effective.quantize(CENT) == _total(FOCUS_AZURE, "EffectiveCost").quantize(CENT)
    rows, billed, _ = _loaded(db, "azure-actual")
    assert rows == 11 and billed.quantize(CENT) == _total(EA_ACTUAL, "Cost").quantize(CENT)  # the newest run

    again = cli("--config", config, "sync", "--db", db, "--period", "2026-05", "--period", "2023-09")
    assert again.code == 0 and again.err.count("unchanged") >= 2

    # Azure restates September: a third run with the first four rows only. The period is replaced, not added to.
    publish(storage, "exports/lumen-actual", "20230901-20230930", "run-3", "ActualCost", "2023-10-20T04:00:00Z",
            {"part_0_0001.csv": _head(EA_ACTUAL, 4)})  # fmt: skip
    assert cli("--config", config, "sync", "azure-actual", "--db", db, "--period", "2023-09").code == 0
    rows, billed, _ = _loaded(db, "azure-actual")
    assert rows == 4 and billed.quantize(CENT) == _total(EA_ACTUAL, "Cost", rows=4).quantize(CENT)

    doctor = cli("--config", config, "doctor", "azure-actual", "--db", db)
    assert "azure-actual" in doctor.out + doctor.err


def test_a_missing_connection_string_is_named(cli, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_AZURE_STORAGE", raising=False)
    config = tmp_path / "finops.toml"
    config.write_text(CONFIG)
    result = cli("--config", config, "sync", "azure-focus", "--db", db)
    assert result.code == 3 and "$TEST_AZURE_STORAGE is not set" in result.err


def _periods(db: Path, source: str) -> dict[str, tuple[int, Decimal]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("""SELECT "BillingPeriodStart"::DATE::VARCHAR, count(*), sum("BilledCost") FROM costs
                              WHERE "x_Source" = ? GROUP BY 1""", [source]).fetchall()  # fmt: skip
    return {period: (count, total) for period, count, total in rows}


def test_an_mca_export_syncs(storage: Any, cli, db: Path, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(MCA_CONFIG)
    publish(storage, "exports/mca-actual", "20241001-20241031", "run-1", "ActualCost", "2024-11-02T04:00:00Z",
            {"part_0_0001.csv": MCA.read_bytes()})  # fmt: skip
    result = cli("--config", config, "sync", "--db", db, "--period", "2024-10")
    assert result.code == 0, result.err
    # 42.676: the file's costInBillingCurrency summed with Python's csv and Decimal (5 rows, 10/15 and 10/16/2024).
    assert _periods(db, "azure-mca") == {"2024-10-01": (5, Decimal("42.676"))}
    with duckdb.connect(str(db), read_only=True) as con:
        accounts = con.execute('SELECT DISTINCT "BillingAccountId" FROM costs').fetchall()
    assert accounts == [("test-profile-001",)]  # the MCA billing profile, as in Azure's own FOCUS export


def test_emptied_and_failing_periods_each_on_their_own(storage: Any, cli, db: Path, tmp_path: Path) -> None:
    """Three months of one export (the real files stand in for its months): September 2023 and October 2024 load,
    then September's new run lists no files, October's new run is a header without rows, and November's manifest
    is not JSON. September and October are emptied; November fails alone, and says so."""
    config = tmp_path / "finops.toml"
    config.write_text(MCA_CONFIG)
    path = "exports/mca-actual"
    publish(storage, path, "20230901-20230930", "run-1", "ActualCost", "2023-10-02T04:00:00Z",
            {"part_0_0001.csv": EA_ACTUAL.read_bytes()})  # fmt: skip
    publish(storage, path, "20241001-20241031", "run-1", "ActualCost", "2024-11-02T04:00:00Z",
            {"part_0_0001.csv": MCA.read_bytes()})  # fmt: skip
    periods = ("--period", "2023-09", "--period", "2024-10", "--period", "2024-11")
    assert cli("--config", config, "sync", "--db", db, *periods).code == 0
    assert _periods(db, "azure-mca") == {"2023-09-01": (11, Decimal("8.545007786741937")),  # 15 places kept
                                         "2024-10-01": (5, Decimal("42.676"))}  # fmt: skip

    publish(storage, path, "20230901-20230930", "run-2", "ActualCost", "2023-10-20T04:00:00Z", {})
    publish(storage, path, "20241001-20241031", "run-2", "ActualCost", "2024-11-20T04:00:00Z",
            {"part_0_0001.csv": EA_NO_ROWS.read_bytes()})  # fmt: skip
    publish(storage, path, "20241101-20241130", "run-1", "ActualCost", "2024-12-02T04:00:00Z", {},
            manifest_body=b'{"manifestVersion": "2024-04-01", "blobs": [')  # fmt: skip
    result = cli("--config", config, "sync", "--db", db, *periods)
    assert result.code != 0
    assert "1 of 3 period(s) failed" in result.err and "azure-mca 2024-11" in result.err
    assert "20241101-20241130/run-1/manifest.json: not a manifest (not JSON)" in result.err
    assert _periods(db, "azure-mca") == {}  # both months emptied, not left holding their old rows
    assert (result.out + result.err).count(" emptied ") == 2


def test_an_export_that_is_not_costs_fails_its_period_naming_it(storage: Any, cli, db: Path, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(MCA_CONFIG)
    publish(storage, "exports/mca-actual", "20241001-20241031", "run-1", "PriceSheet", "2024-11-02T04:00:00Z",
            {"part_0_0001.csv": b"meterId,unitPrice\n"})  # fmt: skip
    result = cli("--config", config, "sync", "--db", db, "--period", "2024-10")
    assert result.code != 0 and "a price sheet, not cost details" in result.err
    assert "export FocusCost (best), ActualCost or AmortizedCost" in result.err


def test_an_export_with_no_manifest_names_what_was_looked_for(storage: Any, cli, db: Path, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(MCA_CONFIG)
    result = cli("--config", config, "sync", "--db", db)
    assert result.code == 3
    assert "no Cost Management export run found: nothing under container 'costs', exports/mca-actual/" in result.err
    # An export from before 2024 wrote its files with no manifest: what was found is said, and what to do.
    storage.upload_blob("exports/mca-actual/20241001-20241031/mca-actual_abc.csv", MCA.read_bytes())
    result = cli("--config", config, "sync", "--db", db)
    assert result.code == 3 and "no manifest.json under container 'costs'" in result.err
    assert "1 other file(s) there, e.g. exports/mca-actual/20241001-20241031/mca-actual_abc.csv" in result.err
    assert "exports created before 2024 write no manifest" in result.err
    doctor = cli("--config", config, "doctor", "azure-mca", "--db", db)
    assert "no manifest.json" in doctor.out + doctor.err
