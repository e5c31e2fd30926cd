"""Compute Engine prices from the Cloud Billing catalog through google-cloud-billing (REST transport) against a
local peer of the Cloud Billing API (services.list, services.skus.list with paging): GPU machine prices built from
GPU, core and RAM SKUs per region, synced into `prices`, and used for an instance the bill has no line for."""

from __future__ import annotations

import http.server
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import duckdb
from http_server import send_json, serve
from test_sync_gcp import service_account

from finops.gpu_watch import rows_to_frame
from finops.schema import GPU_SAMPLES
from finops.store import open_store

SERVICE = "services/6F81-5844-456A"


def _sku(description: str, units: int, nanos: int, regions: list[str], usage: str = "OnDemand",
         unit: str = "h") -> dict[str, Any]:  # fmt: skip
    return {"name": f"{SERVICE}/skus/{abs(hash(description + usage)) % 10**8:08d}", "skuId": "x",
            "description": description, "serviceRegions": regions,
            "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute",
                         "resourceGroup": "GPU", "usageType": usage},
            "pricingInfo": [{"effectiveTime": "2026-11-01T00:00:00Z", "pricingExpression": {
                "usageUnit": unit, "displayQuantity": 1, "tieredRates": [{
                    "startUsageAmount": 0,
                    "unitPrice": {"currencyCode": "USD", "units": str(units), "nanos": nanos}}]}}]}  # fmt: skip


SKUS = [
    _sku("Nvidia H100 80GB GPU running in Americas", 11, 60_000_000, ["us-central1", "us-east4"]),
    _sku("Nvidia H100 80GB GPU running in Americas", 3, 500_000_000, ["us-central1"], usage="Preemptible"),
    _sku("A3 Instance Core running in Americas", 0, 31_611_000, ["us-central1", "us-east4"]),
    _sku("A3 Instance Ram running in Americas", 0, 2_650_000, ["us-central1", "us-east4"], unit="GiBy.h"),
    _sku("Nvidia L4 GPU running in Americas", 0, 560_000_000, ["us-central1"]),
    _sku("G2 Instance Core running in Americas", 0, 24_000_000, ["us-central1"]),
    # no G2 RAM SKU in us-east4 and no L4 there: no g2 price for us-east4 rather than half of one
    _sku("G2 Instance Ram running in Americas", 0, 2_800_000, ["us-central1"], unit="GiBy.h"),
    _sku("E2 Instance Core running in Americas", 0, 21_811_590, ["us-central1"]),
]


class Catalog(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_POST(self) -> None:  # the OAuth token endpoint of the service-account key file
        self._send({"access_token": "catalog-token", "expires_in": 3600, "token_type": "Bearer"})

    def do_GET(self) -> None:
        url = urlparse(self.path)
        Catalog.requests.append(url.path)
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            return self._send({"error": {"code": 401, "message": "no token"}}, 401)
        if url.path == "/v1/services":
            return self._send({"services": [{"name": "services/0000-AAAA", "displayName": "BigQuery"},
                                            {"name": SERVICE, "serviceId": "6F81-5844-456A",
                                             "displayName": "Compute Engine"}]})  # fmt: skip
        if url.path == f"/v1/{SERVICE}/skus":
            query = parse_qs(url.query)
            assert query["currencyCode"] == ["USD"]
            start = int(query.get("pageToken", ["0"])[0])
            page = {"skus": SKUS[start : start + 3]}
            if start + 3 < len(SKUS):
                page["nextPageToken"] = str(start + 3)
            return self._send(page)
        return self._send({"error": {"code": 404, "message": url.path}}, 404)

    def _send(self, document: dict[str, Any], status: int = 200) -> None:
        send_json(self, status, document)

    def log_message(self, *args: object) -> None:
        pass


def test_catalog_prices_sync_and_price_an_unbilled_instance(cli, db: Path, tmp_path: Path, monkeypatch) -> None:
    Catalog.requests = []
    with serve(Catalog) as url:
        key = tmp_path / "adc.json"
        key.write_text(json.dumps(service_account(f"{url}/token")))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        config = tmp_path / "finops.toml"
        config.write_text(f'[sources.gcp-prices]\ntype = "gcp-catalog"\nendpoint = "{url}"\n')
        result = cli("--config", config, "sync", "--db", db)
        assert result.code == 0, result.err
        again = cli("--config", config, "sync", "--db", db)
        assert again.code == 0 and "unchanged" in again.err
    assert Catalog.requests.count(f"/v1/{SERVICE}/skus") >= 3  # every page followed
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT instance_type, region, price_per_hour, gpu_count FROM prices ORDER BY 1, 2")
        prices = {(t, r): (p, g) for t, r, p, g in rows.fetchall()}
    a3 = 8 * Decimal("11.06") + 208 * Decimal("0.031611") + 1872 * Decimal("0.00265")
    assert prices[("a3-highgpu-8g", "us-central1")] == (a3, 8) == prices[("a3-highgpu-8g", "us-east4")]
    assert prices[("g2-standard-48", "us-central1")] == (4 * Decimal("0.56") + 48 * Decimal("0.024")
                                                         + 192 * Decimal("0.0028"), 4)  # fmt: skip
    assert ("g2-standard-48", "us-east4") not in prices  # half a price is no price
    assert not [k for k in prices if k[0].startswith("e2")]  # not a GPU machine

    # An a3 with telemetry and no bill line: its idle hours are priced from the catalog, and the report says so.
    start = datetime(2026, 11, 10, tzinfo=UTC)
    samples = [{"ts": start + timedelta(hours=h), "instance_id": "projects/p/zones/us-central1-a/instances/a3-x",
                "instance_type": "a3-highgpu-8g", "gpu_uuid": f"GPU-{g}", "interval_s": 3600.0, "sm_active_pct": 0.0,
                "process_count": 0, "x_Day": start.date()} for h in range(2) for g in range(8)]  # fmt: skip
    with open_store(db) as store:
        store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, samples, "t")], checksum="t", inputs=["t"])
        from finops.gpu_cost import read_gpu_idle

        (idle,) = read_gpu_idle(store, start, start + timedelta(days=1), "'x'", "EffectiveCost")
    assert idle.price_basis == "catalog" and idle.cost_per_gpu_hour == a3 / 8
    assert idle.idle_cost == (a3 * 2).quantize(Decimal("0.01"))  # 16 idle GPU-hours = 2 instance-hours
