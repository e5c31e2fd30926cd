"""FOCUS parquet files loaded by DuckDB itself: one `INSERT ... SELECT` over `read_parquet`, no Python per cell.

Why a second path: the streaming path (focus_files -> polars -> Arrow -> DuckDB) decodes, casts and re-encodes every
cell outside DuckDB and took 2.6-2.9x as long as DuckDB's own `CREATE TABLE AS` on the same file; here DuckDB reads,
casts and writes in one pass (benchmarks/README.md has the figures).

It does what the streaming path does, cell for cell: FOCUS names matched case-insensitively, every column of
FOCUS 1.0-1.4 (ProviderName filled from 1.3's ServiceProviderName where a file has none: focus_files.FILLED_FROM),
the canonical types, enumerations in the spec's case, tag keys normalised (tags.parse_tags, run once per
distinct tag text in Python and joined in), the instance type, non-FOCUS columns kept in `x_Extras`, the source
named. tests/test_focus_parquet.py loads the same files both ways and compares every cell.

What it cannot do exactly alike, it does not try: `plan` returns None (a file it cannot type, a bad tag text), or
the INSERT fails on the first cell DuckDB will not cast, or on a required value that is empty. The load is then
rolled back and runs on the streaming path, which reads loose forms ("$1,234.00", US dates) or names the bad cell
by file, row and column. So this path only ever makes good files faster.

Two known differences, both below a cent's trillionth: a 16th decimal of exactly 5 in money written as text (or
in a float's shortest repr) rounds away from zero here (polars rounds it to even), and x_Extras JSON may format
numbers and times differently (the same values).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finops.connectors.billing_checks import sql_guards
from finops.connectors.focus_files import (
    COST_AND_USAGE,
    ENUMS,
    FILLED_FROM,
    INSTANCE_TYPE_PATTERN,
    REQUIRED_VALUES,
    checked_version,
    dataset_of,
    focus_name,
)
from finops.schema import ALL_FOCUS_COLUMNS, COSTS, MONEY, TAGS, TEXT, TIMESTAMP
from finops.tags import parse_tags

Fetch = Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]

_NUMERIC = re.compile(r"(DECIMAL\(\d+,\d+\)|DOUBLE|FLOAT|REAL|U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?)")
_NAIVE_TIME = re.compile(r"TIMESTAMP|TIMESTAMP_(S|MS)|DATE")
_NANOSECONDS = ("TIMESTAMP_NS", "TIMESTAMPTZ_NS")
_ALL_NULL = '"NULL"'  # DuckDB's name for a parquet column of Arrow's null type (polars writes all-None columns so)
_PLAIN_EXTRA = re.compile(r'VARCHAR|BOOLEAN|U?(TINY|SMALL|BIG)?INT(EGER)?|"NULL"')
_TEXT_CASTABLE = re.compile(r'VARCHAR|BOOLEAN|"NULL"|' + _NUMERIC.pattern)
_INSTANCE_SOURCES = ("ChargeDescription", "SkuMeter", "ResourceType", "x_Extras")


@dataclass(frozen=True)
class SqlLoad:
    """The SELECT that yields the files' `costs` rows in column order, and its parameters (`$load_id` is the
    store's to give)."""

    sql: str
    params: dict[str, Any]


def plan_parquet_load(files: Sequence[Path], source: str | None, fetch: Fetch) -> SqlLoad | None:
    """The load as one SELECT, or None when some file needs the streaming path. `fetch` runs a query on the store."""
    if not files or not all(path.name.lower().endswith(".parquet") for path in files):
        return None
    params: dict[str, Any] = {"source": source} if source else {}
    selects: list[str] = []
    tag_keys: list[str] = []
    for index, path in enumerate(files):
        params[f"file_{index}"] = str(path)
        described = fetch("DESCRIBE SELECT * FROM read_parquet($file)", {"file": str(path)})
        file_select = _file_select(index, path, [(str(r[0]), str(r[1])) for r in described], params, bool(source))
        if file_select is None:
            return None
        select, tag_key = file_select
        selects.append(select)
        if tag_key:
            tag_keys.append(tag_key)
    tag_map = _tag_map(tag_keys, params, fetch)
    if tag_map is None:
        return None
    return SqlLoad(f"WITH tag_map AS ({tag_map})\n" + "\nUNION ALL\n".join(selects), params)


