"""Turn raw columns (text from CSV, loosely typed parquet) into a canonical table's exact types.

Every connector goes through here, so a bad cell gets the same error everywhere: the file, the row, the
column and the value, and nothing is written. Ids are never inferred (a 12-digit account id stays text).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import polars as pl

from finops.errors import InputError
from finops.schema import Table
from finops.tags import parse_tags

if TYPE_CHECKING:
    from collections.abc import Callable

ROW = "_row"  # 1-based data row number, added by readers so errors can point at it
TAG_ENTRY = pl.Struct({"key": pl.String, "value": pl.String})  # a map entry, as a list-of-struct

_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M%#z",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%m/%d/%y %H:%M:%S",
    "%m/%d/%y %H:%M",
    "%m/%d/%y",  # before %Y, which would read "5/1/25" as the year 25
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
)


def polars_type(sql_type: str) -> pl.DataType:
    """The polars type a connector frame uses for a canonical SQL type."""
    if sql_type.startswith("DECIMAL"):
        precision, scale = (int(part) for part in sql_type[8:-1].split(","))
        return pl.Decimal(precision, scale)
    simple: dict[str, pl.DataType] = {
        "TIMESTAMPTZ": pl.Datetime("us", "UTC"),
        "VARCHAR": pl.String(),
        "JSON": pl.String(),
        "DOUBLE": pl.Float64(),
        "BIGINT": pl.Int64(),
        "INTEGER": pl.Int32(),
        "DATE": pl.Date(),
        "DOUBLE[]": pl.List(pl.Float64),
        "BIGINT[]": pl.List(pl.Int64),
        # Maps travel as canonical JSON object text; the store turns each distinct text into a MAP once.
        "MAP(VARCHAR, VARCHAR)": pl.String(),
    }
    return simple[sql_type]


def coerce(frame: pl.DataFrame, table: Table, *, file: str) -> pl.DataFrame:
    """Cast every column of `frame` that belongs to `table` to its canonical type, or raise InputError."""
    casts = []
    for name in frame.columns:
        if name == ROW or name not in table.column_names:
            continue
        target = polars_type(table.type_of(name))
        casts.append(_cast_column(frame, name, target, table.type_of(name), file))
    return frame.with_columns(casts) if casts else frame


def _cast_column(frame: pl.DataFrame, name: str, target: pl.DataType, sql_type: str, file: str) -> pl.Series:
    # Maps and JSON are text on both sides, so their check comes before the "already the right type" shortcut.
    if sql_type == "MAP(VARCHAR, VARCHAR)":
        return _tags(frame, name, file)
    if sql_type == "JSON":
        return _json_text(frame, name, file)
    column = frame.get_column(name)
    if column.dtype == target:
        return column
    if target == pl.String:
        return as_text(column)
    if isinstance(target, pl.Decimal) and column.dtype == pl.String:
        # "" is no value: AWS writes it in string-typed CUR 2.0 columns (rates on tax, fee and credit lines).
        column = blank_as_null(column)
    if isinstance(target, pl.Datetime):
        converted = _timestamps(column)
        what = "a date/time (e.g. 2024-10-01T00:00:00Z)"
    elif isinstance(target, pl.Decimal):
        converted = _decimals(column, target)
        what = "a number"
    else:
        converted = column.cast(target, strict=False)
        what = f"a value of type {sql_type}"
    _raise_on_failure(frame, column, converted, name, file, what)
    return converted


def blank_as_null(column: pl.Series) -> pl.Series:
    """Text with empty and all-blank cells as NULL."""
    return pl.select(pl.when(column.str.strip_chars() != "").then(column)).to_series().alias(column.name)


def as_text(column: pl.Series) -> pl.Series:
    """Any column as text. Nested values become JSON text, never an error: a parquet MAP (polars: a list of
    {key, value}) or a struct is a JSON object, a list a JSON array. Floats print as their shortest repr."""
    dtype = column.dtype
    if dtype == pl.String:
        return column
    if isinstance(dtype, pl.Map):  # a parquet MAP: its entries, as polars also reads them
        column = column.cast(pl.List(pl.Struct({"key": dtype.key, "value": dtype.value})))
        dtype = column.dtype
    if isinstance(dtype, pl.List) and _is_map_entry(dtype.inner):
        return _map_entries_as_json(column).alias(column.name)
    if isinstance(dtype, pl.Struct):
        encoded = column.struct.json_encode()
    elif isinstance(dtype, pl.List | pl.Array):
        wrapped = pl.DataFrame({"v": column}).select(pl.struct("v").struct.json_encode()).to_series()
        encoded = wrapped.str.strip_prefix('{"v":').str.strip_suffix("}")  # the list's own JSON array
    else:
        return column.cast(pl.String)
    return pl.select(pl.when(column.is_not_null()).then(encoded)).to_series().alias(column.name)


def _is_map_entry(dtype: object) -> bool:
    return isinstance(dtype, pl.Struct) and [field.name for field in dtype.fields] == ["key", "value"]


def _raise_on_failure(
    frame: pl.DataFrame, before: pl.Series, after: pl.Series, name: str, file: str, what: str
) -> None:
    failed = after.is_null() & before.is_not_null()
    if not failed.any():
        return
    index = int(failed.arg_true()[0])
    row = frame.get_column(ROW)[index] if ROW in frame.columns else index + 1
    count = int(failed.sum())
    more = f" ({count - 1} more rows like it)" if count > 1 else ""
    raise InputError(
        f"{file}: row {row}, column {name}: {before[index]!r} is not {what}{more}",
        hint="fix the value in the source file, or export it again; nothing was loaded",
    )


def _decimals(column: pl.Series, target: pl.DataType) -> pl.Series:
    if column.dtype.is_float():
        # Money written as a float (CUR 2.0 parquet writes every cost as a double) is read as the float's shortest
        # decimal repr, the number the exporter meant: 48975.4191462273, not the binary value's
        # 48975.419146227295804. polars prints floats as the shortest text that reads back as the same float
        # (as Python's repr does); NaN and infinity print as words, fail below and are named.
        column = column.cast(pl.String)
    if column.dtype != pl.String:
        return column.cast(target, strict=False)
    text = column.str.strip_chars()
    strict = text.cast(target, strict=False)
    # Spreadsheet-exported files (the FOCUS spec's own examples) write "$10,100.00 ": accept a leading currency
    # symbol and thousands separators, but only in that exact shape, so "1,5" is never read as 15.
    unsigned = text.str.replace(r"^\((.*)\)$", "-$1").str.replace(r"^(-?)[$€£¥]\s*", "$1")
    loose = (
        pl.select(
            pl.when(unsigned.str.contains(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$"))
            .then(unsigned.str.replace_all(",", ""))
            .otherwise(unsigned)
        )
        .to_series()
        .cast(target, strict=False)
    )
    return strict.fill_null(loose)


def _timestamps(column: pl.Series) -> pl.Series:
    if isinstance(column.dtype, pl.Datetime):
        if column.dtype.time_zone is None:  # naive times in billing files are UTC by FOCUS's rules
            return column.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return column.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if column.dtype == pl.Date:
        return column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    text = column.cast(pl.String).str.strip_chars().str.replace("T", " ").str.replace(r"Z$", "+00:00")
    parsed = text.str.to_datetime(_TIME_FORMATS[0], strict=False, time_zone="UTC", time_unit="us")
    for fmt in _TIME_FORMATS[1:]:
        if not (parsed.is_null() & text.is_not_null()).any():
            break
        parsed = parsed.fill_null(text.str.to_datetime(fmt, strict=False, time_zone="UTC", time_unit="us"))
    # A year before 1900 is a mis-read format, not a bill: let it fail loudly.
    return pl.select(pl.when(parsed.dt.year() >= 1900).then(parsed)).to_series().alias(column.name)


def _unique_map(column: pl.Series, convert: Callable[[str], str | None]) -> pl.Series:
    """Apply a Python conversion once per distinct value (tags repeat across millions of rows)."""
    uniques = column.unique().drop_nulls().to_list()
    converted = [convert(u) for u in uniques]
    return column.replace_strict(uniques, converted, default=None, return_dtype=pl.String)


def _map_entries_as_json(column: pl.Series) -> pl.Series:
    """A parquet MAP (polars: list of {key, value}) as JSON object text, without a Python loop per row."""
    entry = pl.element().struct.json_encode().str.replace(r'^\{"key":(".*?"),"value":(.*)\}$', "$1:$2")
    joined = column.to_frame("m").select(pl.col("m").list.eval(entry).list.join(",")).to_series()
    return pl.select(pl.when(joined.is_not_null()).then(pl.concat_str(pl.lit("{"), joined, pl.lit("}")))).to_series()


def _tags(frame: pl.DataFrame, name: str, file: str) -> pl.Series:
    """Tags as canonical JSON object text with normalised keys; empty tags become NULL."""
    column = as_text(frame.get_column(name))  # a parquet MAP (AWS exports write tags so) as a JSON object
    bad: dict[str, str] = {}

    def convert(text: str) -> str | None:
        try:
            pairs = parse_tags(text)
        except ValueError as e:
            bad[text] = str(e)
            return None
        return json.dumps(dict(pairs), ensure_ascii=False, separators=(",", ":")) if pairs else None

    converted = _unique_map(column, convert)
    if bad:
        index = int(column.is_in(list(bad)).arg_true()[0])
        row = frame.get_column(ROW)[index] if ROW in frame.columns else index + 1
        raise InputError(
            f"{file}: row {row}, column {name}: {column[index]!r}: {bad[column[index]]}",
            hint='tags must be a JSON object such as {"team": "ml"}; nothing was loaded',
        )
    return converted.alias(name)


def _json_text(frame: pl.DataFrame, name: str, file: str) -> pl.Series:
    column = as_text(frame.get_column(name))  # AWS's FOCUS export writes SkuPriceDetails as a parquet MAP

    def valid(text: str) -> str | None:
        try:
            json.loads(text)
        except json.JSONDecodeError:
            return None
        return text

    checked = _unique_map(column, valid)
    _raise_on_failure(frame, column, checked, name, file, "valid JSON")
    return checked
