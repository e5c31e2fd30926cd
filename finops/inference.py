"""Cost per inference: per endpoint, the bill of the instances serving it (idle hours included), divided by
its successful requests, beside p95 latency from the same window's histograms.

An instance shared by several endpoints is split by their share of its successful requests, with the last
endpoint taking the remainder so the parts add up to the instance's cost exactly.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from finops.gpu_hours import DEFAULTS, with_gpu_hours
from finops.store import Store

CENT = Decimal("0.01")


@dataclass(frozen=True)
class EndpointCost:
    endpoint: str
    resources: tuple[str, ...]
    requests: int
    failed: int
    input_tokens: int
    output_tokens: int
    cost: Decimal
    p95_s: float | None
    energy_kwh: float | None = None  # GPU energy of the serving instances (telemetry), split like the cost

    @property
    def kwh_per_1k_requests(self) -> float | None:
        return self.energy_kwh * 1000 / self.requests if self.energy_kwh is not None and self.requests else None

    @property
    def per_1k_requests(self) -> Decimal | None:
        return (self.cost * 1000 / self.requests).quantize(Decimal("0.0001")) if self.requests else None

    @property
    def per_1m_tokens(self) -> Decimal | None:
        tokens = self.input_tokens + self.output_tokens
        return (self.cost * 1_000_000 / tokens).quantize(Decimal("0.0001")) if tokens else None


def read_inference(store: Store, start: datetime, end: datetime, cost: str) -> tuple[EndpointCost, ...]:
    usage = store.fetch(
        """SELECT endpoint, resource_id, sum(requests), sum(coalesce(requests_failed, 0)),
                  sum(coalesce(input_tokens, 0)), sum(coalesce(output_tokens, 0))
           FROM usage_metrics WHERE ts >= ? AND ts < ? AND endpoint IS NOT NULL GROUP BY ALL ORDER BY ALL""",
        [start, end],
    )
    if not usage:
        return ()
    resources = sorted({r for _, r, *_ in usage if r})
    billed = dict(
        store.fetch(
            f"""SELECT "ResourceId", sum("{cost}") FROM costs
                WHERE "ResourceId" IN (SELECT unnest(?)) AND "ChargePeriodStart" >= ? AND "ChargePeriodStart" < ?
                GROUP BY 1""",
            [resources, start, end],
        )
    )
    shares = _split(usage, billed)
    energy = _energy(store, resources, start, end)
    served: dict[str, int] = defaultdict(int)
    for _, resource, requests, failed, *_ in usage:
        served[resource] += max(int(requests or 0) - int(failed or 0), 0)
    totals: dict[str, list[Any]] = defaultdict(lambda: [set(), 0, 0, 0, 0, Decimal(0), None])
    for endpoint, resource, requests, failed, tokens_in, tokens_out in usage:
        entry = totals[endpoint]
        if resource:
            entry[0].add(resource)
        ok = int(requests or 0) - int(failed or 0)
        entry[1] += ok
        entry[2] += int(failed or 0)
        entry[3] += int(tokens_in or 0)
        entry[4] += int(tokens_out or 0)
        entry[5] += shares.get((endpoint, resource), Decimal(0))
        if resource in energy and served[resource]:
            entry[6] = (entry[6] or 0.0) + energy[resource] * max(ok, 0) / served[resource]
    p95 = _p95(store, start, end)
    return tuple(
        EndpointCost(name, tuple(sorted(e[0])), e[1], e[2], e[3], e[4], e[5], p95.get(name), e[6])
        for name, e in sorted(totals.items(), key=lambda item: (-item[1][5], item[0]))
    )


def _energy(store: Store, resources: list[str], start: datetime, end: datetime) -> dict[str, float]:
    """kWh drawn by each serving instance's GPUs in the window, over the same sample windows as every GPU figure
    (finops.gpu_hours: the energy counter, or power x time where it resets). Telemetry's instance id may be the
    bill's last path segment."""
    if not resources:
        return {}
    _, rows = store.fetch_named(
        with_gpu_hours("SELECT instance_id, sum(energy_j) / 3.6e6 FROM gpu_hours GROUP BY instance_id"),
        {"period_start": start, "period_end": end, **DEFAULTS},
    )
    by_instance = {instance: float(kwh) for instance, kwh in rows if instance and kwh is not None}
    result: dict[str, float] = {}
    for resource in resources:
        matched = [kwh for instance, kwh in by_instance.items()
                   if resource == instance or resource.endswith("/" + instance)]  # fmt: skip
        if matched:
            result[resource] = sum(matched)
    return result


