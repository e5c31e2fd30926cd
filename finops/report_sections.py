"""Report sections that read more than `costs`: GPU spend priced from the bill, and data freshness."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from finops.store import Store


@dataclass(frozen=True)
class GpuType:
    provider: str
    instance_type: str
    gpu_model: str
    gpu_count: int
    list_price_per_hour: Decimal
    price_date: str


@dataclass(frozen=True)
class GpuLine:
    provider: str
    instance_type: str
    gpu_model: str
    gpus_per_instance: int
    instances: int
    gpu_hours: Decimal  # billed hours x GPUs per instance
    amount: Decimal
    previous: Decimal
    list_price_per_gpu_hour: Decimal
    observed_gpu_hours: float | None  # from telemetry, where the store has it
    mean_util_pct: float | None

    @property
    def cost_per_gpu_hour(self) -> Decimal | None:
        return self.amount / self.gpu_hours if self.gpu_hours else None


@dataclass(frozen=True)
class GpuSummary:
    amount: Decimal
    previous: Decimal
    gpu_hours: Decimal
    lines: tuple[GpuLine, ...]


@dataclass(frozen=True)
class Freshness:
    source: str
    table: str
    newest: datetime | None
    last_loaded: datetime | None
    rows: int


@dataclass(frozen=True)
class StoredFinding:
    rule_id: str
    severity: str
    subject: str
    amount: Decimal | None
    currency: str | None
    message: str
    first_seen: datetime
    notified: bool


def read_stored_findings(store: Store, start: date, end: date) -> tuple[StoredFinding, ...]:
    """What `finops rules run` stored for periods overlapping [start, end), biggest money first."""
    rows = store.fetch(
        """SELECT rule_id, severity, subject, amount, currency, message, first_seen, notified_at IS NOT NULL
           FROM findings WHERE period_start < ? AND period_end > ?
           ORDER BY amount DESC NULLS LAST, rule_id, subject""",
        [end, start],
    )
    return tuple(StoredFinding(*row) for row in rows)


def gpu_types() -> list[GpuType]:
    """The bundled, dated table of GPU instance types (list prices are the fallback, never the first choice)."""
    text = resources.files("finops").joinpath("data/gpu_instances.csv").read_text(encoding="utf-8")
    return [
        GpuType(
            r["provider"],
            r["instance_type"],
            r["gpu_model"],
            int(r["gpu_count"]),
            Decimal(r["list_price_per_hour"]),
            r["price_date"],
        )
        for r in csv.DictReader(text.splitlines())
    ]


def read_gpu_summary(
    store: Store, cost: str, bounds: list[datetime], observed: dict[str, tuple[float, float | None]] | None = None
) -> GpuSummary:
    """GPU spend and GPU-hours by instance type, from the bill's own (amortised) cost of GPU instances. `observed`
    gives telemetry's GPU-hours and mean activity per instance type (lower case), where there is telemetry."""
    types = gpu_types()
    values = ", ".join("(?, ?, ?, ?)" for _ in types)
    params: list[Any] = [
        v for t in types for v in (t.instance_type.lower(), t.gpu_model, t.gpu_count, t.list_price_per_hour)
    ]
    rows = store.fetch(
        f"""
        WITH gpu(instance_type, gpu_model, gpu_count, list_price) AS (VALUES {values}),
        billed AS (
            SELECT coalesce(c."ProviderName", '(unknown)') AS provider, c."x_InstanceType" AS instance_type,
                   g.gpu_model, g.gpu_count, g.list_price,
                   count(DISTINCT CASE WHEN cur THEN c."ResourceId" END) AS instances,
                   sum(CASE WHEN cur AND c."ConsumedUnit" ILIKE 'hour%' THEN c."ConsumedQuantity" END) AS hours,
                   sum(CASE WHEN cur THEN c."{cost}" END) AS amount,
                   sum(CASE WHEN NOT cur THEN c."{cost}" END) AS previous
            FROM (SELECT *, "ChargePeriodStart" >= ? AND "ChargePeriodStart" < ? AS cur FROM costs
                  WHERE ("ChargePeriodStart" >= ? AND "ChargePeriodStart" < ?)
                     OR ("ChargePeriodStart" >= ? AND "ChargePeriodStart" < ?)) c
            JOIN gpu g ON lower(c."x_InstanceType") = g.instance_type
            GROUP BY ALL
        )
        SELECT * FROM billed ORDER BY amount DESC NULLS LAST, instance_type
        """,
        [*params, bounds[0], bounds[1], *bounds],
    )
    observed = observed or {}
    lines = tuple(
        GpuLine(
            provider=provider,
            instance_type=itype,
            gpu_model=model,
            gpus_per_instance=count,
            instances=instances,
            gpu_hours=(hours or Decimal(0)) * count,
            amount=amount or Decimal(0),
            previous=previous or Decimal(0),
            list_price_per_gpu_hour=list_price / count,
            observed_gpu_hours=observed.get(itype.lower(), (None, None))[0],
            mean_util_pct=observed.get(itype.lower(), (None, None))[1],
        )
        for provider, itype, model, count, list_price, instances, hours, amount, previous in rows
    )
    return GpuSummary(
        amount=sum((line.amount for line in lines), Decimal(0)),
        previous=sum((line.previous for line in lines), Decimal(0)),
        gpu_hours=sum((line.gpu_hours for line in lines), Decimal(0)),
        lines=lines,
    )


def read_freshness(store: Store) -> tuple[Freshness, ...]:
    """Per source: the newest data it holds and when it was last loaded. Stale sources are the first thing to
    check when a number looks wrong."""
    rows = store.fetch(
        """
        WITH data AS (
            -- Usage rows say how far the data reaches; a monthly purchase row ends in the future.
            SELECT 'costs' AS tbl, "x_Source" AS source,
                   coalesce(max("ChargePeriodEnd") FILTER (WHERE "ChargeCategory" = 'Usage'), max("ChargePeriodEnd"))
                       AS newest,
                   count(*) AS n
            FROM costs GROUP BY ALL
            UNION ALL SELECT 'gpu_samples', "x_Source", max(ts), count(*) FROM gpu_samples GROUP BY ALL
            UNION ALL SELECT 'usage_metrics', "x_Source", max(ts), count(*) FROM usage_metrics GROUP BY ALL
        ),
        loaded AS (SELECT table_name AS tbl, source, max(loaded_at) AS last_loaded FROM loads GROUP BY ALL)
        SELECT d.source, d.tbl, d.newest, l.last_loaded, d.n
        FROM data d LEFT JOIN loaded l USING (tbl, source)
        ORDER BY d.tbl, d.source
        """
    )
    return tuple(Freshness(source, table, newest, last, int(n)) for source, table, newest, last, n in rows)
