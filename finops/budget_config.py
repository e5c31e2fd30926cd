"""Budgets as declared in finops.toml (`[budgets.NAME]`), checked when the file is read.

```toml
[budgets]
freshness_hours = 72        # a source whose newest data is older cannot pass a budget: exit 4

[budgets.research]          # spend: a scope, a period, an amount, warn and fail thresholds
amount = 250000
period = "month"            # month | quarter | YYYY-MM-DD..YYYY-MM-DD
team = ["research"]         # scope filters: provider, service, account, category, team, tags = { k = "v" }
warn = 0.8                  # shares of the amount, on actual spend and on the forecast to the period's end
fail = 1.0

[budgets.chat-unit]         # unit cost: cost per 1,000 requests of an endpoint
kind = "unit_cost"
endpoint = "chat-llama-70b"
amount = 2.50

[budgets.research-idle]     # idle GPU share of a team (idle GPU-hours / GPU-hours, from telemetry)
kind = "idle_share"
team = ["research"]
amount = 0.25

[budgets.research-gpus]     # a GPU quota: GPU-hours per period, from telemetry or the bill
kind = "gpu_hours"
team = ["research"]
amount = 40000
source = "telemetry"        # or "bill"
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from finops.errors import UsageError, did_you_mean
from finops.tags import normalize_key

KINDS = ("spend", "unit_cost", "idle_share", "gpu_hours")
PERIODS = ("month", "quarter")
SCOPE_KEYS = ("provider", "service", "account", "category", "team")
SCOPES_BY_KIND = {"spend": (*SCOPE_KEYS, "tags"), "unit_cost": ("endpoint",), "idle_share": ("team",),
                  "gpu_hours": ("team",)}  # fmt: skip
DEFAULT_FRESHNESS_HOURS = 72.0


@dataclass(frozen=True)
class Budget:
    name: str
    kind: str
    amount: Decimal
    period: str = "month"
    currency: str = "USD"
    warn: Decimal = Decimal("0.8")
    fail: Decimal = Decimal("1.0")
    cost: str = "effective"
    scope: dict[str, tuple[str, ...]] = field(default_factory=dict)  # provider/service/account/category/team
    tags: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None
    source: str = "telemetry"  # gpu_hours: telemetry or bill

    def describe_scope(self) -> str:
        parts = [f"{k} {'/'.join(v)}" for k, v in self.scope.items()]
        parts += [f"tag {k}={v}" for k, v in self.tags.items()]
        if self.endpoint:
            parts.append(f"endpoint {self.endpoint}")
        return ", ".join(parts) or "all spend"


@dataclass(frozen=True)
class BudgetSettings:
    budgets: tuple[Budget, ...] = ()
    freshness_hours: float = DEFAULT_FRESHNESS_HOURS
    origin: str = "finops.toml"  # the file they came from, for errors found when they meet the store


def parse_budgets(raw: Any, path: Path | str) -> BudgetSettings:
    if raw is None:
        return BudgetSettings()
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: budgets must be a table ([budgets.NAME])")
    freshness = raw.get("freshness_hours", DEFAULT_FRESHNESS_HOURS)
    if isinstance(freshness, bool) or not isinstance(freshness, int | float) or freshness <= 0:
        raise UsageError(f"{path}: budgets.freshness_hours must be a positive number of hours")
    budgets = []
    for name, table in raw.items():
        if name == "freshness_hours":
            continue
        if not isinstance(table, dict):
            raise UsageError(f"{path}: budgets.{name} must be a table ([budgets.{name}])",
                             hint="the only plain setting under [budgets] is freshness_hours")  # fmt: skip
        budgets.append(_budget(name, table, f"{path}: budgets.{name}."))
    return BudgetSettings(tuple(budgets), float(freshness), str(path))


def _budget(name: str, raw: dict[str, Any], where: str) -> Budget:
    allowed = {"kind", "amount", "period", "currency", "warn", "fail", "cost", "tags", "endpoint", "source",
               *SCOPE_KEYS}  # fmt: skip
    for key in raw:
        if key not in allowed:
            path, _, prefix = where.rpartition(": ")
            raise UsageError(f"{path}: unknown key {prefix}{key}", hint=did_you_mean(key, sorted(allowed)))
    kind = raw.get("kind", "spend")
    if kind not in KINDS:
        raise UsageError(f"{where}kind = {kind!r} is unknown", hint=did_you_mean(str(kind), KINDS))
    if "amount" not in raw:
        raise UsageError(f"{where}amount is missing", hint=_AMOUNT_HINT[kind])
    amount = _decimal(raw["amount"], f"{where}amount")
    warn, fail = _decimal(raw.get("warn", 0.8), f"{where}warn"), _decimal(raw.get("fail", 1.0), f"{where}fail")
    if amount <= 0 or not 0 < warn <= fail:
        raise UsageError(f"{where}: amount must be above 0 and 0 < warn <= fail",
                         hint="warn and fail are shares of the amount, e.g. warn = 0.8, fail = 1.0")  # fmt: skip
    period = raw.get("period", "month")
    if not isinstance(period, str) or (period not in PERIODS and ".." not in period):
        raise UsageError(f"{where}period = {period!r} is unknown", hint="month, quarter, or YYYY-MM-DD..YYYY-MM-DD")
    cost = raw.get("cost", "effective")
    if cost not in ("effective", "billed"):
        raise UsageError(f"{where}cost = {cost!r} is unknown", hint="effective (amortised) or billed")
    scope = {}
    for key in SCOPE_KEYS:
        if key in raw:
            value = raw[key]
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise UsageError(f"{where}{key} must be a name or a list of names")
            scope[key] = tuple(values)
    tags = raw.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise UsageError(f"{where}tags must map tag keys to values", hint='tags = { env = "prod" }')
    endpoint = raw.get("endpoint")
    if kind == "unit_cost" and not isinstance(endpoint, str):
        raise UsageError(f"{where}endpoint is required for a unit_cost budget", hint='endpoint = "chat-llama-70b"')
    for key in raw:  # a scope the measure never reads would be ignored in silence: refused instead
        if key in (*SCOPE_KEYS, "tags", "endpoint") and key not in SCOPES_BY_KIND[kind]:
            scoped = ", ".join(SCOPES_BY_KIND[kind])
            raise UsageError(f"{where}{key} does not apply to a {kind} budget", hint=f"its scope keys: {scoped}")
    if kind in ("idle_share", "gpu_hours") and "team" not in scope:
        raise UsageError(f"{where}team is required for a {kind} budget", hint='team = ["research"]')
    if kind == "idle_share" and amount > 1:
        raise UsageError(f"{where}amount is a share for idle_share budgets", hint="amount = 0.25 means 25 %")
    source = raw.get("source", "telemetry")
    if source not in ("telemetry", "bill"):
        raise UsageError(f"{where}source = {source!r} is unknown", hint="telemetry or bill")
    currency = raw.get("currency", "USD")
    if not isinstance(currency, str):
        raise UsageError(f"{where}currency must be a currency code such as USD")
    return Budget(name, kind, amount, period, currency, warn, fail, cost, scope,
                  {normalize_key(k): v for k, v in tags.items()}, endpoint, source)  # fmt: skip


_AMOUNT_HINT = {
    "spend": "amount = 250000 (money, in currency)",
    "unit_cost": "amount = 2.50 (money per 1,000 requests)",
    "idle_share": "amount = 0.25 (a share of GPU-hours)",
    "gpu_hours": "amount = 40000 (GPU-hours)",
}


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UsageError(f"{where} must be a number, not {value!r}")
    try:
        # str() first: a TOML float such as 0.1 is exactly the decimal the person wrote
        return Decimal(str(value))
    except InvalidOperation as e:
        raise UsageError(f"{where} must be a number, not {value!r}") from e
