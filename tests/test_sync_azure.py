"""`finops sync` of Azure Cost Management exports from Blob Storage (Azurite, a real emulator process): runs found
through their manifests, the newest run of a period wins, a re-sync is a no-op, a restated run replaces its period,
and every period reconciles to its files to the cent."""

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


def publish(container: Any, path: str, days: str, run: str, kind: str, submitted: str, files: dict[str, bytes]) -> None:
    """One export run as Cost Management writes it: data files, then the manifest that lists them."""
    folder = f"{path}/{days}/{run}"
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
