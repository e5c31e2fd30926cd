"""Rows of the GCP billing export (as `gcp_billing_export` selects them: money as NUMERIC text, times as ISO text)
to FOCUS 1.2 `costs` frames. See that module for the mapping's reasons."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from finops.coerce import ROW
from finops.connectors.focus_files import normalise_focus_frame

BATCH = 50_000
CHARGE_CATEGORY = {"regular": "Usage", "tax": "Tax", "adjustment": "Adjustment", "rounding_error": "Adjustment"}


def read_export_rows(path: Path, source: str) -> Iterator[pl.DataFrame]:
    batch: list[dict[str, Any]] = []
    number = 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            number += 1
            batch.append(to_focus(json.loads(line), number))
            if len(batch) >= BATCH:
                yield _frame(batch, path, source)
                batch = []
    if batch:
        yield _frame(batch, path, source)


def to_focus(row: dict[str, Any], number: int) -> dict[str, Any]:
    cost = Decimal(row["cost"] or 0)
    credits = Decimal(row.get("credit_total") or 0)
    month = row["invoice_month"]
    start = f"{month[:4]}-{month[4:6]}-01T00:00:00Z"
    year, mon = int(month[:4]), int(month[4:6])
    end = f"{year + mon // 12:04d}-{mon % 12 + 1:02d}-01T00:00:00Z"
    sku = row.get("sku") or ""
    category = "Purchase" if sku.lower().startswith("commitment") else CHARGE_CATEGORY.get(row.get("cost_type") or "",
                                                                                           "Usage")  # fmt: skip
    system = {item["key"]: item["value"] for item in json.loads(row.get("system_labels") or "[]")}
    machine = system.get("compute.googleapis.com/machine_spec")
    tags = {item["key"]: item["value"] for item in json.loads(row.get("project_labels") or "[]")}
    tags.update({item["key"]: item["value"] for item in json.loads(row.get("labels") or "[]")})  # resource wins
    return {
        ROW: number,
        "BillingAccountId": row["billing_account_id"], "BillingPeriodStart": start, "BillingPeriodEnd": end,
        "ChargePeriodStart": row["start"], "ChargePeriodEnd": row["end_time"],
        "BilledCost": str(cost + credits), "EffectiveCost": str(cost + credits), "ContractedCost": str(cost),
        "ListCost": row.get("cost_at_list"), "BillingCurrency": row["currency"], "ChargeCategory": category,
        "ChargeFrequency": "Recurring" if category == "Purchase" else "Usage-Based", "ChargeDescription": sku,
        "ServiceName": row.get("service"), "SkuId": row.get("sku_id"), "SkuMeter": sku,
        "SubAccountId": row.get("project_id"), "SubAccountName": row.get("project_name"),
        "RegionId": row.get("region"), "AvailabilityZone": row.get("zone"),
        "ResourceId": row.get("resource_id"), "ResourceName": row.get("resource_name"),
        "ConsumedQuantity": row.get("quantity"), "ConsumedUnit": row.get("unit"),
        "PricingQuantity": row.get("quantity"), "PricingUnit": row.get("unit"),
        "Tags": json.dumps(tags) if tags else None,
        "SkuPriceDetails": json.dumps({"InstanceType": machine}) if machine else None,
        "ProviderName": "Google Cloud", "PublisherName": "Google Cloud", "InvoiceIssuerName": "Google Cloud",
        "x_credits": row.get("credits") if credits else None, "x_cost_type": row.get("cost_type"),
    }  # fmt: skip


def _frame(rows: list[dict[str, Any]], path: Path, source: str) -> pl.DataFrame:
    names = list(rows[0])
    frame = pl.DataFrame(rows, schema={n: pl.Int64 if n == ROW else pl.String for n in names})
    return normalise_focus_frame(frame, path, source, "gcp-billing-export")
