"""Running a rule's two tiers: the heavy tier on an engine (the store's DuckDB, or Spark), the statistical tier in a
private in-memory DuckDB over the heavy tier's results only.

Both engines go through the same statistical tier, so the only thing that can differ between them is the heavy
tier's aggregates, which are sums, counts and extremes: the test in tests/test_rules_spark.py holds them to
identical findings.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

from finops.errors import UsageError
from finops.gpu_hours import with_gpu_hours
from finops.store import QueryError, Store, query_tables

if TYPE_CHECKING:
    import pyarrow as pa

    from finops.rules_engine import HeavyQuery, Rule

_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")


class HeavyEngine(Protocol):
    name: str

    def fetch(self, rule: Rule, query: HeavyQuery, params: dict[str, Any]) -> pa.Table:
        """The heavy-tier query's result, with `params` bound (only the ones it uses)."""
        ...


class DuckDBEngine:
    """The heavy tier on the store itself."""

    name = "duckdb"

    def __init__(self, store: Store) -> None:
        self.store = store

    def fetch(self, rule: Rule, query: HeavyQuery, params: dict[str, Any]) -> pa.Table:
        sql = with_gpu_hours(query.sql)
        try:
            return self.store.fetch_arrow(sql, used(sql, params))
        except QueryError as e:
            raise UsageError(f"rule {rule.id} ({rule.origin}): heavy.{query.name} failed: {e}") from e


def used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a DuckDB query names (DuckDB refuses ones it does not)."""
    names = set(_PARAMETER.findall(sql))
    return {k: v for k, v in params.items() if k in names}


def run_tiers(engine: HeavyEngine, rule: Rule, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of the rule's findings query."""
    if not rule.heavy:
        if not isinstance(engine, DuckDBEngine):
            raise UsageError(
                f"rule {rule.id} ({rule.origin}) has no heavy tier, so it can only run on the duckdb engine",
                hint="split it: [heavy.NAME] queries for the aggregates, sql for the rest (see `finops rules list`)",
            )
        sql = with_gpu_hours(rule.sql)
        try:
            return engine.store.fetch_named(sql, used(sql, params))
        except QueryError as e:
            raise UsageError(f"rule {rule.id} ({rule.origin}): its query failed: {e}") from e
    results = {query.name: engine.fetch(rule, query, params) for query in rule.heavy}
    return statistical_tier(rule, results, params)


def statistical_tier(
    rule: Rule, tables: dict[str, pa.Table], params: dict[str, Any]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    try:
        return query_tables(rule.sql, tables, used(rule.sql, params))
    except QueryError as e:
        raise UsageError(f"rule {rule.id} ({rule.origin}): its statistical tier failed: {e}") from e
