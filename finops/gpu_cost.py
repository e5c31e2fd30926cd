"""What idle GPU-hours cost, per instance, priced from the bill.

A GPU-hour costs what the bill says its instance cost (amortised EffectiveCost over the period, divided by the
billed instance-hours and the GPUs per instance). Only where the bill has no line for the instance does a synced
provider catalog price or the bundled, dated list price stand in, and the output says which basis each price has.
A MIG instance's GPU-hours are its share of the GPU (finops.gpu_hours), so it is priced as that share.
Telemetry's instance id matches the bill's resource id exactly or as its last path segment (EC2's `i-0abc` in
`arn:aws:ec2:...:instance/i-0abc`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from finops.gpu_hours import IDLE_STATES, SIGNALS, DeviceHour, read_gpu_hours
from finops.report_sections import gpu_types
from finops.store import Store

NO_BILL_LINE = "(no bill line)"


@dataclass(frozen=True)
class InstancePrice:
    """What one GPU-hour of an instance costs, and on what basis ("bill", "catalog", "list"; None: unpriced)."""

    instance_type: str | None
    team: str
    gpus: int
    per_gpu_hour: Decimal | None = None
    basis: str | None = None


@dataclass(frozen=True)
class InstanceIdle:
    instance_id: str
    instance_type: str | None
    team: str
    gpus: int
    gpu_hours: float
    hours_by_state: dict[str, float] = field(default_factory=dict)  # GPU-hours (a MIG instance: its share)
    cost_per_gpu_hour: Decimal | None = None
    price_basis: str | None = None  # "bill", "catalog" or "list"
    idle_energy_kwh: float = 0.0
    signals: tuple[str, ...] = ()  # the activity signals its verdicts used, best first

    @property
    def idle_gpu_hours(self) -> float:
        return sum(self.hours_by_state.get(state, 0.0) for state in IDLE_STATES)

    @property
    def busy_share(self) -> float:
        return 1 - self.idle_gpu_hours / self.gpu_hours if self.gpu_hours else 0.0

    @property
    def idle_cost(self) -> Decimal | None:
        return idle_cost(self.cost_per_gpu_hour, self.idle_gpu_hours)


def idle_cost(per_gpu_hour: Decimal | None, idle_gpu_hours: float) -> Decimal | None:
    if per_gpu_hour is None:
        return None
    return (per_gpu_hour * Decimal(repr(idle_gpu_hours))).quantize(Decimal("0.01"))


def instance_key(hour: DeviceHour, hosts: dict[str, str] | None) -> str:
    """The instance a device belongs to: its id, the id [gpu.hosts] gives its host, the host, or the GPU."""
    return hour.instance_id or (hosts or {}).get(hour.host or "") or hour.host or hour.gpu_uuid


def read_gpu_idle(
    store: Store,
    start: datetime,
    end: datetime,
    team_sql: str,
    cost: str,
    hosts: dict[str, str] | None = None,
    hours: Iterable[DeviceHour] | None = None,
) -> tuple[InstanceIdle, ...]:
    """Per instance with telemetry in [start, end): GPU-hours by state and the idle hours' cost. `hosts` maps
    host names to instance ids for telemetry that does not carry one ([gpu.hosts] in finops.toml); `hours` are the
    period's device-hours where the caller has read them already."""
    by_state: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    energy: dict[str, float] = defaultdict(float)
    ranks: dict[str, set[int]] = defaultdict(set)
    devices: dict[str, list[DeviceHour]] = defaultdict(list)
    for hour in read_gpu_hours(store, start, end, per_device=True) if hours is None else hours:
        key = instance_key(hour, hosts)
        devices[key].append(hour)
        for state, seconds in hour.seconds_by_state.items():
            by_state[key][state] += seconds * hour.share / 3600
        energy[key] += hour.idle_energy_j or 0.0
        ranks[key].update(SIGNALS.index(signal) for signal in hour.signals)
    if not devices:
        return ()
    prices = price_instances(store, devices, start, end, team_sql, cost)
    result = [
        InstanceIdle(
            key, prices[key].instance_type, prices[key].team, prices[key].gpus, sum(h.gpu_hours for h in hours_),
            {s: v for s, v in by_state[key].items() if v}, prices[key].per_gpu_hour, prices[key].basis,
            energy[key] / 3.6e6, tuple(SIGNALS[r] for r in sorted(ranks[key])),
        )
        for key, hours_ in devices.items()
    ]  # fmt: skip
    return tuple(sorted(result, key=lambda r: (-(r.idle_cost or 0), r.instance_id)))


def price_instances(
    store: Store, devices: dict[str, list[DeviceHour]], start: datetime, end: datetime, team_sql: str, cost: str
) -> dict[str, InstancePrice]:
    """Per instance key (with its device-hours): the price of one of its GPU-hours, best basis first."""
    billed = _billed(store, list(devices), start, end, team_sql, cost)
    catalogue = {t.instance_type.lower(): t for t in gpu_types()}
    synced = _synced_prices(store)
    result = {}
    for key, hours in devices.items():
        bill = billed.get(key)
        itype = next((h.instance_type for h in hours if h.instance_type), None) or (
            bill["instance_type"] if bill else None
        )
        spec = catalogue.get((itype or "").lower())
        price = synced.get((itype or "").lower())
        count = spec.gpu_count if spec else price[1] if price else len({h.gpu_uuid for h in hours})
        per_hour, basis = None, None
        if bill and bill["hours"]:
            per_hour, basis = bill["amount"] / bill["hours"] / count, "bill"
        elif price:  # a provider's own catalog, synced (finops sync of a gcp-catalog source)
            per_hour, basis = price[0] / price[1], "catalog"
        elif spec:
            per_hour, basis = spec.list_price_per_hour / spec.gpu_count, "list"
        result[key] = InstancePrice(itype, bill["team"] if bill else NO_BILL_LINE, count, per_hour, basis)
    return result


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
