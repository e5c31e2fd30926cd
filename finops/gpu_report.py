"""`finops gpu report`: every GPU and MIG instance over a period: hours in each state, the signal the verdicts
used, GPU-hours, idle GPU-hours, energy, and what the idle hours cost where a price exists.

It needs telemetry only: a store with no bill yet still shows which GPUs sat idle, with idle cost "unpriced" (or
priced from a synced catalog or the bundled list price, which the output names as the basis). The hours come from
finops.gpu_hours, the same count the report, GPU001, budgets and allocation use.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from finops.allocation import largest_remainder
from finops.errors import UsageError, did_you_mean
from finops.gpu_cost import InstancePrice, idle_cost, instance_key, price_instances
from finops.gpu_hours import IDLE_STATES, SIGNALS, STATES, DeviceHour, read_gpu_hours
from finops.periods import Period, resolve_period
from finops.report import DIMENSIONS, data_as_of
from finops.store import Store, open_store

GROUPS = ("host", "team", "instance_type")
# The bill's team, as the cost report reads it (the instance's tags)
_TEAM = DIMENSIONS["team"]


class _StateHours:
    hours_by_state: dict[str, float]  # GPU-hours

    @property
    def gpu_hours(self) -> float:
        return sum(self.hours_by_state.values())

    @property
    def idle_gpu_hours(self) -> float:
        return sum(self.hours_by_state.get(s, 0.0) for s in IDLE_STATES)


@dataclass(frozen=True)
class GpuDevice(_StateHours):
    """One GPU, or one MIG instance (its GPU-hours are its share of the GPU), over the period."""

    instance: str
    host: str | None
    instance_type: str | None
    team: str
    gpu_uuid: str
    mig_instance_id: str | None
    mig_profile: str | None
    gpu_model: str | None
    share: float
    samples: int
    hours_by_state: dict[str, float]  # GPU-hours
    signals: tuple[str, ...]  # the activity signals its samples had, best first
    verdict: str  # the state it spent most time in (most samples, where they cover no time)
    activity_pct: float | None = None
    tensor_active_pct: float | None = None
    dram_active_pct: float | None = None
    energy_kwh: float | None = None
    idle_energy_kwh: float | None = None
    cost_per_gpu_hour: Decimal | None = None
    price_basis: str | None = None  # bill, catalog, list; None: unpriced
    idle_cost: Decimal | None = None  # its part of its instance's idle cost, to the cent

    @property
    def busy_share(self) -> float | None:
        known = self.gpu_hours - self.hours_by_state.get("unknown", 0.0)
        return None if known <= 0 else 1 - self.idle_gpu_hours / known


@dataclass(frozen=True)
class GpuGroup(_StateHours):
    key: str
    devices: int
    hours_by_state: dict[str, float]
    energy_kwh: float
    idle_cost: Decimal  # of the priced devices
    unpriced_idle_gpu_hours: float


@dataclass(frozen=True)
class GpuReport:
    database: str
    generated_at: datetime
    period: Period
    currency: str
    devices: tuple[GpuDevice, ...]
    group_by: str | None = None
    groups: tuple[GpuGroup, ...] = field(default_factory=tuple)

    @property
    def total(self) -> GpuGroup:
        return _group("total", list(self.devices))


def build_gpu_report(db: Path, period: str = "7d", as_of: str | None = None, group_by: str | None = None) -> GpuReport:
    """Read the store (read-only) and account for every GPU and MIG instance over the period."""
    if group_by is not None and group_by not in GROUPS:
        raise UsageError(f"--group-by {group_by!r} is unknown", hint=did_you_mean(group_by, list(GROUPS)))
    with open_store(db, read_only=True) as store:
        day = data_as_of(store, as_of, of=("telemetry",))
        current, _ = resolve_period(period, day)
        start, end = (datetime.combine(d, time.min, UTC) for d in (current.start, current.end))
        devices = read_devices(store, read_gpu_hours(store, start, end, per_device=True), start, end)
        currency = store.fetch('SELECT max("BillingCurrency") FROM costs')[0][0] or "USD"
    groups: tuple[GpuGroup, ...] = ()
    if group_by is not None:
        by_key: dict[str, list[GpuDevice]] = defaultdict(list)
        for device in devices:
            by_key[_group_key(device, group_by)].append(device)
        groups = tuple(sorted((_group(k, v) for k, v in by_key.items()), key=lambda g: (-g.idle_gpu_hours, g.key)))
    return GpuReport(str(db), datetime.now(UTC).replace(microsecond=0), current, currency, devices, group_by, groups)


def read_devices(store: Store, hours: list[DeviceHour], start: datetime, end: datetime) -> tuple[GpuDevice, ...]:
    """Device-hours folded into one line per device, priced through its instance."""
    by_device: dict[tuple[str, str, str | None], list[DeviceHour]] = defaultdict(list)
    for hour in hours:
        by_device[(instance_key(hour, None), hour.gpu_uuid, hour.mig_instance_id)].append(hour)
    by_instance: dict[str, list[DeviceHour]] = defaultdict(list)
    for (instance, _, _), device_hours in by_device.items():
        by_instance[instance].extend(device_hours)
    prices = price_instances(store, by_instance, start, end, _TEAM, "EffectiveCost") if by_instance else {}
    devices = [_device(instance, rows, prices[instance]) for (instance, _, _), rows in by_device.items()]
    devices = _split_idle_cost(devices)
    return tuple(sorted(devices, key=lambda d: (-d.idle_gpu_hours, d.instance, d.gpu_uuid, d.mig_instance_id or "")))


def _split_idle_cost(devices: list[GpuDevice]) -> list[GpuDevice]:
    """Each instance's idle cost, rounded once as `finops report` rounds it, shared over its devices by their idle
    GPU-hours to the cent (largest remainder): devices sum to their instance, groups and totals to the report."""
    by_instance: dict[str, list[int]] = defaultdict(list)
    for index, device in enumerate(devices):
        by_instance[device.instance].append(index)
    result = list(devices)
    for members in by_instance.values():
        per_hour = devices[members[0]].cost_per_gpu_hour
        total = idle_cost(per_hour, sum(devices[i].idle_gpu_hours for i in members))
        if per_hour is None or total is None:
            continue
        exact = {str(i): Fraction(per_hour) * Fraction(repr(devices[i].idle_gpu_hours)) for i in members}
        cents = largest_remainder(exact, int(total * 100))
        for i in members:
            result[i] = replace(devices[i], idle_cost=Decimal(cents[str(i)]) / 100)
    return result


def _device(instance: str, hours: list[DeviceHour], price: InstancePrice) -> GpuDevice:
    first = hours[0]
    seconds = {s: sum(h.seconds_by_state.get(s, 0.0) for h in hours) for s in STATES}
    samples = {s: sum(h.samples_by_state.get(s, 0) for h in hours) for s in STATES}
    verdict = max(STATES, key=lambda s: (seconds[s], samples[s], -STATES.index(s)))
    covered = sum(h.seconds for h in hours)

    def mean(values: list[tuple[float | None, float]]) -> float | None:
        known = [(v, w) for v, w in values if v is not None]
        weight = sum(w for _, w in known)
        if not known:
            return None
        return sum(v * w for v, w in known) / weight if weight else sum(v for v, _ in known) / len(known)

    def kwh(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) / 3.6e6 if known else None

    return GpuDevice(
        instance, first.host, price.instance_type or first.instance_type, price.team, first.gpu_uuid,
        first.mig_instance_id,
        first.mig_profile, first.gpu_model, first.share, sum(h.samples for h in hours),
        {s: v * first.share / 3600 for s, v in seconds.items() if v},
        tuple(s for s in SIGNALS if any(s in h.signals for h in hours)),
        verdict if covered or any(samples.values()) else "unknown",
        mean([(h.activity_pct, h.seconds) for h in hours]), mean([(h.tensor_active_pct, h.seconds) for h in hours]),
        mean([(h.dram_active_pct, h.seconds) for h in hours]), kwh([h.energy_j for h in hours]),
        kwh([h.idle_energy_j for h in hours]), price.per_gpu_hour, price.basis,
    )  # fmt: skip


def _group_key(device: GpuDevice, group_by: str) -> str:
    if group_by == "host":
        return device.host or device.instance
    if group_by == "team":
        return device.team
    return device.instance_type or "(unknown)"


def _group(key: str, devices: list[GpuDevice]) -> GpuGroup:
    hours: dict[str, float] = defaultdict(float)
    for device in devices:
        for state, value in device.hours_by_state.items():
            hours[state] += value
    return GpuGroup(
        key, len(devices), dict(hours), sum(d.energy_kwh or 0.0 for d in devices),
        sum((d.idle_cost for d in devices if d.idle_cost is not None), Decimal(0)),
        sum(d.idle_gpu_hours for d in devices if d.idle_cost is None),
    )  # fmt: skip
