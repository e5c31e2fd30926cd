"""Compute Engine list prices from the Cloud Billing catalog (google-cloud-billing, `list_skus`) into `prices`,
for GPU machine types: the price where a bill has no resource-level line for an instance (see finops.gpu_cost).

On A3, A2 and G2 machines Google bills the GPUs as their own SKUs on top of the machine's cores and memory, so an
instance's hourly price is GPUs x the GPU SKU + vCPUs x the family's core SKU + GB x its RAM SKU, per region, from
the machine shapes in `finops/data/gcp_machine_shapes.csv`. Only on-demand SKUs count (not spot or commitments).
Credentials: Application Default Credentials only.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.config import Option
from finops.errors import SourceError
from finops.schema import PRICES

if TYPE_CHECKING:
    import polars as pl

    from finops.doctor import Check

COMPUTE_ENGINE = "Compute Engine"


@dataclass(frozen=True)
class CatalogSnapshot:
    period: str  # the day it was read: the catalog has no billing periods
    origin: str
    fingerprint: str
    rows: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class GcpCatalog:
    name: str = "gcp-catalog"
    table = PRICES
    options = (
        Option("currency", str, "the currency prices are asked in", default="USD"),
        Option("endpoint", str, "a Cloud Billing API endpoint other than Google's (a private or test endpoint)"),
    )
    credentials: Any = None  # None: Application Default Credentials (tests give anonymous ones)
    client_options: dict[str, Any] = field(default_factory=dict)

    def plan(self, settings: dict[str, Any], today: date, periods: list[str] | None = None) -> list[CatalogSnapshot]:
        rows = instance_prices(self._skus(settings), today)
        digest = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()
        return [CatalogSnapshot(today.isoformat(), "cloudbilling:services/Compute Engine/skus", digest, tuple(rows))]

    def fetch(self, settings: dict[str, Any], unit: CatalogSnapshot, source: str, workdir: Path,
              progress: Any = None) -> Iterator[pl.DataFrame]:  # fmt: skip
        import polars as pl

        from finops.coerce import coerce

        names = [name for name, _ in PRICES.columns if name not in ("x_Source", "x_LoadId")]
        schema = {name: pl.Date if name == "effective_date" else pl.String for name in names}
        records = [{k: date.fromisoformat(row[k]) if k == "effective_date" else str(row[k]) for k in names}
                   for row in unit.rows]  # fmt: skip
        frame = pl.DataFrame(records, schema=schema)
        return iter([coerce(frame, PRICES, file="cloud billing catalog").with_columns(x_Source=pl.lit(source))])

    def checks(self, source: str, settings: dict[str, Any], today: date) -> list[Check]:
        from finops.doctor import plan_checks

        describe: Any = lambda p: f"{len(p.rows)} GPU machine price(s)"  # noqa: E731 - one line, one use
        return plan_checks(source, "catalog", lambda: self.plan(settings, today), describe,
                           ("no prices", "check the endpoint"))  # fmt: skip

    def _skus(self, settings: dict[str, Any]) -> list[Any]:
        from google.api_core import exceptions

        client = self._client(settings)
        try:
            service = next((s for s in client.list_services() if s.display_name == COMPUTE_ENGINE), None)
            if service is None:
                raise SourceError("the Cloud Billing catalog lists no Compute Engine service")
            request = {"parent": service.name, "currency_code": settings.get("currency") or "USD"}
            return list(client.list_skus(request=request))
        except exceptions.GoogleAPICallError as e:
            raise SourceError(f"Cloud Billing catalog: {e.message}") from e

    def _client(self, settings: dict[str, Any]) -> Any:
        try:
            from google.cloud import billing_v1
        except ImportError as e:
            hint = "pip install 'gpu-finops[gcp]'"
            raise SourceError("the GCP catalog connector needs google-cloud-billing", hint=hint) from e
        options = dict(self.client_options)
        if settings.get("endpoint"):
            options["api_endpoint"] = settings["endpoint"]
        return billing_v1.CloudCatalogClient(credentials=self.credentials, transport="rest",
                                             client_options=options or None)  # fmt: skip


def instance_prices(skus: list[Any], today: date) -> list[dict[str, Any]]:
    """Hourly on-demand price per GPU machine type and region, from GPU, core and RAM SKUs."""
    unit: dict[tuple[str, str], tuple[Decimal, str, str]] = {}  # (description, region) -> (price, currency, date)
    for sku in skus:
        if sku.category.usage_type != "OnDemand" or not sku.pricing_info:
            continue
        info = sku.pricing_info[0]
        rates = info.pricing_expression.tiered_rates
        if not rates:
            continue
        money = rates[-1].unit_price  # the top tier: GPU and machine SKUs have one
        price = Decimal(money.units or 0) + Decimal(money.nanos or 0) / Decimal(10**9)
        effective = info.effective_time.date().isoformat() if info.effective_time else today.isoformat()
        base = sku.description.split(" running in ")[0].strip()
        for region in sku.service_regions:
            unit[(base, region)] = (price, money.currency_code, effective)
    rows = []
    for shape in _shapes():
        for (base, region), (gpu_price, currency, effective) in sorted(unit.items()):
            if base != shape["gpu_sku"]:
                continue
            core = unit.get((f"{shape['family']} Core", region))
            ram = unit.get((f"{shape['family']} Ram", region))
            if core is None or ram is None:
                continue  # a region without the machine family: no price rather than half of one
            total = (int(shape["gpu_count"]) * gpu_price + int(shape["vcpus"]) * core[0]
                     + Decimal(shape["memory_gb"]) * ram[0])  # fmt: skip
            rows.append({"provider": "Google Cloud", "instance_type": shape["machine_type"], "region": region,
                         "gpu_model": shape["gpu_model"], "gpu_count": int(shape["gpu_count"]),
                         "price_per_hour": total, "currency": currency, "pricing_model": "OnDemand",
                         "effective_date": effective})  # fmt: skip
    return rows


def _shapes() -> list[dict[str, str]]:
    text = resources.files("finops").joinpath("data/gcp_machine_shapes.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


CONNECTOR = GcpCatalog()