def _file_select(
    index: int, path: Path, described: list[tuple[str, str]], params: dict[str, Any], named_source: bool
) -> tuple[str, str] | None:
    """One file's SELECT (its values added to `params`), and the query of its tag texts (empty: it has none)."""
    from finops.connectors.aws_cur import cur_version
    from finops.connectors.azure_cost_details import is_cost_details

    header = [name.strip().lstrip("\ufeff") for name, _ in described]
    if cur_version(header) or is_cost_details(header) or dataset_of(header) != COST_AND_USAGE:
        return None
    types: dict[str, tuple[str, str]] = {}  # canonical name -> (column as written, its parquet type)
    for (raw, sql_type), clean in zip(described, header, strict=True):
        name = focus_name(clean)
        if name in types:
            return None  # duplicate columns: the streaming path names them
        types[name] = (raw, sql_type)
    # FOCUS 1.3+: ProviderName filled from ServiceProviderName where the file's own is empty or absent.
    filled = {old: new for old, new in FILLED_FROM.items() if new in types}
    known = {name for name, _ in ALL_FOCUS_COLUMNS}
    extras = [name for name in types if name not in known]
    typed: dict[str, str] = {}
    for name, sql_type in ALL_FOCUS_COLUMNS:  # a file's own x_Source or x_Extras is one of its extras, never ours
        if name in filled or name in types:
            expr = _typed(name, sql_type, types, filled)
            if expr is None:
                return None
            typed[name] = expr
    version_key = f"version_{index}"
    params[version_key] = checked_version(path)
    inner = ", ".join(f"{expr} AS {_quote(name)}" for name, expr in typed.items())
    if any(not _PLAIN_EXTRA.fullmatch(types[name][1]) for name in extras):
        return None  # polars and DuckDB spell times and floats differently in JSON: the streaming path writes them
    if extras:
        pairs = []
        for position, name in enumerate(extras):
            params[f"extra_{index}_{position}"] = name
            pairs.append(f"$extra_{index}_{position}, s.{_quote(types[name][0])}")
        inner += f", CAST(json_object({', '.join(pairs)}) AS VARCHAR) AS x_Extras"
    else:
        inner += ", CAST(NULL AS VARCHAR) AS x_Extras"
    tag_key = _tag_key(types.get("Tags", ("", ""))[1])
    if tag_key is None:
        return None
    tag_key_expr = tag_key.format(column=f"c.{_quote('Tags')}") if "Tags" in typed else ""
    outer = sql_guards({name: _outer(name, typed, version_key, named_source) for name, _ in COSTS.columns})
    join = f"LEFT JOIN tag_map ON tag_map.text = {tag_key_expr}" if tag_key_expr else ""
    # Identifiers are quoted (_quote) and every value is a parameter: nothing from a file is spliced in as SQL.
    select = f"SELECT {', '.join(outer)}\nFROM (SELECT {inner} FROM read_parquet($file_{index}) s) c {join}"  # noqa: S608
    keys = tag_key.format(column=f"s.{_quote(types['Tags'][0])}") if "Tags" in typed else ""
    return select, (f"SELECT {keys} AS text FROM read_parquet($file_{index}) s" if keys else "")  # noqa: S608


def _typed(name: str, sql_type: str, types: dict[str, tuple[str, str]], filled: dict[str, str]) -> str | None:
    """The inner expression casting a file's column to its canonical type, or None when only the streaming path
    can read it."""
    raw, source_type = types.get(name, ("", ""))
    column = f"s.{_quote(raw)}"
    if source_type == _ALL_NULL and name not in filled:
        return f"CAST(NULL AS {sql_type})"
    if name in filled:
        new_raw, new_type = types[filled[name]]
        new = f"s.{_quote(new_raw)}"
        if not _TEXT_CASTABLE.fullmatch(new_type) or (raw and not _TEXT_CASTABLE.fullmatch(source_type)):
            return None
        old = "CAST(NULL AS VARCHAR)" if not raw or source_type == _ALL_NULL else f"CAST({column} AS VARCHAR)"
        return f"coalesce({old}, CAST({new} AS VARCHAR))"
    if sql_type == TEXT:
        if not _TEXT_CASTABLE.fullmatch(source_type):
            return None
        return column if source_type == "VARCHAR" else f"CAST({column} AS VARCHAR)"
    if sql_type == MONEY:  # QUANTITY is the same type
        if source_type == "VARCHAR":
            return f"CAST(trim({column}) AS {sql_type})"
        if source_type in ("DOUBLE", "FLOAT", "REAL"):
            # The float's shortest decimal repr, as finops.coerce reads it: DuckDB prints a float as the shortest
            # text that reads back as the same float, so 48975.4191462273 loads as written, not as the binary
            # value's 48975.419146227295804. NaN and infinity fail the cast and go to the streaming path.
            return f"CAST(CAST({column} AS VARCHAR) AS {sql_type})"
        return f"CAST({column} AS {sql_type})" if _NUMERIC.fullmatch(source_type) else None
    if sql_type == TIMESTAMP:
        if source_type == "TIMESTAMP WITH TIME ZONE":
            return column
        # Naive times in billing files are UTC by FOCUS's rules. make_timestamptz(microseconds) says so exactly and
        # is 16x faster than a cast, which converts through ICU's calendar (measured: 0.57 s against 0.035 s per
        # 10M values). Nanoseconds are truncated to microseconds, as polars does (a plain cast rounds).
        if source_type in _NANOSECONDS:
            return f"make_timestamptz(epoch_ns({column}) // 1000)"
        if _NAIVE_TIME.fullmatch(source_type):
            return f"make_timestamptz(epoch_us({column}))"
        if source_type != "VARCHAR":
            return None
        parsed = f"CAST(trim({column}) AS TIMESTAMPTZ)"
        # A year before 1900 is a mis-read format, not a bill: refused, as on the streaming path.
        return f"CASE WHEN {parsed} >= TIMESTAMPTZ '1900-01-01' AND isfinite({parsed}) OR {column} IS NULL " \
               f"THEN {parsed} ELSE error('out of range') END"  # fmt: skip
    if sql_type == "JSON":
        if source_type.startswith(("MAP(", "STRUCT(")):  # AWS's FOCUS export writes SkuPriceDetails as a MAP
            return f"CAST(to_json({column}) AS JSON)"
        return f"CAST({column} AS JSON)" if source_type in ("VARCHAR", "JSON") else None
    if sql_type == TAGS:
        return column  # looked up in tag_map by the outer SELECT
    return None


