"""`finops shutdown plan`: which GPU instances may be stopped now, with the evidence, and why every other
candidate may not.

An instance qualifies only when its telemetry is fresh and shows every GPU idle (activity by the signal order of
finops.gpu_hours under `idle_pct`, and no process on it unless `include_reserved`) for at least `idle_minutes`
without a gap: missing data is never idleness, and a GPU whose sample carries no activity signal makes its whole
instance unknown. Then its cloud's own API must say it runs, is not
protected (keep-alive, snoozed), not in a group that would bring it back, holds no local data a stop loses, and
the bill must not show committed capacity (stopping it would save nothing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from finops.connectors.compute_common import ComputeClient, InstanceFacts, label_key, provider_of
from finops.errors import FinopsError
from finops.gpu_hours import SEGMENT_CTES
from finops.report_sections import gpu_types
from finops.shutdown_policy import ShutdownPolicy
from finops.store import Store

LOOKBACK = timedelta(days=7)
HOURS_PER_MONTH = Decimal(730)


@dataclass(frozen=True)
class PlanItem:
    instance: str
    provider: str | None
    action: str  # stop | skip | unmark
    reason: str
    instance_type: str | None = None
    gpus: int = 0
    idle_since: datetime | None = None
    newest_sample: datetime | None = None
    max_activity_pct: float | None = None
    per_hour: Decimal | None = None
    price_basis: str | None = None
    marked_until: datetime | None = None

    @property
    def per_month(self) -> Decimal | None:
        return None if self.per_hour is None else (self.per_hour * HOURS_PER_MONTH).quantize(Decimal("0.01"))

    def evidence(self) -> dict[str, Any]:
        return {
            "instance_type": self.instance_type, "gpus": self.gpus,
            "idle_since": self.idle_since.isoformat() if self.idle_since else None,
            "newest_sample": self.newest_sample.isoformat() if self.newest_sample else None,
            "max_activity_pct": self.max_activity_pct,
            "per_hour": None if self.per_hour is None else str(self.per_hour), "price_basis": self.price_basis,
            "per_month": None if self.per_month is None else str(self.per_month),
            "marked_until": self.marked_until.isoformat() if self.marked_until else None,
        }  # fmt: skip


@dataclass(frozen=True)
class Plan:
    now: datetime
    items: tuple[PlanItem, ...]
    stopped_but_billed: tuple[str, ...] = ()  # Azure VMs "stopped" but not deallocated: billing as if running
    busy: int = 0  # instances with fresh telemetry that are working: nothing to say about them

    @property
    def to_stop(self) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.action == "stop")


@dataclass
class _Telemetry:
    instance_type: str | None = None
    gpus: set[str] = field(default_factory=set)
    minutes: list[tuple[datetime, float | None, int, float]] = field(default_factory=list)  # newest first
    # (sample minute, peak activity over the GPUs, processes, seconds the sample stands for)


def make_plan(store: Store, policy: ShutdownPolicy, clients: Callable[[str], ComputeClient], now: datetime,
              hosts: dict[str, str] | None = None) -> Plan:  # fmt: skip
    telemetry = _read_telemetry(store, now, hosts or {}, policy.idle_pct)
    fresh_limit = timedelta(minutes=policy.stale_minutes)
    pending: list[tuple[str, _Telemetry, datetime, float | None]] = []  # idle long enough: ask the cloud
    items: list[PlanItem] = []
    busy: list[str] = []  # not idle long enough: a mark from an earlier idle spell must be withdrawn
    working = 0
    for instance, t in sorted(telemetry.items()):
        provider = provider_of(instance)
        newest, covers = t.minutes[0][0], timedelta(seconds=t.minutes[0][3])
        if now - (newest + covers) > fresh_limit:  # a sample stands for its interval; past that, it is old
            age = (now - newest).total_seconds() / 60
            items.append(PlanItem(instance, provider, "skip", f"telemetry stale: newest sample {age:.0f} min ago "
                                  "(missing data is never idleness)", t.instance_type, len(t.gpus),
                                  newest_sample=newest))  # fmt: skip
            continue
        since, peak = _idle_since(t, policy)
        if since is None:
            busy.append(instance)
            working += 1
            continue
        idle_for = (now - since).total_seconds() / 60
        if idle_for < policy.idle_minutes:
            items.append(PlanItem(instance, provider, "skip", f"idle {idle_for:.0f} min, under the "
                                  f"{policy.idle_minutes}-min window", t.instance_type, len(t.gpus), since, newest,
                                  peak))  # fmt: skip
            busy.append(instance)  # may carry a mark from an earlier idle spell
            continue
        pending.append((instance, t, since, peak))
    facts, unreadable = _describe(clients, [p[0] for p in pending] + busy)
    prices = _prices(store, [p[0] for p in pending], [p[1] for p in pending], now)
    committed = _committed(store, [p[0] for p in pending], now)
    billed_when_stopped = tuple(sorted(i for i, f in facts.items() if f.still_billed_when_stopped))
    for instance, t, since, peak in pending:
        fact = facts.get(instance)
        per_hour, basis = prices.get(instance, (None, None))
        mark = _mark(fact, policy) if fact else None
        action, reason = _decide(policy, fact, instance in committed, now, since)
        if provider_of(instance) is None:
            reason = "no cloud instance id for this host: map it under [gpu.hosts] in finops.toml"
        elif fact is None and provider_of(instance) in unreadable:
            reason = f"cannot read it from its cloud: {unreadable[provider_of(instance) or '']}"
        items.append(PlanItem(instance, provider_of(instance), action, reason, t.instance_type, len(t.gpus), since,
                              t.minutes[0][0], peak, per_hour, basis, mark))  # fmt: skip
    for instance in busy:  # working again after a mark: the notice no longer holds
        fact = facts.get(instance)
        mark = _mark(fact, policy) if fact else None
        if mark is not None and not any(i.instance == instance and i.action != "skip" for i in items):
            items = [i for i in items if i.instance != instance]
            items.append(PlanItem(instance, provider_of(instance), "unmark", "busy again: the stop notice is "
                                  "withdrawn", marked_until=mark))  # fmt: skip
    order = {"stop": 0, "unmark": 1, "skip": 2}
    # Dearest first (the caps keep the biggest savings); at equal money, the one idle longest.
    items.sort(key=lambda i: (order[i.action], -(i.per_hour or 0), i.idle_since or now, i.instance))
    return Plan(now, tuple(items), billed_when_stopped, busy=working)


def _decide(policy: ShutdownPolicy, fact: InstanceFacts | None, committed: bool, now: datetime,
            since: datetime) -> tuple[str, str]:  # fmt: skip
    if fact is None or fact.state == "missing":
        return "skip", "missing: the cloud does not know this instance"
    if fact.state != "running":
        return "skip", f"not running ({fact.state})"
    tags = fact.tags
    if label_key(policy.keep_alive_tag, fact.provider) in tags:
        return "skip", f"protected: tag {label_key(policy.keep_alive_tag, fact.provider)}"
    snooze = tags.get(label_key(policy.snooze_tag, fact.provider))
    if snooze is not None:
        until = parse_when(snooze)
        if until is None:
            return "skip", f"snooze tag unreadable ({snooze!r}): treated as snoozed"
        if until > now:
            return "skip", f"snoozed until {until:%Y-%m-%d %H:%M} UTC"
    if fact.managed_by:
        return "skip", f"managed by group {fact.managed_by}: a stop would be undone (scale the group instead)"
    if fact.local_disks and not policy.allow_local_disk_loss:
        return "skip", "local instance storage: a stop loses its data (allow_local_disk_loss = true to allow)"
    if fact.spot:
        return "skip", "spot capacity: stopping may not be supported and would lose the capacity"
    if committed:
        return "skip", "committed capacity (reservation or savings plan): a stop saves nothing"
    return "stop", f"idle {(now - since).total_seconds() / 60:.0f} min (since {since:%Y-%m-%d %H:%M} UTC)"


def parse_when(text: str) -> datetime | None:
    """A tag's time: ISO 8601 (`2026-11-30`, `2026-11-30T18:00Z`) or the label-safe `20261130t180000z`."""
    value = text.strip()
    for candidate in (value.upper().replace("Z", "+00:00"), value):
        try:
            moment = datetime.fromisoformat(candidate)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        return datetime.strptime(value.upper(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def stamp(moment: datetime, provider: str) -> str:
    """A time as a tag value; label-safe on Google Cloud (no `:` or `+`)."""
    if provider == "Google Cloud":
        return moment.astimezone(UTC).strftime("%Y%m%dt%H%M%Sz")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mark(fact: InstanceFacts, policy: ShutdownPolicy) -> datetime | None:
    value = fact.tags.get(label_key(policy.mark_tag, fact.provider))
    return parse_when(value) if value else None


def _idle_since(t: _Telemetry, policy: ShutdownPolicy) -> tuple[datetime | None, float | None]:
    """Start of the unbroken idle run that ends at the newest sample (None when the newest is busy). A run that
    reaches back to the oldest sample read (LOOKBACK) may be longer still."""
    since, peak, previous = None, None, None
    for minute, activity, processes, interval in t.minutes:
        idle = activity is not None and activity < policy.idle_pct and (policy.include_reserved or processes == 0)
        gap = previous is not None and previous - (minute + timedelta(seconds=interval)) > timedelta(
            minutes=policy.stale_minutes)  # fmt: skip
        if not idle or gap:
            break
        since, previous = minute, minute
        peak = activity if peak is None else max(peak, activity or 0.0)
    return since, peak


def _read_telemetry(store: Store, now: datetime, hosts: dict[str, str], idle_pct: float) -> dict[str, _Telemetry]:
    """Per instance and minute: the peak activity over its GPUs (by the signal order of finops.gpu_hours), NULL when
    any GPU's sample carries no signal (an unknown GPU makes the instance unknown, never idle)."""
    rows = store.fetch(
        f"""
        WITH {SEGMENT_CTES}
        SELECT instance, any_value(instance_type), list(DISTINCT gpu_uuid), date_trunc('minute', ts) AS minute,
               CASE WHEN count(*) > count(activity) THEN NULL ELSE max(activity) END,
               max(CASE WHEN holds_memory THEN 1 ELSE 0 END), max(coalesce(interval_s, 60))
        FROM gh_segments WHERE ts > $period_start AND ts <= $period_end AND instance IS NOT NULL
        GROUP BY 1, 4 ORDER BY 1, 4 DESC
        """,
        {"period_start": now - LOOKBACK, "period_end": now, "idle_pct": idle_pct, "underutilized_pct": idle_pct},
    )
    result: dict[str, _Telemetry] = defaultdict(_Telemetry)
    for key, itype, gpus, minute, activity, processes, interval in rows:
        t = result[hosts.get(key, key)]
        t.instance_type = t.instance_type or itype
        t.gpus.update(gpus)
        t.minutes.append((minute, None if activity is None else float(activity), int(processes), float(interval)))
    return dict(result)


def _describe(clients: Callable[[str], ComputeClient],
              instances: list[str]) -> tuple[dict[str, InstanceFacts], dict[str, str]]:  # fmt: skip
    """Facts per instance from each cloud, and per cloud that could not be read, why (the plan still shows the
    evidence; nothing is stopped on a cloud finops cannot read)."""
    by_provider: dict[str, list[str]] = defaultdict(list)
    for instance in instances:
        provider = provider_of(instance)
        if provider:
            by_provider[provider].append(instance)
    facts: dict[str, InstanceFacts] = {}
    unreadable: dict[str, str] = {}
    for provider, names in sorted(by_provider.items()):
        try:
            facts.update(clients(provider).describe(names))
        except FinopsError as e:
            unreadable[provider] = e.message
        except Exception as e:  # an SDK's own credential chain failing (no credentials here at all)
            unreadable[provider] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
    return facts, unreadable


def _prices(store: Store, instances: list[str], telemetry: list[_Telemetry],
            now: datetime) -> dict[str, tuple[Decimal | None, str | None]]:  # fmt: skip
    """Money per hour a stop saves: the instance's own amortised bill over 30 days, else the bundled list price."""
    rows = dict(
        (instance, (amount, hours))
        for instance, amount, hours in store.fetch(
            """
            WITH wanted(instance) AS (SELECT unnest(?))
            SELECT w.instance, sum(c."EffectiveCost"),
                   sum(CASE WHEN c."ConsumedUnit" ILIKE 'hour%' THEN c."ConsumedQuantity" END)
            FROM costs c JOIN wanted w ON c."ResourceId" = w.instance OR c."ResourceId" LIKE '%/' || w.instance
            WHERE c."ChargePeriodStart" >= ? AND c."ChargePeriodStart" < ? GROUP BY 1
            """,
            [instances, now - timedelta(days=30), now],
        )
    )
    catalogue = {t.instance_type.lower(): t.list_price_per_hour for t in gpu_types()}
    result: dict[str, tuple[Decimal | None, str | None]] = {}
    for instance, t in zip(instances, telemetry, strict=True):
        amount, hours = rows.get(instance, (None, None))
        if amount and hours:
            result[instance] = ((amount / hours).quantize(Decimal("0.0001")), "bill")
        elif t.instance_type and t.instance_type.lower() in catalogue:
            result[instance] = (catalogue[t.instance_type.lower()], "list")
    return result


def _committed(store: Store, instances: list[str], now: datetime) -> set[str]:
    rows = store.fetch(
        """
        WITH wanted(instance) AS (SELECT unnest(?))
        SELECT DISTINCT w.instance FROM costs c
        JOIN wanted w ON c."ResourceId" = w.instance OR c."ResourceId" LIKE '%/' || w.instance
        WHERE c."ChargePeriodStart" >= ? AND (c."PricingCategory" = 'Committed' OR c."CommitmentDiscountId" IS NOT NULL)
        """,
        [instances, now - timedelta(days=7)],
    )
    return {r[0] for r in rows}
