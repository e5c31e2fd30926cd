"""What idle GPU-hours cost, per instance, priced from the bill.

A GPU-hour costs what the bill says its instance cost (amortised EffectiveCost over the period, divided by the
billed instance-hours and the GPUs per instance). Only where the bill has no line for the instance does the
bundled, dated list price stand in, and the output says which basis each price has.
Telemetry's instance id matches the bill's resource id exactly or as its last path segment (EC2's `i-0abc` in
`arn:aws:ec2:...:instance/i-0abc`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from finops.gpu_idle import classify_hourly
from finops.report_sections import gpu_types
from finops.store import Store

IDLE_STATES = ("idle_empty", "idle_reserved")


@dataclass(frozen=True)
class InstanceIdle:
    instance_id: str
    instance_type: str | None
    team: str
    gpus: int
    gpu_hours: float
    hours_by_state: dict[str, float] = field(default_factory=dict)
    cost_per_gpu_hour: Decimal | None = None
    price_basis: str | None = None  # "bill" or "list"
    idle_energy_kwh: float = 0.0

    @property
    def idle_gpu_hours(self) -> float:
        return sum(self.hours_by_state.get(state, 0.0) for state in IDLE_STATES)

    @property
    def busy_share(self) -> float:
        return 1 - self.idle_gpu_hours / self.gpu_hours if self.gpu_hours else 0.0

    @property
    def idle_cost(self) -> Decimal | None:
        if self.cost_per_gpu_hour is None:
            return None
        return (self.cost_per_gpu_hour * Decimal(repr(self.idle_gpu_hours))).quantize(Decimal("0.01"))


def read_gpu_idle(
    store: Store, start: datetime, end: datetime, team_sql: str, cost: str, hosts: dict[str, str] | None = None
) -> tuple[InstanceIdle, ...]:
    """Per instance with telemetry in [start, end): GPU-hours by state and the idle hours' cost. `hosts` maps
    host names to instance ids for telemetry that does not carry one ([gpu.hosts] in finops.toml)."""
    windows = classify_hourly(store, start, end)
    if not windows:
        return ()
    hours: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    energy: dict[str, float] = defaultdict(float)
    gpus: dict[str, set[str]] = defaultdict(set)
    types: dict[str, str | None] = {}
    for window in windows:
        key = window.instance_id or (hosts or {}).get(window.host or "") or window.host or window.gpu_uuid
        hours[key][window.state] += window.gpu_hours
        gpus[key].add(window.gpu_uuid)
        types[key] = types.get(key) or window.instance_type
        if window.state in IDLE_STATES and window.energy_kwh:
            energy[key] += window.energy_kwh
    billed = _billed(store, list(hours), start, end, team_sql, cost)
    catalogue = {t.instance_type.lower(): t for t in gpu_types()}
    synced = _synced_prices(store)
    result = []
    for key, by_state in hours.items():
        bill = billed.get(key)
        itype = types[key] or (bill["instance_type"] if bill else None)
        spec = catalogue.get((itype or "").lower())
        price = synced.get((itype or "").lower())
        count = spec.gpu_count if spec else price[1] if price else len(gpus[key])
        per_hour, basis = None, None
        if bill and bill["hours"]:
            per_hour, basis = bill["amount"] / bill["hours"] / count, "bill"
        elif price:  # a provider's own catalog, synced (finops sync of a gcp-catalog source)
            per_hour, basis = price[0] / price[1], "catalog"
        elif spec:
            per_hour, basis = spec.list_price_per_hour / spec.gpu_count, "list"
        result.append(
            InstanceIdle(
                key, itype, bill["team"] if bill else "(no bill line)", count, sum(by_state.values()),
                dict(by_state), per_hour, basis, energy[key],
            )
        )  # fmt: skip
    return tuple(sorted(result, key=lambda r: (-(r.idle_cost or 0), r.instance_id)))


def _synced_prices(store: Store) -> dict[str, tuple[Decimal, int]]:
    """Per instance type, the lowest on-demand price any region lists (an estimate should not overstate waste),
    with the GPUs it carries."""
    rows = store.fetch(
        """SELECT lower(instance_type), min(price_per_hour), any_value(gpu_count) FROM prices
           WHERE pricing_model = 'OnDemand' AND gpu_count > 0 GROUP BY 1"""
    )
    return {itype: (price, int(count)) for itype, price, count in rows}


def _billed(
    store: Store, instances: list[str], start: datetime, end: datetime, team_sql: str, cost: str
) -> dict[str, dict[str, Any]]:
    rows = store.fetch(
        f"""
        WITH wanted(instance) AS (SELECT unnest(?))
        SELECT w.instance, sum(c."{cost}"),
               sum(CASE WHEN c."ConsumedUnit" ILIKE 'hour%' THEN c."ConsumedQuantity" END),
               any_value(c."x_InstanceType"), any_value({team_sql})
        FROM costs c JOIN wanted w
          ON c."ResourceId" = w.instance OR c."ResourceId" LIKE '%/' || w.instance
        WHERE c."ChargePeriodStart" >= ? AND c."ChargePeriodStart" < ?
        GROUP BY w.instance
        """,
        [instances, start, end],
    )
    return {
        instance: {"amount": amount or Decimal(0), "hours": hours, "instance_type": itype, "team": team}
        for instance, amount, hours, itype, team in rows
    }
