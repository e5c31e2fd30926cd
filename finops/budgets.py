"""`finops budget check`: each budget's actual and forecast against its thresholds, and whether the data is
fresh enough to judge at all.

The forecast is the run-rate with weekday seasonality: closed days count as billed; each day left in the period
(and each day still open to restatement, whose cost is not final) is expected to cost the mean of the same weekday
over the last four closed weeks. A forecast is never below the actual. Spend is matched to a scope in Python,
from one grouped query, so a team scope uses the allocation policy's own team resolution (direct cost).

Every value a scope names must be in the store (finops.scopes): a typo is a configuration error, not a budget of
$0.00 that passes for ever. The check is one verdict that every format renders: each budget's status given
--fail-on, the counts, and the exit code.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from finops.allocation_policy import AllocationPolicy
from finops.budget_config import Budget, BudgetSettings
from finops.errors import UsageError
from finops.report_sections import Freshness, read_freshness
from finops.scopes import TEAM_TABLES, StoreValues, hint
from finops.store import Store

OPEN_DAYS = 2  # days before the newest data a provider may still restate
TABLES_BY_KIND = {"spend": ("costs",), "unit_cost": ("costs", "usage_metrics"),
                  "idle_share": ("gpu_samples", "costs"), "gpu_hours": ("gpu_samples",)}  # fmt: skip
# A budget's verdict. fail: a breach that fails the check (actual; forecast too with --fail-on forecast). warn: the
# warn threshold reached, or a forecast breach that --fail-on actual does not fail on. stale: a source too old to
# judge. no_data: nothing in the budget's scope in its period (never "ok": an empty measure proves nothing).
STATUSES = ("fail", "stale", "no_data", "warn", "ok")
BLOCKING = ("fail", "stale", "no_data")  # the statuses that make the check exit non-zero
FAIL_ON = ("actual", "forecast")


@dataclass(frozen=True)
class BudgetResult:
    budget: Budget
    start: date
    end: date  # exclusive
    actual: Decimal | None  # None: nothing in the scope in the period
    forecast: Decimal | None
    status: str  # one of STATUSES
    breach: str | None  # "actual" or "forecast" when the fail threshold was reached, whether or not it fails
    unit: str
    stale_sources: tuple[str, ...] = ()
    note: str = ""

    @property
    def limit(self) -> Decimal:
        return self.budget.amount

    @property
    def blocks(self) -> bool:
        """Whether this budget makes the check exit non-zero: it failed, or it cannot be judged."""
        return self.status in BLOCKING


@dataclass(frozen=True)
class BudgetCheck:
    """The verdict of one run, which every format renders as it is: the statuses, the counts, the exit code."""

    as_of: date
    data_through: date | None
    results: tuple[BudgetResult, ...]
    fail_on: str = "actual"

    def counts(self) -> dict[str, int]:
        return {status: sum(r.status == status for r in self.results) for status in STATUSES}

    @property
    def exit_code(self) -> int:
        """1 when a budget fails, else 4 when one cannot be judged (stale, or no data), else 0."""
        counts = self.counts()
        if counts["fail"]:
            return 1
        return 4 if counts["stale"] or counts["no_data"] else 0

    def summary(self) -> str:
        c = self.counts()
        return (f"{len(self.results)} budget(s): {c['fail']} failed, {c['warn']} warned, {c['stale']} stale, "
                f"{c['no_data']} without data, {c['ok']} ok")  # fmt: skip


def check_budgets(store: Store, settings: BudgetSettings, policy: AllocationPolicy, as_of: date | None,
                  hosts: dict[str, str] | None = None, fail_on: str = "actual") -> BudgetCheck:  # fmt: skip
    if not settings.budgets:
        raise UsageError("no budgets to check", hint="add a [budgets.NAME] table to finops.toml (see the README)")
    if fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on {fail_on!r}", hint="actual or forecast")
    check_scopes(store, settings, policy)
    reference = datetime.combine(as_of + timedelta(days=1), time.min, UTC) if as_of else datetime.now(UTC)
    today = as_of or reference.date()
    newest: datetime | None = store.fetch('SELECT max("ChargePeriodStart") FROM costs')[0][0]
    data_through = min(newest.astimezone(UTC).date(), today) if newest else None
    freshness = read_freshness(store)
    spans = {b.name: budget_period(b.period, today) for b in settings.budgets}
    daily, seen = _daily_spend(store, policy, settings.budgets, spans)
    results = []
    for budget in settings.budgets:
        start, end = spans[budget.name]
        stale = _stale(freshness, TABLES_BY_KIND[budget.kind], reference, settings.freshness_hours)
        actual, forecast, unit, note = _measure(store, budget, start, end, data_through, daily[budget.name], policy,
                                                hosts or {})  # fmt: skip
        if budget.kind == "spend" and budget.name not in seen:
            actual = None  # no cost row in the scope in the period: not a spend of 0
        results.append(_judge(budget, start, end, actual, forecast, unit, stale, note, fail_on))
    return BudgetCheck(today, data_through, tuple(results), fail_on)


def check_scopes(store: Store, settings: BudgetSettings, policy: AllocationPolicy) -> None:
    """A UsageError for the first budget that names a value the store does not hold, or whose values never meet
    on one cost row. A budget over a table with no rows at all is left to say "no data"."""
    values = StoreValues(store, policy, [k for b in settings.budgets for k in b.tags])
    for b in settings.budgets:
        where = f"{settings.origin}: budgets.{b.name}."
        if b.kind == "unit_cost" and b.endpoint and values.has("usage_metrics"):
            values.require(where, "endpoint", [b.endpoint])
        elif b.kind in ("idle_share", "gpu_hours") and values.has(*TEAM_TABLES):
            values.require(where, "team", b.scope["team"])
        elif b.kind == "spend" and values.has("costs"):
            for key, wanted in b.scope.items():
                values.require(where, key, wanted, what="account (id or name)" if key == "account" else None)
            for key, value in b.tags.items():
                if key not in values.known("tag_key"):
                    raise UsageError(f"{where}tags: no cost in the store has the tag key {key!r}",
                                     hint=hint(key, values.known("tag_key")))  # fmt: skip
                values.require(where, f"tags.{key}", [value], known=f"tag:{key}", what=f"value of tag {key!r}")
            if not any(_in_scope(b, fields, accounts, policy.team_of(tags, accounts), tags)
                       for fields, accounts, tags in values.cost_rows):  # fmt: skip
                raise UsageError(f"{where[:-1]}: no cost in the store is in all of {b.describe_scope()} at once",
                                 hint="each value is in the store, but never together on one cost row")  # fmt: skip


def budget_period(period: str, today: date) -> tuple[date, date]:
    if period == "month":
        start = today.replace(day=1)
        return start, start + timedelta(days=calendar.monthrange(start.year, start.month)[1])
    if period == "quarter":
        month = 3 * ((today.month - 1) // 3) + 1
        start = date(today.year, month, 1)
        end = date(today.year + (month + 3 > 12), (month + 3 - 1) % 12 + 1, 1)
        return start, end
    first, _, last = period.partition("..")
    try:
        start, end = date.fromisoformat(first.strip()), date.fromisoformat(last.strip()) + timedelta(days=1)
    except ValueError as e:
        raise UsageError(f"budget period {period!r}: {e}", hint="YYYY-MM-DD..YYYY-MM-DD (inclusive)") from e
    return start, end


def _judge(budget: Budget, start: date, end: date, actual: Decimal | None, forecast: Decimal | None, unit: str,
           stale: tuple[str, ...], note: str, fail_on: str) -> BudgetResult:  # fmt: skip
    fail, warn = budget.amount * budget.fail, budget.amount * budget.warn
    breach = None
    if actual is not None and actual >= fail:
        breach = "actual"
    elif forecast is not None and forecast >= fail:
        breach = "forecast"
    if breach == "actual" or (breach == "forecast" and fail_on == "forecast"):
        status = "fail"  # stale data only under-reports: a breach stands
    elif stale:
        status = "stale"
    elif actual is None:
        status = "no_data"
    elif breach or max(actual, forecast or 0) >= warn:
        status = "warn"
    else:
        status = "ok"
    return BudgetResult(budget, start, end, actual, forecast, status, breach, unit, stale, note)


def _stale(freshness: tuple[Freshness, ...], tables: tuple[str, ...], reference: datetime,
           limit_hours: float) -> tuple[str, ...]:  # fmt: skip
    stale = []
    for f in freshness:
        if f.table in tables and f.newest is not None:
            age = (reference - f.newest).total_seconds() / 3600
            if age > limit_hours:
                stale.append(f"{f.source} ({f.table}: newest {f.newest:%Y-%m-%d %H:%M}, {age:.0f} h old)")
    return tuple(stale)


Measure = tuple[Decimal | None, Decimal | None, str, str]  # actual, forecast, unit, note


def _measure(store: Store, budget: Budget, start: date, end: date, through: date | None, daily: dict[date, Decimal],
             policy: AllocationPolicy, hosts: dict[str, str]) -> Measure:  # fmt: skip
    if budget.kind == "spend":
        spent = sum((v for d, v in daily.items() if start <= d < end), Decimal(0))
        forecast, note = _forecast(daily, start, end, through)
        return spent, forecast, budget.currency, note
    from finops.budget_usage import gpu_hours, idle_share, unit_cost

    window_end = min(end, (through or start) + timedelta(days=1))
    if budget.kind == "unit_cost":
        return *unit_cost(store, budget, start, window_end), f"{budget.currency} per 1,000 requests", ""
    if budget.kind == "idle_share":
        return idle_share(store, budget, policy, start, window_end, hosts), None, "idle share of GPU-hours", ""
    actual = gpu_hours(store, budget, policy, start, window_end)
    elapsed = (window_end - start).days
    forecast = actual * (end - start).days / elapsed if actual is not None and elapsed > 0 else None
    return actual, forecast, "GPU-hours", "forecast: the period's run-rate so far"


def _forecast(daily: dict[date, Decimal], start: date, end: date,
              through: date | None) -> tuple[Decimal | None, str]:  # fmt: skip
    if through is None or through < start:
        return None, "no data in the period yet"
    closed_end = through - timedelta(days=OPEN_DAYS - 1)  # exclusive: the last OPEN_DAYS days are still open
    history = [closed_end - timedelta(days=n) for n in range(1, 29)]
    by_weekday: dict[int, list[Decimal]] = defaultdict(list)
    for day in history:
        by_weekday[day.weekday()].append(daily.get(day, Decimal(0)))
    # within the period: `daily` also holds the history before it and, when budgets' periods differ, days after it
    closed = sum((v for d, v in daily.items() if start <= d < min(closed_end, end)), Decimal(0))
    expected = Decimal(0)
    day = max(start, closed_end)
    while day < end:
        values = by_weekday[day.weekday()]
        expected += sum(values, Decimal(0)) / len(values)
        day += timedelta(days=1)
    actual = sum((v for d, v in daily.items() if start <= d < end), Decimal(0))
    note = f"forecast: closed days to {closed_end - timedelta(days=1)}, then the same-weekday mean of 4 weeks"
    return max(closed + expected, actual), note


def _daily_spend(store: Store, policy: AllocationPolicy, budgets: tuple[Budget, ...],
                 spans: dict[str, tuple[date, date]]) -> tuple[dict[str, dict[date, Decimal]], set[str]]:  # fmt: skip
    """Each spend budget's cost per day over its period and four weeks before it, from one grouped query, and the
    budgets with a cost row (even of 0) in their period."""
    spend = [b for b in budgets if b.kind == "spend"]
    result: dict[str, dict[date, Decimal]] = {b.name: defaultdict(Decimal) for b in budgets}
    seen: set[str] = set()
    if not spend:
        return result, seen
    keys = list(dict.fromkeys([*policy.tag_keys(), *(k for b in spend for k in b.tags)]))
    first = min(spans[b.name][0] for b in spend) - timedelta(days=35)
    last = max(spans[b.name][1] for b in spend)
    rows = store.fetch(
        """
        SELECT CAST(epoch_us("ChargePeriodStart") // 86400000000 AS BIGINT), "ProviderName", "ServiceName",
               "ChargeCategory", "SubAccountId", "SubAccountName", "BillingAccountId",
               [nullif("Tags"[k], '') FOR k IN ?::VARCHAR[]], sum("EffectiveCost"), sum("BilledCost")
        FROM costs WHERE "ChargePeriodStart" >= ? AND "ChargePeriodStart" < ?
        GROUP BY ALL
        """,
        [keys, datetime.combine(first, time.min, UTC), datetime.combine(last, time.min, UTC)],
    )
    epoch = date(1970, 1, 1)
    for day_number, provider, service, category, sub_id, sub_name, billing, values, effective, billed in rows:
        tags = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
        accounts = (sub_id, sub_name, billing)
        fields: dict[str, Any] = {"provider": provider, "service": service, "category": category}
        team = policy.team_of(tags, accounts)
        day = epoch + timedelta(days=int(day_number))
        for budget in spend:
            if _in_scope(budget, fields, accounts, team, tags):
                amount = effective if budget.cost == "effective" else billed
                result[budget.name][day] += amount or Decimal(0)
                if spans[budget.name][0] <= day < spans[budget.name][1]:
                    seen.add(budget.name)
    return result, seen


def _in_scope(budget: Budget, fields: dict[str, Any], accounts: tuple[str | None, ...], team: str | None,
              tags: dict[str, str]) -> bool:  # fmt: skip
    for key, allowed in budget.scope.items():
        if key == "account":
            if not any(a in allowed for a in accounts if a):
                return False
        elif key == "team":
            if team not in allowed:
                return False
        elif fields.get(key) not in allowed:
            return False
    return all(tags.get(k) == v for k, v in budget.tags.items())
