"""Run rules over a report period against the store: the library behind `finops rules run`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from finops.errors import UsageError
from finops.periods import Period, resolve_period
from finops.report import data_as_of
from finops.rules_engine import SEVERITIES, Finding, evaluate_rules, load_rules, record, select
from finops.store import open_store

if TYPE_CHECKING:
    from finops.rule_tiers import HeavyEngine


@dataclass(frozen=True)
class FindingsResult:
    period: Period
    findings: tuple[Finding, ...]

    def worst_at_least(self, severity: str) -> bool:
        floor = SEVERITIES.index(severity)
        return any(SEVERITIES.index(f.severity) >= floor for f in self.findings)


def parse_overrides(pairs: list[str]) -> dict[str, dict[str, str]]:
    """`GPU001.idle_pct=10` -> {"GPU001": {"idle_pct": "10"}}."""
    overrides: dict[str, dict[str, str]] = {}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        rule, dot, key = target.partition(".")
        if not sep or not dot or not key:
            raise UsageError(f"--param {pair!r}", hint="use RULE.KEY=VALUE, e.g. GPU001.idle_pct=10")
        overrides.setdefault(rule, {})[key] = value
    return overrides


def run_findings(
    db: Path,
    folder: Path | None,
    ids: list[str],
    period: str,
    as_of: str | None,
    params: list[str],
    engine: HeavyEngine | None = None,
    *,
    keep: bool = True,
) -> FindingsResult:
    """Run the rules on the store's DuckDB, or with their heavy tier on `engine`; store what they find (unless
    `keep` is False: a trial run marks what is new and writes nothing)."""
    rules = select(load_rules(folder), ids)
    overrides = parse_overrides(params)
    for rule_id in overrides:
        if rule_id not in {r.id for r in rules}:
            raise UsageError(f"--param names rule {rule_id!r}, which is not being run")
    with open_store(db, read_only=True) as store:
        day = data_as_of(store, as_of)
    current, _ = resolve_period(period, day)
    if engine is None:
        with open_store(db, read_only=True) as store:
            findings = evaluate_rules(store, rules, current.start, current.end, overrides)
    else:
        findings = evaluate_rules(engine, rules, current.start, current.end, overrides)
    if not keep:
        with open_store(db, read_only=True) as store:
            known = store.known_findings([f.fingerprint for f in findings]) if findings else set()
        return FindingsResult(current, tuple(replace(f, new=f.fingerprint not in known) for f in findings))
    with open_store(db) as store:  # findings are stored: a short write, after the reading is done
        findings = record(store, findings)
    return FindingsResult(current, tuple(findings))
