"""Rules as data: a TOML file per rule (metadata, typed parameters, one DuckDB query), built in under
`finops.rules` and added by users from a folder named in finops.toml, in the same shape.

    id = "GPU001"                      # stable; findings and fingerprints use it
    name = "gpu.idle"
    severity = "high"                  # info, low, medium, high, critical
    summary = "One line for `finops rules list`."
    description = "Why it costs money, and how to fix it."
    sql = "SELECT ... AS subject, ... AS amount, ... AS currency, ... AS message, ... AS evidence ..."
    [params.min_amount]
    type = "float"                     # float, int, str, bool
    default = 100.0
    help = "..."

The query gets `$period_start` and `$period_end` (UTC timestamps) and every parameter by name, always as bound
values, never as text. It returns one row per finding with the columns subject, amount, currency, message and
evidence (a JSON object).

A rule may split its work in two tiers, so that it can run where the data lives (`--engine spark`):

    lookback = "history_days"          # an int parameter: the heavy tier reads from $scan_start, this many days
                                       # before the period (without it, $scan_start is $period_start)
    [heavy.daily]                      # a heavy-tier query: its result is the table `daily` in `sql`
    sql = "SELECT ... FROM costs WHERE ... GROUP BY ..."

The heavy tier (filters, date truncation, group-bys and sums over raw line items and telemetry) runs on the chosen
engine in a portable subset of SQL (finops.rules_sql); `sql`, the statistical tier (medians, MADs, windows,
messages), runs in local DuckDB over the heavy tier's results only. A rule without `[heavy]` runs in one piece on
the store.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.errors import UsageError, did_you_mean
from finops.gpu_hours import DEFAULTS as GPU_HOURS_DEFAULTS
from finops.store import Store

if TYPE_CHECKING:
    from finops.rule_tiers import HeavyEngine

SEVERITIES = ("info", "low", "medium", "high", "critical")
TYPES: dict[str, type] = {"float": float, "int": int, "str": str, "bool": bool}
COLUMNS = ("subject", "amount", "currency", "message", "evidence")


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    default: Any
    help: str


@dataclass(frozen=True)
class HeavyQuery:
    name: str  # the table its result becomes in the statistical tier
    sql: str


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str
    summary: str
    description: str
    sql: str
    params: tuple[Param, ...]
    origin: str  # the file it came from
    heavy: tuple[HeavyQuery, ...] = ()  # empty: one query over the store, DuckDB only
    lookback: str | None = None  # the int parameter saying how many days before the period the heavy tier reads


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: str
    subject: str
    amount: Decimal | None
    currency: str | None
    period_start: date
    period_end: date
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    new: bool = True

    @property
    def fingerprint(self) -> str:
        """The same rule about the same subject in the same period is the same finding, run after run."""
        key = f"{self.rule_id}|{self.subject}|{self.period_start}|{self.period_end}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def load_rule(text: str, origin: str) -> Rule:
    """One rule from TOML text; every mistake names the file and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{origin}: not valid TOML: {e}") from e
    allowed = {"id", "name", "severity", "summary", "description", "sql", "params", "heavy", "lookback"}
    for key in data:
        if key not in allowed:
            raise UsageError(f"{origin}: unknown key {key!r}", hint=did_you_mean(key, sorted(allowed)))
    for key in ("id", "name", "severity", "summary", "description", "sql"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise UsageError(f"{origin}: {key} is missing or empty")
    if data["severity"] not in SEVERITIES:
        raise UsageError(f"{origin}: severity {data['severity']!r}", hint=did_you_mean(data["severity"], SEVERITIES))
    params = []
    for name, spec in data.get("params", {}).items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in TYPES:
            raise UsageError(f"{origin}: params.{name}.type must be one of {', '.join(TYPES)}")
        default = _typed(spec.get("default"), kind, f"{origin}: params.{name}.default")
        params.append(Param(name, kind, default, str(spec.get("help", ""))))
    lookback = data.get("lookback")
    if lookback is not None and lookback not in {p.name for p in params if p.kind == "int"}:
        raise UsageError(f"{origin}: lookback {lookback!r} must name an int parameter of the rule")
    return Rule(data["id"], data["name"], data["severity"], data["summary"].strip(), data["description"].strip(),
                data["sql"], tuple(params), origin, _heavy(data.get("heavy", {}), origin), lookback)  # fmt: skip


def _heavy(table: Any, origin: str) -> tuple[HeavyQuery, ...]:
    if not isinstance(table, dict):
        raise UsageError(f"{origin}: heavy must be a table of queries ([heavy.NAME] with sql = ...)")
    queries = []
    for name, spec in table.items():
        if not name.isidentifier() or name in ("costs", "gpu_samples", "gpu_processes", "usage_metrics", "gpu_hours"):
            raise UsageError(f"{origin}: heavy.{name}: the name must be an identifier, not a store table's")
        if not isinstance(spec, dict) or set(spec) != {"sql"} or not str(spec["sql"]).strip():
            raise UsageError(f"{origin}: heavy.{name} must hold exactly one key, sql, with a query")
        queries.append(HeavyQuery(name, spec["sql"]))
    return tuple(queries)


def load_rules(folder: Path | None = None) -> list[Rule]:
    """The built-in rules, then the user's (a user rule with a built-in's id replaces it)."""
    rules: dict[str, Rule] = {}
    for entry in sorted(resources.files("finops.rules").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            rule = load_rule(entry.read_text(encoding="utf-8"), f"finops.rules/{entry.name}")
            rules[rule.id] = rule
    if folder is not None:
        if not folder.is_dir():
            raise UsageError(f"rules folder {folder} does not exist", hint="check [rules] folder in finops.toml")
        for path in sorted(folder.glob("*.toml")):
            rule = load_rule(path.read_text(encoding="utf-8"), str(path))
            rules[rule.id] = rule
    return sorted(rules.values(), key=lambda r: r.id)


def _typed(value: Any, kind: str, where: str) -> Any:
    wanted = TYPES[kind]
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
        raise UsageError(f"{where} must be a {kind}, not {value!r}")
    return value


def parameters(rule: Rule, overrides: dict[str, str]) -> dict[str, Any]:
    """The rule's parameters with `key=value` overrides (from the command line), checked before anything runs."""
    known = {p.name: p for p in rule.params}
    values = {p.name: p.default for p in rule.params}
    for key, text in overrides.items():
        if key not in known:
            raise UsageError(f"rule {rule.id}: no parameter {key!r}", hint=did_you_mean(key, sorted(known)))
        kind = known[key].kind
        try:
            value: Any = {"float": float, "int": int, "str": str}[kind](text) if kind != "bool" else text == "true"
        except ValueError as e:
            raise UsageError(f"rule {rule.id}: parameter {key}={text!r} is not a {kind}") from e
        values[key] = value
    return values


def bound_values(rule: Rule, overrides: dict[str, str], start: date, end: date) -> dict[str, Any]:
    """Every value a rule's queries are given: its parameters, the period as UTC timestamps, and `scan_start`, the
    period start less the days in the rule's `lookback` parameter (how far back its heavy tier reads)."""
    params = parameters(rule, overrides)
    period_start = datetime.combine(start, time.min, UTC)
    lookback = timedelta(days=params[rule.lookback]) if rule.lookback else timedelta(0)
    # The relation gpu_hours classifies with idle_pct and underutilized_pct: a rule's own parameters of those
    # names win over the defaults.
    return {**GPU_HOURS_DEFAULTS, **params, "period_start": period_start,
            "period_end": datetime.combine(end, time.min, UTC), "scan_start": period_start - lookback}  # fmt: skip


def run_rule(
    engine: Store | HeavyEngine, rule: Rule, start: date, end: date, overrides: dict[str, str]
) -> list[Finding]:
    """Run one rule over [start, end) and return its findings (not yet stored). `engine` is the store itself (all
    on DuckDB) or another engine for the heavy tier."""
    from finops.rule_tiers import DuckDBEngine, run_tiers

    bound = bound_values(rule, overrides, start, end)
    names, rows = run_tiers(DuckDBEngine(engine) if isinstance(engine, Store) else engine, rule, bound)
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise UsageError(f"rule {rule.id} ({rule.origin}): the query returns no column(s) {', '.join(missing)}")
    findings = []
    for row in rows:
        record = dict(zip(names, row, strict=True))
        evidence = record["evidence"]
        amount = record["amount"]
        findings.append(
            Finding(
                rule.id, rule.severity, str(record["subject"]),
                None if amount is None else Decimal(str(amount)), record["currency"], start, end,
                str(record["message"]), json.loads(evidence) if isinstance(evidence, str) else dict(evidence or {}),
            )
        )  # fmt: skip
    return sorted(findings, key=lambda f: (-(f.amount or 0), f.subject))


def evaluate_rules(
    engine: Store | HeavyEngine, rules: list[Rule], start: date, end: date, overrides: dict[str, dict[str, str]]
) -> list[Finding]:
    return [f for rule in rules for f in run_rule(engine, rule, start, end, overrides.get(rule.id, {}))]


def record(store: Store, findings: list[Finding]) -> list[Finding]:
    """Store findings (by fingerprint) and mark which are new since earlier runs."""
    new = store.record_findings([_row(f) for f in findings]) if findings else []
    return [Finding(**{**f.__dict__, "new": is_new}) for f, is_new in zip(findings, new, strict=True)]


def _row(finding: Finding) -> dict[str, Any]:
    return {
        "fingerprint": finding.fingerprint, "rule_id": finding.rule_id, "severity": finding.severity,
        "subject": finding.subject, "amount": finding.amount, "currency": finding.currency,
        "period_start": finding.period_start, "period_end": finding.period_end, "message": finding.message,
        "evidence": json.dumps(finding.evidence, default=str),
    }  # fmt: skip


def select(rules: list[Rule], ids: list[str]) -> list[Rule]:
    """Rules by id or name; unknown ones get a did-you-mean."""
    if not ids:
        return rules
    by_key = {key: r for r in rules for key in (r.id, r.name)}
    chosen = []
    for wanted in ids:
        if wanted not in by_key:
            raise UsageError(f"no rule {wanted!r}", hint=did_you_mean(wanted, sorted(by_key)))
        chosen.append(by_key[wanted])
    return chosen
