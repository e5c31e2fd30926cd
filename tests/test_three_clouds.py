"""Issue 8's finish line: a configured GCP billing export (a local BigQuery peer) and an Azure Cost Management
export (Azurite) both sync, reconcile to their sources to the cent, and show up beside AWS in one report by team,
each cloud's GPU instances priced from its own bill."""

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
from bigquery_peer import BigQueryPeer
from test_sync_azure import publish
from test_sync_gcp import TABLE, _export, _totals, bigquery  # noqa: F401 - bigquery is a fixture

from finops.money import CENT

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "sample_data"


@pytest.fixture
def blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from azure.storage.blob import BlobServiceClient

    with azurite(tmp_path / "azurite") as connection:
        monkeypatch.setenv("TEST_AZURE_STORAGE", connection)
        yield BlobServiceClient.from_connection_string(connection).create_container("costs")


def _policy_for_this_store() -> str:
    """The demo's policy, less three names only the demo's fuller GCP bill holds (a GCP cost centre, serving
    account and Kubernetes service): a policy naming what the store does not hold is refused (finops.scopes)."""
    policy = (SAMPLE / "finops.toml").read_text()
    for absent in ('cc-inference = "inference"\n', 'lumen-serving = "inference"\n', '"Kubernetes Engine", '):
        assert absent in policy
        policy = policy.replace(absent, "")
    return policy


def test_three_clouds_in_one_report_by_team(bigquery: str, blob: Any, cli, db: Path, tmp_path: Path) -> None:  # noqa: F811
    azure_file = SAMPLE / "costs_azure.csv"  # Azure's FOCUS export of November, as Cost Management writes it
    publish(blob, "exports/lumen", "20261101-20261130", "run-1", "FocusCost", "2026-11-21T04:00:00Z",
            {"part_0_0001.csv": azure_file.read_bytes()})  # fmt: skip
    config = tmp_path / "finops.toml"
    config.write_text(
        f'''
[sources.gcp]
type = "gcp-billing-export"
table = "{TABLE}"
endpoint = "{bigquery}"

[sources.azure]
type = "azure-exports"
container = "costs"
path = "exports/lumen"
connection_string_env = "TEST_AZURE_STORAGE"
'''
        + _policy_for_this_store()
    )
    assert cli("ingest", SAMPLE / "costs_aws.parquet", "--db", db).code == 0  # AWS, from its FOCUS files
    synced = cli("--config", config, "sync", "--db", db, "--period", "2026-11")
    assert synced.code == 0, synced.err

    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("""SELECT "x_Source", sum("BilledCost") FROM costs
                              WHERE "BillingPeriodStart" = TIMESTAMPTZ '2026-11-01' GROUP BY 1""")
        by_source = dict(rows.fetchall())
    with azure_file.open(encoding="utf-8", newline="") as handle:
        november = [r for r in csv.DictReader(handle) if r["BillingPeriodStart"].startswith("2026-11")]
    assert by_source["azure"].quantize(CENT) == sum((Decimal(r["BilledCost"]) for r in november), Decimal(0)).quantize(
        CENT
    )
    assert by_source["gcp"] == _totals(BigQueryPeer.export, "202611")[1]

    report = json.loads(cli("--config", config, "report", "--db", db, "--period", "2026-11", "--as-of", "2026-11-20",
                            "--by", "team", "--format", "json").out)  # fmt: skip
    providers = {line["key"] for b in report["breakdowns"] if b["dimension"] == "provider" for line in b["lines"]}
    assert {"AWS", "Microsoft Azure", "Google Cloud"} <= providers
    priced = {(g["provider"], g["instance_type"]) for g in report["gpu"]["lines"] if Decimal(g["gpu_hours"]) > 0}
    assert {("Google Cloud", "a3-highgpu-8g"), ("Microsoft Azure", "Standard_ND96isr_H100_v5"),
            ("AWS", "p5.48xlarge")} <= priced  # fmt: skip
    allocation = report["allocation"]
    assert Decimal(allocation["total"]) == Decimal(report["total"]["amount"]).quantize(CENT)
    assert sum(Decimal(t["total"]) for t in allocation["teams"]) == Decimal(allocation["total"])
    research = next(t for t in allocation["teams"] if t["team"] == "research")
    assert Decimal(research["total"]) > 0