def _tag_key(source_type: str) -> str | None:
    """How a file's tags cell becomes the text `parse_tags` reads (None: a shape only the streaming path takes)."""
    if source_type in ("", "VARCHAR", "JSON", _ALL_NULL):
        return "CAST({column} AS VARCHAR)"
    if source_type == "MAP(VARCHAR, VARCHAR)":  # AWS exports write a MAP: its JSON object text, keys in order
        return "CAST(to_json({column}) AS VARCHAR)"
    return None


def _outer(name: str, typed: dict[str, str], version_key: str, named_source: bool) -> str:
    """The outer expression for one `costs` column, over the typed inner columns `c`."""
    column = f"c.{_quote(name)}"
    if name == "Tags":
        return "tag_map.tags" if name in typed else "CAST(NULL AS MAP(VARCHAR, VARCHAR))"
    if name == "x_Source":
        if named_source:
            return "$source"
        provider = "coalesce(c.ProviderName, 'unknown')" if "ProviderName" in typed else "'unknown'"
        account = "coalesce(c.BillingAccountId, 'unknown')" if "BillingAccountId" in typed else "'unknown'"
        return f"'focus:' || {provider} || ':' || {account}"
    if name == "x_LoadId":
        return "$load_id"
    if name == "x_FocusVersion":
        return f"${version_key}"
    if name == "x_Extras":
        return "CAST(c.x_Extras AS JSON)"
    if name == "x_InstanceType":
        return _instance_type(typed)
    if name not in typed:
        return f"CAST(NULL AS {COSTS.type_of(name)})"
    if name in REQUIRED_VALUES:
        return f"CASE WHEN {column} IS NULL THEN error('empty {name}') ELSE {column} END"
    if name in ENUMS:
        allowed = ", ".join(f"'{value}'" for value in ENUMS[name])
        fixes = " ".join(f"WHEN '{value.lower()}' THEN '{value}'" for value in ENUMS[name])
        return (
            f"CASE WHEN {column} IN ({allowed}) THEN {column} ELSE CASE lower({column}) {fixes} ELSE {column} END END"
        )
    return column


def _instance_type(typed: dict[str, str]) -> str:
    """SkuPriceDetails.InstanceType, else the first instance-type-shaped word in the description columns."""
    found = []
    if "SkuPriceDetails" in typed:
        found.append("json_extract_string(c.SkuPriceDetails, '$.InstanceType')")
    pattern = INSTANCE_TYPE_PATTERN.replace("'", "''")
    for name in _INSTANCE_SOURCES:
        if name in typed or name == "x_Extras":
            found.append(f"nullif(regexp_extract(c.{_quote(name)}, '{pattern}'), '')")
    return f"coalesce({', '.join(found)})"


def _tag_map(key_queries: list[str], params: dict[str, Any], fetch: Fetch) -> str | None:
    """Each distinct tag text of the files, parsed once in Python: a CTE of (text, tags). None when a text is
    not a tag object (the streaming path names its row)."""
    texts: list[str] = []
    keys: list[list[str]] = []
    values: list[list[str]] = []
    if key_queries:
        query = "SELECT DISTINCT text FROM (" + " UNION ALL ".join(key_queries) + ") WHERE text IS NOT NULL"  # noqa: S608 (built above)
        used = {name: value for name, value in params.items() if re.search(rf"\${name}\b", query)}
        for (text,) in fetch(query, used):
            try:
                pairs = parse_tags(text)
            except ValueError:
                return None
            if "\x00" in text:
                return None  # the streaming path names the row (billing_checks)
            if pairs:
                texts.append(text)
                keys.append([key for key, _ in pairs])
                values.append([value for _, value in pairs])
    params.update(tag_texts=texts, tag_keys=keys, tag_values=values)
    return (
        "SELECT text, CAST(map(k, v) AS MAP(VARCHAR, VARCHAR)) AS tags FROM (SELECT unnest($tag_texts::VARCHAR[]) "
        "AS text, unnest($tag_keys::VARCHAR[][]) AS k, unnest($tag_values::VARCHAR[][]) AS v)"
    )


def _quote(identifier: str) -> str:
    """A column name from a file's header as a SQL identifier (names are data: quoted, never trusted)."""
    return '"' + identifier.replace('"', '""') + '"'
