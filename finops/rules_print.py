"""`finops rules sql`: the rules' heavy tier, transpiled, for engines finops does not drive itself."""

from __future__ import annotations

from datetime import date, timedelta

from finops.errors import UsageError
from finops.rules_engine import Rule, bound_values
from finops.rules_sql import parse_heavy, transpile


def print_heavy_sql(rules: list[Rule], dialect: str, start: str, end: str, pairs: list[str]) -> None:
    from finops.findings import parse_overrides

    overrides = parse_overrides(pairs)
    period = _period(start, end)
    for rule in rules:
        if not rule.heavy:
            print(f"-- {rule.id} ({rule.origin}) has no heavy tier: it runs in one piece, on DuckDB only\n")
            continue
        values = None if period is None else bound_values(rule, overrides.get(rule.id, {}), *period)
        for query in rule.heavy:
            tree = parse_heavy(query.sql, f"rule {rule.id} ({rule.origin}) heavy.{query.name}")
            print(f"-- {rule.id} {rule.name}: heavy.{query.name} ({dialect})")
            print(transpile(tree, dialect, values) + ";\n")


def _period(start: str, end: str) -> tuple[date, date] | None:
    if not start:
        if end:
            raise UsageError("--end needs --start")
        return None
    try:
        first = date.fromisoformat(start)
        last = date.fromisoformat(end) if end else (first.replace(day=1) + timedelta(days=32)).replace(day=1)
    except ValueError as e:
        raise UsageError(f"--start/--end: {e}", hint="dates as YYYY-MM-DD") from e
    if last <= first:
        raise UsageError(f"--end {last} is not after --start {first}")
    return first, last
