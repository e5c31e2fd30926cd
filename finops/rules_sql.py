"""A rule's heavy tier in other SQL dialects: written once in DuckDB's dialect, kept to a portable subset, and
transpiled with sqlglot for Spark (and Databricks), BigQuery and Athena (Trino).

The portable subset is checked, not hoped for: sqlglot turns some DuckDB constructs into SQL that parses but means
something else, or into SQL the target rejects (seen with sqlglot 30.30 and Spark 4.3):
- `len()` on a list becomes a string length; `median` over a window frame is rejected by Spark; `mad` has no
  translation at all; a named `WINDOW` clause crashes the BigQuery generator; Trino loses struct field names
  without a schema. Window functions, medians, MADs, lists and structs therefore belong to the statistical tier,
  which always runs in local DuckDB.
- `any_value` may pick a different row on each engine: the heavy tier uses `min`/`max`, so that both engines give
  the same aggregates and the same findings.
- A map subscript (`"Tags"['team']`) is NULL for a missing key in DuckDB and Spark, an error in Trino (there it
  becomes `element_at`), and BigQuery has no maps (there Tags must be JSON text, read with `JSON_EXTRACT_SCALAR`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from finops.errors import UsageError
from finops.gpu_hours import with_gpu_hours

if TYPE_CHECKING:
    from sqlglot import exp

DIALECTS = ("duckdb", "spark", "databricks", "bigquery", "athena", "trino")
# Functions the heavy tier may not use, and why: the reason is the error message.
FORBIDDEN = {
    "median": "medians belong to the statistical tier (Spark rejects median over a frame)",
    "mad": "MADs belong to the statistical tier (sqlglot cannot translate mad)",
    "quantile_cont": "quantiles belong to the statistical tier",
    "quantile_disc": "quantiles belong to the statistical tier",
    "any_value": "any_value picks a different row on each engine: use min or max",
    "arbitrary": "arbitrary picks a different row on each engine: use min or max",
    "len": "len() on a list becomes a string length in other dialects",
    "length": "len()/length() on a list becomes a string length in other dialects",
    "list": "lists belong to the statistical tier",
    "struct_pack": "structs lose their field names in Trino",
}


def _sqlglot() -> Any:
    try:
        import sqlglot
    except ImportError as e:
        raise UsageError(
            "running rules on another engine needs sqlglot", hint="install the extra: pip install 'gpu-finops[spark]'"
        ) from e
    return sqlglot


def parse_heavy(sql: str, where: str) -> exp.Expr:
    """Parse one heavy-tier query (DuckDB dialect) and check that it keeps to the portable subset."""
    sqlglot = _sqlglot()
    from sqlglot import exp

    try:
        tree: exp.Expr = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as e:
        raise UsageError(f"{where}: the heavy-tier query does not parse: {e}") from e
    for node in tree.walk():
        if isinstance(node, exp.Window):
            raise UsageError(f"{where}: window functions belong to the statistical tier (the rule's sql)")
        if isinstance(node, exp.Func):
            name = (node.sql_name() if not isinstance(node, exp.Anonymous) else node.name).lower()
            if name in FORBIDDEN:
                raise UsageError(f"{where}: {name}() is not portable: {FORBIDDEN[name]}")
        if isinstance(node, exp.Struct | exp.Array | exp.List):
            raise UsageError(f"{where}: lists and structs belong to the statistical tier")
    if tree.args.get("windows"):
        raise UsageError(f"{where}: a named WINDOW clause is not portable")
    expanded = with_gpu_hours(sql)
    # `gpu_hours` is finops's own relation (one lead() over the samples, checked on Spark by the test suite): the
    # rule's query is checked above, the relation's definition is put in front of it only now.
    return tree if expanded == sql else sqlglot.parse_one(expanded, read="duckdb")


def placeholders(tree: exp.Expr) -> set[str]:
    """The `$name` parameters a query uses."""
    from sqlglot import exp

    return {node.name for node in tree.find_all(exp.Placeholder)}


def transpile(tree: exp.Expr, dialect: str, values: dict[str, Any] | None = None) -> str:
    """The query in `dialect`. With `values`, parameters are written in as typed literals (for a console that has
    no way to bind them); without, they stay parameters in the dialect's own form (`:name`, `@name`)."""
    from sqlglot import exp

    if dialect not in DIALECTS:
        raise UsageError(f"unknown dialect {dialect!r}", hint=", ".join(DIALECTS))
    tree = tree.copy()
    if dialect in ("athena", "trino"):
        tree = tree.transform(
            lambda n: exp.func("element_at", n.this, *n.expressions) if isinstance(n, exp.Bracket) else n
        )  # Trino's map subscript fails on a missing key; element_at gives NULL, as DuckDB and Spark do
    elif dialect == "bigquery":
        tree = tree.transform(_json_subscript)
    if values is not None:
        tree = exp.replace_placeholders(tree, **{k: _literal(v) for k, v in values.items()})
    return str(tree.sql(dialect=dialect, pretty=True))


def _json_subscript(node: exp.Expr) -> exp.Expr:
    from sqlglot import exp

    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Literal):
        key = node.expressions[0].name
        return exp.JSONExtractScalar(this=node.this, expression=exp.Literal.string(f"$.{key}"))
    return node


def _literal(value: Any) -> exp.Expr:
    """A typed SQL literal built by sqlglot (which quotes it), never by pasting text."""
    from sqlglot import exp

    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return exp.Cast(this=exp.Literal.string(text), to=exp.DataType.build("timestamp"))
    if isinstance(value, date):
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("date"))
    return exp.Literal.string(str(value))
