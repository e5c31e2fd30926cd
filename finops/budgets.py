"""`finops budget check`: each budget's actual and forecast against its thresholds, and whether the data is
fresh enough to judge at all.

The forecast is the run-rate with weekday seasonality: closed days count as billed; each day left in the period
(and each day still open to restatement, whose cost is not final) is expected to cost the mean of the same weekday
over the last four closed weeks. A forecast is never below the actual. Spend is matched to a scope in Python,
from one grouped query, so a team scope uses the allocation policy's own team resolution (direct cost).
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
from finops.store import Store

OPEN_DAYS = 2  # days before the newest data a provider may still restate
TABLES_BY_KIND = {"spend": ("costs",), "unit_cost": ("costs", "usage_metrics"),
                  "idle_share": ("gpu_samples", "costs"), "gpu_hours": ("gpu_samples",)}  # fmt: skip
STATUS_ORDER = ("ok", "warn", "stale", "fail")


@dataclass(frozen=True)
class BudgetResult:
    budget: Budget
    start: date
    end: date  # exclusive
    actual: Decimal | None
    forecast: Decimal | None
    status: str  # ok | warn | fail | stale
    breach: str | None  # "actual" or "forecast" when status is fail
    unit: str
    stale_sources: tuple[str, ...] = ()
    note: str = ""

    @property
    def limit(self) -> Decimal:
        return self.budget.amount


@dataclass(frozen=True)
class BudgetCheck:
    as_of: date
    data_through: date | None
    results: tuple[BudgetResult, ...]

    def exit_code(self, fail_on: str) -> int:
        """1 on a breach (actual always; forecast when --fail-on forecast), else 4 when data is stale, else 0."""
        if any(r.breach == "actual" or (r.breach == "forecast" and fail_on == "forecast") for r in self.results):
            return 1
        return 4 if any(r.stale_sources for r in self.results) else 0


def check_budgets(store: Store, settings: BudgetSettings, policy: AllocationPolicy, as_of: date | None,
                  hosts: dict[str, str] | None = None) -> BudgetCheck:  # fmt: skip
    if not settings.budgets:
        raise UsageError("no budgets to check", hint="add a [budgets.NAME] table to finops.toml (see the README)")
    reference = datetime.combine(as_of + timedelta(days=1), time.min, UTC) if as_of else datetime.now(UTC)
    today = as_of or reference.date()
    newest: datetime | None = store.fetch('SELECT max("ChargePeriodStart") FROM costs')[0][0]
    data_through = min(newest.astimezone(UTC).date(), today) if newest else None
    freshness = read_freshness(store)
    spans = {b.name: budget_period(b.period, today) for b in settings.budgets}
    daily = _daily_spend(store, policy, settings.budgets, spans)
    results = []
    for budget in settings.budgets:
        start, end = spans[budget.name]
        stale = _stale(freshness, TABLES_BY_KIND[budget.kind], reference, settings.freshness_hours)
        actual, forecast, unit, note = _measure(store, budget, start, end, data_through, daily[budget.name], policy,
                                                hosts or {})  # fmt: skip
        results.append(_judge(budget, start, end, actual, forecast, unit, stale, note))
    return BudgetCheck(today, data_through, tuple(results))


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
           stale: tuple[str, ...], note: str) -> BudgetResult:  # fmt: skip
    fail, warn = budget.amount * budget.fail, budget.amount * budget.warn
    breach = None
    if actual is not None and actual >= fail:
        breach = "actual"
    elif forecast is not None and forecast >= fail:
        breach = "forecast"
    if breach:
        status = "fail"
    elif stale:
        status = "stale"
    elif max(actual or 0, forecast or 0) >= warn:
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
    closed = sum((v for d, v in daily.items() if start <= d < closed_end), Decimal(0))
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
                 spans: dict[str, tuple[date, date]]) -> dict[str, dict[date, Decimal]]:  # fmt: skip
    """Each spend budget's cost per day over its period and four weeks before it, from one grouped query."""
    spend = [b for b in budgets if b.kind == "spend"]
    result: dict[str, dict[date, Decimal]] = {b.name: defaultdict(Decimal) for b in budgets}
    if not spend:
        return result
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
        for budget in spend:
            if _in_scope(budget, fields, accounts, team, tags):
                amount = effective if budget.cost == "effective" else billed
                result[budget.name][epoch + timedelta(days=int(day_number))] += amount or Decimal(0)
    return result


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
