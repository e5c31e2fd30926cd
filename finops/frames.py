"""Connector frames to one Arrow stream in a canonical table's exact shape, for a single streaming INSERT.

DuckDB keeps rows appended by many INSERT statements of one transaction in memory until the commit (about 1 GB
per million FOCUS rows, measured), but writes a single large INSERT to disk as it goes. So a load is one INSERT
that pulls batches from the connector as it needs them: memory stays flat, the load stays one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from functools import lru_cache

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from finops.coerce import polars_type
from finops.schema import CONTROL_COLUMNS, Table

MAP_TYPE = pa.map_(pa.string(), pa.string())
# Dictionary-encoded: DuckDB takes each distinct map once (measured 7x faster than a map per row).
MAP_COLUMN_TYPE = pa.dictionary(pa.int32(), MAP_TYPE)


@lru_cache(maxsize=16)
def arrow_schema(table: Table, constants: frozenset[str]) -> pa.Schema:
    """The Arrow shape of a table's stream: polars' Arrow types, maps and constant columns dictionary-encoded."""
    empty = pl.DataFrame(schema={name: polars_type(sql_type) for name, sql_type in table.columns})
    fields = []
    for field in empty.to_arrow(compat_level=pl.CompatLevel.newest()).schema:
        if table.type_of(field.name).startswith("MAP"):
            field = pa.field(field.name, MAP_COLUMN_TYPE)
        elif field.name in constants:
            field = pa.field(field.name, pa.dictionary(pa.int32(), pa.string()))
        fields.append(field)
    return pa.schema(fields)


def conform(frame: pl.DataFrame, table: Table, constants: dict[str, str]) -> pa.Table:
    """Every column of `table`, in order and type: missing columns as Arrow nulls and constants as one-value
    dictionaries (neither costs a buffer per row), maps as dictionary-encoded Arrow maps."""
    unknown = sorted(set(frame.columns) - set(table.column_names))
    if unknown:
        raise ValueError(f"frame for {table.name} has columns not in the schema: {unknown}")
    schema = arrow_schema(table, frozenset(constants))
    rows = frame.height
    present = frame.select([n for n in table.column_names if n in frame.columns and n not in constants])
    arrow = present.to_arrow(compat_level=pl.CompatLevel.newest())
    columns: list[pa.Array | pa.ChunkedArray] = []
    for field in schema:
        if field.name in constants:
            zeros = pl.zeros(rows, dtype=pl.Int32, eager=True).to_arrow()
            columns.append(pa.DictionaryArray.from_arrays(zeros, _strings([constants[field.name]])))
        elif field.name not in present.columns:
            columns.append(pa.nulls(rows, field.type))
        elif field.type == MAP_COLUMN_TYPE:
            columns.append(_json_to_map(arrow.column(field.name)))
        else:
            column = arrow.column(field.name)
            columns.append(column if column.type == field.type else column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _json_to_map(column: pa.ChunkedArray) -> pa.DictionaryArray:
    """JSON object text to dictionary-encoded Arrow maps, each distinct text parsed once (tags repeat across
    millions of rows)."""
    text = pc.cast(column.combine_chunks(), pa.string()) if column.num_chunks else _strings([])
    encoded = pc.dictionary_encode(text)
    offsets, keys, values = [0], [], []
    for value in encoded.dictionary.to_pylist():
        for key, item in json.loads(value).items():
            keys.append(key)
            values.append(item)
        offsets.append(len(keys))
    maps = pa.MapArray.from_arrays(pl.Series(offsets, dtype=pl.Int32).to_arrow(), _strings(keys), _strings(values))
    return pa.DictionaryArray.from_arrays(encoded.indices, maps)


def _strings(values: list[str | None]) -> pa.Array:
    """Python strings as an Arrow string array, built by polars: pyarrow's own constructors (pa.array, pa.scalar)
    import pandas whenever it is installed, which cost every ingest a second for nothing."""
    return pl.Series(values, dtype=pl.String).to_arrow().cast(pa.string())


class LoadStream:
    """All frames of a load as one Arrow reader, noting the (source, slice) keys the rows carry as they pass,
    and summing per slice any control totals the frames carry (CONTROL_COLUMNS), which never reach the table.

    DuckDB pulls from `reader` inside the INSERT. An exception raised by a connector is kept in `failure`
    first, because DuckDB passes it on only as text.
    """

    def __init__(self, frames: Iterable[pl.DataFrame], table: Table, constants: dict[str, str]) -> None:
        self.table = table
        self.constants = constants
        self.slices: set[tuple[object, ...]] = set()
        self.controls: dict[tuple[object, ...], dict[str, Decimal]] = {}
        self.failure: BaseException | None = None
        self._frames = iter(frames)

    def reader(self) -> pa.RecordBatchReader:
        schema = arrow_schema(self.table, frozenset(self.constants))
        return pa.RecordBatchReader.from_batches(schema, self._batches())

    def _batches(self) -> Iterator[pa.RecordBatch]:
        try:
            for frame in self._frames:
                self.slices.update(frame.select(self.table.slice_by).unique().iter_rows())
                frame = self._take_controls(frame)
                yield from conform(frame, self.table, self.constants).to_batches(max_chunksize=122_880)
        except BaseException as e:
            self.failure = e
            raise

    def _take_controls(self, frame: pl.DataFrame) -> pl.DataFrame:
        present = [name for name in CONTROL_COLUMNS if name in frame.columns]
        if not present:
            return frame
        sums = frame.group_by(self.table.slice_by).agg(pl.col(present).sum())
        for row in sums.iter_rows(named=True):
            key = tuple(row[name] for name in self.table.slice_by)
            totals = self.controls.setdefault(key, {})
            for name in present:
                column = CONTROL_COLUMNS[name]
                totals[column] = totals.get(column, Decimal(0)) + (row[name] or Decimal(0))
        return frame.drop(present)
