"""`finops sync` of the GCP billing export through google-cloud-bigquery against a local BigQuery REST peer
(jobs.query, getQueryResults paging, tables.get, OAuth via Application Default Credentials): partition-filtered
queries, credits netted and itemised, late rows re-read, reconciled to the cent; then AWS, Azure and GCP side by
side in one report by team, with GPU-hours priced from each bill."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from bigquery_peer import BigQueryPeer
from http_server import serve

from finops.money import CENT

TABLE = "lumen-billing.billing_export.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F70819"
A3 = "//compute.googleapis.com/projects/lumen-research-4721/zones/us-central1-a/instances/4817223190475112"


def _row(start: datetime, sku: str, cost: str, *, month: str, kind: str = "regular", credits: list[Any] | None = None,
         hours: str = "1", labels: dict[str, str] | None = None, machine: str | None = None, resource: bool = True,
         export: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    exported = export or start + timedelta(hours=6)
    return {
        "billing_account_id": "01A2B3-C4D5E6-F70819",
        "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
        "sku": {"id": f"SKU-{abs(hash(sku)) % 10000:04d}", "description": sku},
        "usage_start_time": start.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "usage_end_time": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "project": {"id": "lumen-research-4721", "name": "lumen-research", "labels": [{"key": "env", "value": "prod"}]},
        "labels": [{"key": k, "value": v} for k, v in (labels or {}).items()],
        "system_labels": [{"key": "compute.googleapis.com/machine_spec", "value": machine}] if machine else [],
        "location": {"region": "us-central1", "zone": "us-central1-a"},
        "resource": {"name": "lumen-a3-train-01", "global_name": A3} if resource else None,
        "export_time": exported.strftime("%Y-%m-%d %H:%M:%S+00"), "_partition": exported.strftime("%Y-%m-%d"),
        "cost": cost, "cost_at_list": cost, "currency": "USD",
        "usage": {"amount_in_pricing_units": hours, "pricing_unit": "hour"},
        "credits": credits or [], "invoice": {"month": month}, "cost_type": kind,
    }  # fmt: skip


def _export() -> list[dict[str, Any]]:
    """October and November 2026: an a3-highgpu-8g for 30 hours a month with sustained-use credits, storage with a
    promotional credit, a committed-use fee, tax and a rounding error, in amounts with six decimals."""
    rows = []
    for month, first in (("202610", datetime(2026, 10, 5, tzinfo=UTC)), ("202611", datetime(2026, 11, 5, tzinfo=UTC))):
        for hour in range(30):
            credit = [{"name": "Sustained usage discount", "amount": "-8.849001", "type": "SUSTAINED_USAGE_DISCOUNT"}]
            rows.append(_row(first + timedelta(hours=hour), "A3 High GPU instance (8 x H100)", "88.490017", month=month,
                             credits=credit if hour % 3 == 0 else None, labels={"team": "research"},
                             machine="a3-highgpu-8g"))  # fmt: skip
        promotion = [{"name": "Google for Startups", "amount": "-400.000000", "type": "PROMOTION"}]
        rows.append(_row(first, "Standard Storage US Multi-region", "412.337731", month=month, hours="0",
                         labels={"team": "data"}, resource=False, credits=promotion))  # fmt: skip
        rows.append(_row(first, "Commitment v1: A3 GPU in Americas for 1 Year", "1200.000000", month=month,
                         resource=False))  # fmt: skip
        rows.append(_row(first, "Tax", "18.244913", month=month, kind="tax", resource=False, hours="0"))
        rows.append(_row(first, "Rounding", "-0.000004", month=month, kind="rounding_error", resource=False, hours="0"))
    return rows


def _totals(rows: list[dict[str, Any]], month: str) -> tuple[Decimal, Decimal]:
    """The provider's own figures: cost before credits, and what the invoice says (cost plus credits)."""
    mine = [r for r in rows if r["invoice"]["month"] == month]
    cost = sum((Decimal(r["cost"]) for r in mine), Decimal(0))
    credits = sum((Decimal(c["amount"]) for r in mine for c in r["credits"]), Decimal(0))
    return cost, cost + credits


