"""The rules' heavy tier in other dialects: every built-in rule's heavy-tier queries keep to the portable subset,
transpile to Spark, Databricks, BigQuery and Athena, and the result parses again in that dialect; the known
traps are refused with the rule and the reason named; and the two tiers give the same findings as before the
split (tests/test_rules.py holds the cases)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlglot

from finops.errors import UsageError
from finops.rules_engine import bound_values, load_rule, load_rules
from finops.rules_sql import parse_heavy, placeholders, transpile

TARGETS = ("spark", "databricks", "bigquery", "athena")
HEAVY = [(rule, query) for rule in load_rules() for query in rule.heavy]


def test_every_built_in_rule_has_a_heavy_tier() -> None:
    assert {rule.id for rule, _ in HEAVY} == {rule.id for rule in load_rules()}


@pytest.mark.parametrize("dialect", TARGETS)
@pytest.mark.parametrize(("rule", "query"), HEAVY, ids=[f"{r.id}.{q.name}" for r, q in HEAVY])
def test_heavy_tier_transpiles_and_parses_in(rule, query, dialect: str) -> None:  # type: ignore[no-untyped-def]
    tree = parse_heavy(query.sql, f"{rule.id}.{query.name}")
    values = bound_values(rule, {}, date(2026, 11, 1), date(2026, 12, 1))
    assert placeholders(tree) <= set(values), "a heavy-tier parameter the engine does not bind"
    for bound in (None, values):  # with parameters left as the dialect's own markers, and written in
        text = transpile(tree, dialect, bound)
        again = sqlglot.parse_one(text, read=dialect)
        assert again.find(sqlglot.exp.Select) is not None
        tables = {t.name for t in again.find_all(sqlglot.exp.Table)}
        stored = {"costs", "gpu_samples", "gpu_processes", "usage_metrics"}
        assert tables <= stored | {c.alias for c in again.find_all(sqlglot.exp.CTE)}
        if bound is not None:
            assert not list(again.find_all(sqlglot.exp.Placeholder)), text
    if "Tags" in query.sql:
        # Trino's subscript fails on a missing key, BigQuery has no maps: both get their own form
        assert "ELEMENT_AT" in transpile(tree, "athena")
        assert "JSON_EXTRACT_SCALAR" in transpile(tree, "bigquery")


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT median(x) AS m FROM costs", "median"),
        ("SELECT mad(x) AS m FROM costs", "mad"),
        ("SELECT any_value(x) AS m FROM costs", "any_value"),
        ("SELECT len(list_value(1, 2)) AS n FROM costs", "len"),
        ("SELECT sum(x) OVER (PARTITION BY y) AS s FROM costs", "window functions"),
        ("SELECT sum(x) OVER w AS s FROM costs WINDOW w AS (PARTITION BY y)", "window"),
        ("SELECT {'a': 1} AS s FROM costs", "structs"),
        ("SELECT FROM WHERE", "does not parse"),
    ],
)
def test_the_known_traps_are_refused_with_the_rule_named(sql: str, reason: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_heavy(sql, "rule X001 heavy.q")
    assert "X001" in error.value.message
    assert reason in error.value.message


def test_values_are_written_in_as_quoted_literals_not_pasted() -> None:
    tree = parse_heavy('SELECT * FROM costs WHERE "ServiceName" = $service AND x < $n', "t")
    text = transpile(tree, "athena", {"service": "x' OR '1'='1", "n": 3})
    assert "'x'' OR ''1''=''1'" in text
    assert sqlglot.parse_one(text, read="athena").find(sqlglot.exp.Or) is None


def test_a_rule_file_with_a_bad_heavy_tier_or_lookback_names_the_key(tmp_path: Path) -> None:
    base = 'id = "U1"\nname = "u"\nseverity = "low"\nsummary = "s"\ndescription = "d"\nsql = "SELECT 1"\n'
    with pytest.raises(UsageError, match=r"lookback 'days'"):
        load_rule(base + 'lookback = "days"\n', "u.toml")
    with pytest.raises(UsageError, match=r"heavy.costs"):
        load_rule(base + '[heavy.costs]\nsql = "SELECT 1"\n', "u.toml")
    with pytest.raises(UsageError, match=r"heavy.q must hold exactly one key"):
        load_rule(base + '[heavy.q]\nquery = "SELECT 1"\n', "u.toml")
    rule = load_rule(base + '[heavy.q]\nsql = "SELECT 1 AS one"\n', "u.toml")
    assert [q.name for q in rule.heavy] == ["q"]


def test_rules_sql_prints_every_heavy_query_ready_for_athena(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("rules", "sql", "--dialect", "athena", "--start", "2026-10-31", "--param", "ANO001.history_days=28")
    assert result.code == 0, result.err
    statements = [s for s in result.out.split(";\n") if s.strip()]
    assert len(statements) == len(HEAVY)
    for statement in statements:
        tree = sqlglot.parse_one(statement, read="athena")
        assert not list(tree.find_all(sqlglot.exp.Placeholder))
    anomaly = next(s for s in statements if "heavy.daily_cost" in s)
    assert "CAST('2026-10-03 00:00:00' AS TIMESTAMP)" in anomaly  # 28 days of history before the period
    assert "CAST('2026-11-01 00:00:00' AS TIMESTAMP)" in anomaly  # the period ends on the 1st of the next month


def test_rules_sql_bad_input_exits_2_with_a_hint(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("rules", "sql", "--start", "2026-11-05", "--end", "2026-11-01").code == 2
    bad_date = cli("rules", "sql", "--start", "2026-13-01")
    assert bad_date.code == 2 and "YYYY-MM-DD" in bad_date.err
    assert cli("rules", "sql", "--dialect", "oracle").code == 2