def _split(usage: list[tuple[Any, ...]], billed: dict[str, Decimal]) -> dict[tuple[str, str], Decimal]:
    """Each resource's cost over the endpoints it served, by successful requests, to the cent and exact in sum."""
    by_resource: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for endpoint, resource, requests, failed, *_ in usage:
        if resource:
            by_resource[resource].append((endpoint, max(int(requests or 0) - int(failed or 0), 0)))
    shares: dict[tuple[str, str], Decimal] = {}
    for resource, parts in by_resource.items():
        total_cost = billed.get(resource, Decimal(0))
        total_requests = sum(n for _, n in parts)
        given = Decimal(0)
        for index, (endpoint, n) in enumerate(parts):
            if index == len(parts) - 1:
                share = total_cost - given  # the remainder: the parts sum to the resource's cost exactly
            elif total_requests:
                share = (total_cost * n / total_requests).quantize(CENT, rounding=ROUND_HALF_EVEN)
            else:
                share = (total_cost / len(parts)).quantize(CENT, rounding=ROUND_HALF_EVEN)
            shares[(endpoint, resource)] = share
            given += share
    return shares


def _p95(store: Store, start: datetime, end: datetime) -> dict[str, float]:
    """p95 from the summed latency histograms, interpolated inside the bucket like Prometheus's
    histogram_quantile; where only CloudWatch statistics exist, the request-weighted mean of hourly p95s."""
    rows = store.fetch(
        """SELECT endpoint, latency_le_s, latency_counts, requests, latency_p95_s FROM usage_metrics
           WHERE ts >= ? AND ts < ? AND endpoint IS NOT NULL""",
        [start, end],
    )
    buckets: dict[str, tuple[list[float], list[int]]] = {}
    weighted: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for endpoint, bounds, counts, requests, p95 in rows:
        if bounds and counts:
            le, summed = buckets.setdefault(endpoint, (list(bounds), [0] * len(counts)))
            if list(bounds) == le:
                for i, count in enumerate(counts):
                    summed[i] += int(count)
        elif p95 is not None and requests:
            weighted[endpoint][0] += p95 * requests
            weighted[endpoint][1] += requests
    result = {e: w[0] / w[1] for e, w in weighted.items() if w[1]}
    for endpoint, (le, cumulative) in buckets.items():
        if cumulative and cumulative[-1]:
            result[endpoint] = _quantile(0.95, le, cumulative)
    return result


def _quantile(q: float, le: list[float], cumulative: list[int]) -> float:
    rank = q * cumulative[-1]
    i = bisect_left(cumulative, rank)
    if i >= len(le) - 1 and le[-1] == float("inf"):  # in the +Inf bucket: the last finite bound is all we know
        return le[-2]
    lower_bound = le[i - 1] if i > 0 else 0.0
    lower_count = cumulative[i - 1] if i > 0 else 0
    inside = cumulative[i] - lower_count
    return lower_bound + (le[i] - lower_bound) * ((rank - lower_count) / inside if inside else 0.0)


def read_unit_cost_daily(store: Store, start: datetime, end: datetime, cost: str) -> dict[str, list[tuple[Any, Any]]]:
    """Cost per 1,000 successful requests per endpoint and UTC day (the HTML report's trend): each day's bill of
    the serving instances, a shared one split by that day's successful requests."""
    rows = store.fetch(
        f"""
        WITH served AS (
            SELECT endpoint, resource_id, CAST(epoch_us(ts) // 86400000000 AS BIGINT) AS day_number,
                   sum(greatest(requests - coalesce(requests_failed, 0), 0)) AS ok
            FROM usage_metrics WHERE ts >= ? AND ts < ? AND endpoint IS NOT NULL AND resource_id IS NOT NULL
            GROUP BY ALL
        ),
        per_resource AS (SELECT resource_id, day_number, sum(ok) AS ok_all FROM served GROUP BY ALL),
        billed AS (
            SELECT "ResourceId" AS resource_id,
                   CAST(epoch_us("ChargePeriodStart") // 86400000000 AS BIGINT) AS day_number, sum("{cost}") AS cost
            FROM costs WHERE "ResourceId" IN (SELECT resource_id FROM served)
              AND "ChargePeriodStart" >= ? AND "ChargePeriodStart" < ?
            GROUP BY ALL
        )
        SELECT s.endpoint, DATE '1970-01-01' + CAST(s.day_number AS INTEGER),
               sum(b.cost * s.ok / r.ok_all) * 1000 / sum(s.ok)
        FROM served s JOIN per_resource r USING (resource_id, day_number) JOIN billed b USING (resource_id, day_number)
        WHERE r.ok_all > 0
        GROUP BY 1, 2 HAVING sum(s.ok) > 0 ORDER BY 1, 2
        """,
        [start, end, start, end],
    )
    series: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    for endpoint, day, per_1k in rows:
        series[endpoint].append((day, per_1k))
    return dict(series)
