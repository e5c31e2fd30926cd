"""Chargeback and showback: every cost of a period to a team, as direct, shared and idle, summing to the total.

- **Direct**: cost whose team the policy finds (tags in precedence, aliases, namespace, account), less its idle part.
- **Idle**: what idle GPU-hours on a team's own instances cost (priced from the bill, as in the GPU section).
- **Shared**: the team's part of each shared pool (even, by direct spend, by weights, by busy GPU-hours or by
  per-process SM time from telemetry); a pool's idle part is split the same way and shown as idle.
- **(unallocated)**: cost with no team and no pool, kept as its own line rather than hidden in a split.

Splits are exact (fractions) and rounded once, at the end, by largest remainder: team totals sum to the period's
total to the cent, and each team's columns sum to its total.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from finops.allocation_policy import CHARGES_POOL, UNALLOCATED, AllocationPolicy, SharedPool, check_scopes
from finops.allocation_usage import gpu_usage_by_team
from finops.gpu_cost import InstanceIdle
from finops.money import CENT
from finops.scopes import StoreValues
from finops.store import Store

COLUMNS = ("direct", "shared", "idle")


@dataclass(frozen=True)
class CostGroup:
    """Cost of one resource (or of one un-resourced charge) with what the policy needs to place it."""

    amount: Decimal
    team: str | None
    pool: str | None
    resource: str | None = None


@dataclass(frozen=True)
class TeamShare:
    team: str
    direct: Decimal
    shared: Decimal
    idle: Decimal

    @property
    def total(self) -> Decimal:
        return self.direct + self.shared + self.idle


@dataclass(frozen=True)
class PoolShare:
    name: str
    split: str  # the method actually used (a GPU split without telemetry falls back to spend, with a warning)
    amount: Decimal
    shares: dict[str, Decimal]


@dataclass(frozen=True)
class Allocation:
    basis: str
    policy: str
    total: Decimal  # the period's total at the basis, to the cent; the teams sum to it exactly
    exact_total: Decimal
    teams: tuple[TeamShare, ...]
    pools: tuple[PoolShare, ...]
    warnings: tuple[str, ...] = ()


def read_allocation(
    store: Store,
    policy: AllocationPolicy,
    start: datetime,
    end: datetime,
    idle: Iterable[InstanceIdle] = (),
    hosts: Mapping[str, str] | None = None,
) -> Allocation:
    """Allocate [start, end) from the store. `idle` is the GPU idle section for the same window at EffectiveCost.
    A policy naming what the store does not hold is refused first (finops.scopes)."""
    check_scopes(policy, StoreValues(store, policy))
    groups = list(read_groups(store, policy, start, end))
    usage = {
        pool.name: gpu_usage_by_team(store, policy, pool.split, _resources_of(groups, pool.name), start, end, hosts)
        for pool in policy.shared
        if pool.split in ("gpu-hours", "gpu-sm")
    }
    idle_by_resource = _idle_by_resource(groups, idle)
    return allocate(groups, policy, usage, idle_by_resource)


def read_groups(store: Store, policy: AllocationPolicy, start: datetime, end: datetime) -> Iterable[CostGroup]:
    """One group per (resource, service, category, account, tag values the policy reads): few rows, even for
    millions of cost rows, and placed in Python where the policy is easy to read and test."""
    keys = list(policy.tag_keys())
    rows = store.fetch(
        """
        SELECT "ResourceId", "ServiceName", "ChargeCategory", "SubAccountId", "SubAccountName", "BillingAccountId",
               [nullif("Tags"[k], '') FOR k IN ?::VARCHAR[]] AS tag_values, sum("EffectiveCost")
        FROM costs WHERE "ChargePeriodStart" >= ? AND "ChargePeriodStart" < ?
          AND ("ChargeCategory" = 'Usage' OR NOT ?)  -- showback: what teams consumed, before credits and fees
        GROUP BY ALL
        """,
        [keys, start, end, policy.basis == "showback"],
    )
    for resource, service, category, sub_id, sub_name, billing, values, amount in rows:
        if not amount:
            continue
        tags = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
        accounts = (sub_id, sub_name, billing)
        pool = next((p.name for p in policy.shared if p.matches(service, accounts, category, resource, tags)), None)
        team = None if pool else policy.team_of(tags, accounts)
        if team is None and pool is None and policy.basis == "chargeback" and category != "Usage":
            pool = CHARGES_POOL
        yield CostGroup(amount, team, pool, resource)


def allocate(
    groups: Iterable[CostGroup],
    policy: AllocationPolicy,
    usage: Mapping[str, Mapping[str, float]] | None = None,
    idle_by_resource: Mapping[str, Decimal] | None = None,
) -> Allocation:
    """The pure part: place the groups, split the pools, round once. `usage` is GPU use per team per pool."""
    usage, idle_by_resource = usage or {}, idle_by_resource or {}
    cells: dict[str, dict[str, Fraction]] = defaultdict(lambda: dict.fromkeys(COLUMNS, Fraction(0)))
    pool_amount: dict[str, Fraction] = defaultdict(Fraction)
    pool_idle: dict[str, Fraction] = defaultdict(Fraction)
    exact_total = Decimal(0)
    for group in groups:
        exact_total += group.amount
        amount = Fraction(group.amount)
        idle = _idle_part(amount, idle_by_resource.get(group.resource or ""))
        if group.pool:
            pool_amount[group.pool] += amount - idle
            pool_idle[group.pool] += idle
        else:
            team = cells[group.team or UNALLOCATED]
            team["direct"] += amount - idle
            team["idle"] += idle
    direct_spend = {t: c["direct"] + c["idle"] for t, c in cells.items() if t != UNALLOCATED}
    pools_by_name = {p.name: p for p in policy.shared} | {CHARGES_POOL: SharedPool(CHARGES_POOL, "spend")}
    splits: dict[str, tuple[str, dict[str, Fraction]]] = {}
    warnings = []
    for name in sorted(set(pool_amount) | set(pool_idle), key=_pool_order(policy)):
        pool = pools_by_name[name]
        method, weights, warning = _weights(pool, direct_spend, usage.get(name, {}))
        if warning:
            warnings.append(warning)
        splits[name] = (method, weights)
        for member, part in split_exact(pool_amount[name], weights).items():
            cells[member]["shared"] += part
        for member, part in split_exact(pool_idle[name], weights).items():
            cells[member]["idle"] += part
    total = exact_total.quantize(CENT, rounding=ROUND_HALF_EVEN)
    teams = _rounded_teams(cells, total)
    pools = tuple(_pool_share(name, method, pool_amount[name] + pool_idle[name], weights)
                  for name, (method, weights) in splits.items())  # fmt: skip
    return Allocation(policy.basis, policy.origin, total, exact_total, teams, pools, tuple(warnings))


def split_exact(amount: Fraction, weights: Mapping[str, Fraction]) -> dict[str, Fraction]:
    """`amount` in proportion to `weights`, exactly; all of it to UNALLOCATED when nobody has weight."""
    if not amount:
        return {}
    positive = {k: w for k, w in weights.items() if w > 0}
    whole = sum(positive.values(), Fraction(0))
    if not whole:
        return {UNALLOCATED: amount}
    return {k: amount * w / whole for k, w in positive.items()}


def largest_remainder(values: Mapping[str, Fraction], total_cents: int) -> dict[str, int]:
    """Round each value to whole cents so that they sum to `total_cents` (Hamilton's method). The values must sum
    to within a cent per value of `total_cents`, as exact shares of a rounded total always do."""
    floors = {k: math.floor(v * 100) for k, v in values.items()}
    left = total_cents - sum(floors.values())
    if not 0 <= left <= len(values):
        raise ValueError(f"cannot round {len(values)} values to {total_cents} cents")
    for key in sorted(values, key=lambda k: (-(values[k] * 100 - floors[k]), k))[:left]:
        floors[key] += 1
    return floors


def _pool_share(name: str, method: str, amount: Fraction, weights: Mapping[str, Fraction]) -> PoolShare:
    cents = int(_cents(amount) * 100)
    shares = largest_remainder(split_exact(amount, weights), cents) if amount else {}
    return PoolShare(name, method, Decimal(cents) / 100, {t: Decimal(c) / 100 for t, c in shares.items()})


def _rounded_teams(cells: Mapping[str, Mapping[str, Fraction]], total: Decimal) -> tuple[TeamShare, ...]:
    team_totals = {t: sum(c.values(), Fraction(0)) for t, c in cells.items()}
    team_cents = largest_remainder(team_totals, int(total * 100))
    result = []
    for team, cents in team_cents.items():
        columns = largest_remainder(cells[team], cents)
        result.append(TeamShare(team, *(Decimal(columns[c]) / 100 for c in COLUMNS)))
    return tuple(sorted(result, key=lambda t: (t.team == UNALLOCATED, -t.total, t.team)))


def _weights(
    pool: SharedPool, direct_spend: Mapping[str, Fraction], usage: Mapping[str, float]
) -> tuple[str, dict[str, Fraction], str | None]:
    recipients = list(pool.teams) or sorted(direct_spend)
    if pool.split == "even":
        return "even", dict.fromkeys(recipients, Fraction(1)), None
    if pool.split == "weights":
        return "weights", {t: Fraction(w) for t, w in pool.weights.items()}, None
    if pool.split in ("gpu-hours", "gpu-sm"):
        measured = {t: Fraction(v) for t, v in usage.items() if v > 0 and (not pool.teams or t in pool.teams)}
        if measured:
            return pool.split, measured, None
        warning = f"shared pool {pool.name!r}: no GPU telemetry for its resources in this period, split by spend"
        return "spend", _spend(recipients, direct_spend), warning
    return "spend", _spend(recipients, direct_spend), None


def _spend(recipients: list[str], direct_spend: Mapping[str, Fraction]) -> dict[str, Fraction]:
    spend = {t: max(direct_spend.get(t, Fraction(0)), Fraction(0)) for t in recipients}
    return spend if any(spend.values()) else dict.fromkeys(recipients, Fraction(1))


def _idle_part(amount: Fraction, idle: Decimal | None) -> Fraction:
    """The idle share of a resource's cost: never more than the resource cost, never below zero."""
    if not idle or amount <= 0:
        return Fraction(0)
    return min(Fraction(idle), amount)


def _idle_by_resource(groups: list[CostGroup], idle: Iterable[InstanceIdle]) -> dict[str, Decimal]:
    """Telemetry names an instance by id; the bill by ARN or path. Match exactly or by the last segment."""
    by_key = {i.instance_id: i.idle_cost for i in idle if i.idle_cost}
    result: dict[str, Decimal] = {}
    for resource in {g.resource for g in groups if g.resource}:
        cost = by_key.get(resource) or by_key.get(resource.rsplit("/", 1)[-1])
        if cost:
            result[resource] = cost
    return result


def _resources_of(groups: list[CostGroup], pool: str) -> list[str]:
    return sorted({g.resource for g in groups if g.pool == pool and g.resource})


def _pool_order(policy: AllocationPolicy) -> Callable[[str], int]:
    order = [p.name for p in policy.shared] + [CHARGES_POOL]
    return lambda name: order.index(name)


def _cents(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(CENT, rounding=ROUND_HALF_EVEN)