@pytest.fixture
def bigquery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    BigQueryPeer.export, BigQueryPeer.queries, BigQueryPeer.results, BigQueryPeer.detailed = _export(), [], {}, True
    BigQueryPeer.rows_lost = 0
    with serve(BigQueryPeer) as url:
        adc = tmp_path / "adc.json"
        adc.write_text(json.dumps(service_account(f"{url}/token")))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "lumen-billing")
        yield url


def service_account(token_uri: str) -> dict[str, str]:
    """A service-account key file as Google issues one (a fresh RSA key, the token endpoint of the peer): the
    client signs a JWT and trades it for an access token, as with Application Default Credentials anywhere."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    return {
        "type": "service_account",
        "project_id": "lumen-billing",
        "private_key_id": "test",
        "private_key": pem,
        "client_email": "finops@lumen-billing.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


def _config(tmp_path: Path, url: str, extra: str = "") -> Path:
    config = tmp_path / "finops.toml"
    config.write_text(f'[sources.gcp]\ntype = "gcp-billing-export"\ntable = "{TABLE}"\nendpoint = "{url}"\n{extra}')
    return config


def _loaded(db: Path, month: str) -> tuple[int, Decimal, Decimal, Decimal]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            """SELECT count(*), sum("BilledCost"), sum("EffectiveCost"), sum("ContractedCost") FROM costs
               WHERE strftime("BillingPeriodStart", '%Y%m') = ?""",
            [month],
        ).fetchone()


def test_gcp_export_sync(bigquery: str, cli, db: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, bigquery)
    result = cli("--config", config, "sync", "--db", db, "--period", "2026-10", "--period", "2026-11")
    assert result.code == 0, result.err
    for month in ("202610", "202611"):
        rows, billed, effective, contracted = _loaded(db, month)
        cost, invoiced = _totals(BigQueryPeer.export, month)
        assert rows == 34
        assert billed.quantize(CENT) == effective.quantize(CENT) == invoiced.quantize(CENT)
        assert billed == invoiced and contracted == cost  # exact: NUMERIC text end to end, never FLOAT64
    for query in BigQueryPeer.queries:  # every query bound its values and filtered the partition
        assert {p["name"] for p in query["queryParameters"]} == {"month", "partition_from"}
    with duckdb.connect(str(db), read_only=True) as con:
        gpu = con.execute("""SELECT "x_InstanceType", "ResourceId", "Tags"['team'], "Tags"['env'], "ConsumedUnit",
                                    "x_Extras"->>'x_credits' IS NOT NULL FROM costs
                             WHERE "x_InstanceType" IS NOT NULL AND "EffectiveCost" < 88""").fetchone()  # fmt: skip
        categories = dict(con.execute('SELECT "ChargeCategory", count(*) FROM costs GROUP BY 1').fetchall())
    assert gpu == ("a3-highgpu-8g", A3, "research", "prod", "hour", True)  # credits itemised, still visible
    assert categories == {"Usage": 62, "Purchase": 2, "Tax": 2, "Adjustment": 2}

    again = cli("--config", config, "sync", "--db", db, "--period", "2026-11")
    assert again.code == 0 and "unchanged" in again.err
    # A late row for November (a newer export_time): the month is read again and replaced, never added to.
    BigQueryPeer.export.append(_row(datetime(2026, 11, 6, tzinfo=UTC), "Egress", "3.141592", month="202611",
                                    export=datetime(2026, 11, 21, tzinfo=UTC)))  # fmt: skip
    assert cli("--config", config, "sync", "--db", db, "--period", "2026-11").code == 0
    rows, billed, *_ = _loaded(db, "202611")
    assert rows == 35 and billed == _totals(BigQueryPeer.export, "202611")[1]


def test_a_month_whose_rows_do_not_add_up_to_bigquerys_own_total_is_refused(
    bigquery: str, cli, db: Path, tmp_path: Path
) -> None:
    """BigQuery states each month's total (SUM of cost and credits) when the sync plans; rows that arrive short of
    it (a truncated result) fail that month, name the difference, and leave the other month committed."""
    config = _config(tmp_path, bigquery)
    assert cli("--config", config, "sync", "--db", db, "--period", "2026-10").code == 0
    before = _loaded(db, "202610")
    BigQueryPeer.rows_lost = 1
    result = cli("--config", config, "sync", "--db", db, "--period", "2026-11", "--period", "2026-10")
    assert result.code == 2, result.err
    november = [r for r in BigQueryPeer.export if r["invoice"]["month"] == "202611"]
    lost = november[0]  # the rows query left out the month's first row: an hour of the a3-highgpu-8g
    missing = -(Decimal(lost["cost"]) + sum((Decimal(c["amount"]) for c in lost["credits"]), Decimal(0)))
    assert f"(difference {missing.normalize():+,f})" in result.err
    assert (
        "1 of 2 period(s) failed" in result.err and "gcp 2026-11: source gcp, billing period 2026-11-01" in result.err
    )
    assert "the source's own total is" in result.err
    assert "nothing was written for this period" in result.err
    assert _loaded(db, "202610") == before  # unchanged at the source, and as it was
    assert _loaded(db, "202611")[0] == 0


def test_a_query_without_credentials_or_partition_is_refused(bigquery: str, cli, db: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    bad = _config(tmp_path, bigquery).read_text().replace(TABLE, "not a table")
    (tmp_path / "bad.toml").write_text(bad)
    result = cli("--config", tmp_path / "bad.toml", "sync", "--db", db)
    assert result.code == 2 and "PROJECT.DATASET.TABLE" in result.err
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "nowhere.json"))
    denied = cli("--config", _config(tmp_path, bigquery), "sync", "--db", db, "--period", "2026-11")
    assert denied.code == 3 and "BigQuery" in denied.err


def test_googles_focus_view(bigquery: str, cli, db: Path, tmp_path: Path) -> None:
    """Google's FOCUS view, read as FOCUS: the toolkit's GCP FOCUS 1.2 rows served as the view's rows (numbers as
    JSON numbers, Tags as BigQuery's key/value array), synced and reconciled to the cent."""
    import csv

    from conftest import BILLING

    source = BILLING / "focus-data-toolkit" / "focus_1_2_cost_and_usage_gcp.csv"
    with source.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    view = []
    for row in rows:
        record: dict[str, Any] = {k: (v if v != "" else None) for k, v in row.items()}
        for money in ("BilledCost", "EffectiveCost"):
            record[money] = json.loads(row[money])  # a JSON number, as TO_JSON_STRING writes NUMERIC
        tags = json.loads(row["Tags"]) if row.get("Tags") else {}
        record["Tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        view.append(record)
    BigQueryPeer.focus = view
    config = tmp_path / "finops.toml"
    config.write_text(f'[sources.gcp-focus]\ntype = "gcp-focus-view"\ntable = "lumen-billing.billing_export.focus_v1"\n'
                      f'endpoint = "{bigquery}"\n')  # fmt: skip
    result = cli("--config", config, "sync", "--db", db, "--period", "2026-05")
    assert result.code == 0, result.err
    with duckdb.connect(str(db), read_only=True) as con:
        count, billed, tagged = con.execute(
            """SELECT count(*), sum("BilledCost"), count(*) FILTER (WHERE cardinality("Tags") > 0) FROM costs"""
        ).fetchone()
    expected = sum((Decimal(r["BilledCost"]) for r in rows), Decimal(0))
    assert count == len(rows) and billed.quantize(CENT) == expected.quantize(CENT)
    assert tagged == sum(1 for r in rows if r.get("Tags") and json.loads(r["Tags"]))
    for query in BigQueryPeer.queries:
        assert {p["name"] for p in query["queryParameters"]} == {"charge_from", "charge_to", "period_start"}
