"""The store: one DuckDB file, the only writer to it.

A load replaces whole (source, slice) pieces of a canonical table in one transaction: billing data is
restated for weeks, so re-running a load must replace, never append, and a crash half-way must leave the
previous state. DuckDB lets one process hold a file for writing and refuses every other process at once,
so connections are opened late and closed early, and a refused open is retried briefly before it becomes
a clear "database busy" error.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops import __version__
from finops.errors import SourceError, StoreBusyError, UsageError
from finops.migrations import MIGRATIONS, SCHEMA_VERSION
from finops.schema import COSTS, Table

if TYPE_CHECKING:
    import duckdb
    import polars as pl
    import pyarrow as pa

log = logging.getLogger(__name__)

BUSY_WAIT_S = 10.0


@dataclass(frozen=True)
class SliceChange:
    """What one load did to one (source, slice): rows and totals before and after."""

    source: str
    slice: str
    rows: int
    previous_rows: int
    billed_total: Decimal | None = None
    previous_billed_total: Decimal | None = None
    effective_total: Decimal | None = None
    previous_effective_total: Decimal | None = None


@dataclass(frozen=True)
class LoadResult:
    load_id: str
    table: str
    unchanged: bool = False
    slices: tuple[SliceChange, ...] = field(default_factory=tuple)

    @property
    def rows(self) -> int:
        return sum(change.rows for change in self.slices)


class Store:
    """An open DuckDB store. Use `open_store` to get one; it closes the connection on exit."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only

    # -- reading ------------------------------------------------------------------------------------
    def fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query with bound parameters and return every row (DuckDB 2.0 needs results read fully)."""
        return self.con.execute(sql, params or []).fetchall()

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        return self.con.execute(sql, params or []).to_arrow_table()

    def meta(self, key: str) -> str | None:
        rows = self.fetch("SELECT value FROM finops_meta WHERE key = ?", [key])
        return str(rows[0][0]) if rows else None

    def schema_version(self) -> int:
        if not self.fetch("SELECT 1 FROM information_schema.tables WHERE table_name = 'finops_meta'"):
            return 0
        return int(self.meta("schema_version") or 0)

    # -- writing ------------------------------------------------------------------------------------
    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO finops_meta VALUES (?, ?)", [key, value])

    def migrate(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path} has schema version {current}, newer than this finops understands ({SCHEMA_VERSION}).",
                hint="upgrade finops (pip install -U finops) or point --db at another file",
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            self.con.execute("BEGIN TRANSACTION")
            try:
                for statement in MIGRATIONS[version]:
                    self.con.execute(statement)
                self.set_meta("schema_version", str(version))
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            log.info("migrated %s to schema version %d", self.path, version)

    def is_unchanged(self, table: Table, checksum: str) -> bool:
        """True when a load with this input checksum is still the latest load of every slice it wrote."""
        rows = self.fetch(
            """
            WITH latest AS (
                SELECT source, slice, arg_max(load_id, loaded_at) AS load_id
                FROM loads WHERE table_name = ? GROUP BY source, slice
            )
            SELECT count(*), count(latest.load_id)
            FROM loads l LEFT JOIN latest
              ON latest.source = l.source AND latest.slice = l.slice AND latest.load_id = l.load_id
            WHERE l.table_name = ? AND l.checksum = ?
              AND l.load_id = (SELECT arg_max(load_id, loaded_at) FROM loads
                               WHERE table_name = ? AND checksum = ?)
            """,
            [table.name, table.name, checksum, table.name, checksum],
        )
        written, still_latest = rows[0]
        return bool(written) and written == still_latest

    def replace_slices(
        self,
        table: Table,
        frames: Iterable[pl.DataFrame],
        *,
        checksum: str,
        inputs: Sequence[str],
    ) -> LoadResult:
        """Write frames into `table`, replacing every (source, slice) they contain, in one transaction.

        Each frame must hold the table's columns (missing ones are NULL). Slices not present in the frames are
        left alone, so a load of October never touches September.
        """
        load_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        source_col, *rest = table.slice_by
        slice_col = rest[0] if rest else None
        before: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.con.execute("BEGIN TRANSACTION")
        try:
            for frame in frames:
                frame = frame.with_columns(_lit_column("x_LoadId", load_id))
                for key in _slice_keys(frame, source_col, slice_col):
                    if key not in before:
                        before[key] = self._slice_stats(table, key)
                        self.con.execute(
                            f'DELETE FROM "{table.name}" WHERE {_slice_predicate(source_col, slice_col)}',
                            list(key),
                        )
                self._insert(table, frame)
            changes = [self._record(table, load_id, key, before[key], checksum, inputs) for key in before]
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return LoadResult(load_id, table.name, slices=tuple(changes))

    def _insert(self, table: Table, frame: pl.DataFrame) -> None:
        import polars as pl
        import pyarrow as pa

        present = [name for name in table.column_names if name in frame.columns]
        unknown = sorted(set(frame.columns) - set(table.column_names))
        if unknown:
            raise ValueError(f"frame for {table.name} has columns not in the schema: {unknown}")
        # Newest Arrow layout: string views pass to DuckDB without a copy. Batches of a DuckDB row group
        # let its threads insert in parallel.
        whole = frame.select(present).to_arrow(compat_level=pl.CompatLevel.newest())
        arrow = pa.Table.from_batches(whole.to_batches(max_chunksize=122_880), schema=whole.schema)
        maps = [name for name in present if table.type_of(name).startswith("MAP")]
        projection = [f"_m{maps.index(n)}.m" if n in maps else f'f."{n}"' for n in present]
        joins = [f'LEFT JOIN _finops_map{i} _m{i} ON f."{n}" = _m{i}.k' for i, n in enumerate(maps)]
        columns = ", ".join(f'"{name}"' for name in present)
        self.con.register("_finops_frame", arrow)
        try:
            # Maps arrive as JSON text. Tags repeat across millions of rows, so each distinct text becomes a
            # MAP once and rows join to it: 3-4x faster than building a MAP per row.
            for i, name in enumerate(maps):
                self.con.execute(
                    f"CREATE OR REPLACE TEMP TABLE _finops_map{i} AS SELECT k, CAST(k::JSON AS {table.type_of(name)})"
                    f' AS m FROM (SELECT DISTINCT "{name}" AS k FROM _finops_frame WHERE "{name}" IS NOT NULL)'
                )
            self.con.execute(
                f'INSERT INTO "{table.name}" ({columns}) SELECT {", ".join(projection)} '
                f"FROM _finops_frame f {' '.join(joins)}"
            )
        finally:
            self.con.unregister("_finops_frame")
            for i in range(len(maps)):
                self.con.execute(f"DROP TABLE IF EXISTS _finops_map{i}")

    def _slice_stats(self, table: Table, key: tuple[Any, ...]) -> tuple[Any, ...]:
        source_col, *rest = table.slice_by
        slice_col = rest[0] if rest else None
        totals = 'sum("BilledCost"), sum("EffectiveCost")' if table is COSTS else "NULL, NULL"
        return self.fetch(
            f'SELECT count(*), {totals} FROM "{table.name}" WHERE {_slice_predicate(source_col, slice_col)}',
            list(key),
        )[0]

    def _record(
        self,
        table: Table,
        load_id: str,
        key: tuple[Any, ...],
        previous: tuple[Any, ...],
        checksum: str,
        inputs: Sequence[str],
    ) -> SliceChange:
        now_rows, now_billed, now_effective = self._slice_stats(table, key)
        self.con.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                load_id,
                table.name,
                key[0],
                _slice_text(key),
                now_rows,
                now_billed,
                now_effective,
                previous[0],
                previous[1],
                previous[2],
                checksum,
                list(inputs),
                __version__,
            ],
        )
        return SliceChange(
            source=key[0],
            slice=_slice_text(key),
            rows=now_rows,
            previous_rows=previous[0],
            billed_total=now_billed,
            previous_billed_total=previous[1],
            effective_total=now_effective,
            previous_effective_total=previous[2],
        )


def _lit_column(name: str, value: str) -> pl.Expr:
    import polars as pl

    return pl.lit(value, dtype=pl.String).alias(name)


def _slice_keys(frame: pl.DataFrame, source_col: str, slice_col: str | None) -> list[tuple[Any, ...]]:
    """Distinct (source, slice value) pairs as Python values, bound as parameters when deleting."""
    if slice_col is None:
        return [(s,) for s in frame.get_column(source_col).unique().to_list()]
    return list(frame.select(source_col, slice_col).unique().iter_rows())


def _slice_text(key: tuple[Any, ...]) -> str:
    """How a slice is named in the loads table and in summaries."""
    if len(key) < 2:
        return ""
    value = key[1]
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")
    return str(value)


def _slice_predicate(source_col: str, slice_col: str | None) -> str:
    if slice_col is None:
        return f'"{source_col}" = ?'
    return f'"{source_col}" = ? AND "{slice_col}" = ?'


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(str(path), read_only=read_only)
    # A CLI writes data to stdout: DuckDB 2.0 would print a progress bar there. UTC makes TIMESTAMPTZ
    # arithmetic and text identical on every machine.
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    # Row order inside a table means nothing here; not keeping it makes big loads ~30% faster and leaner.
    con.execute("SET preserve_insertion_order = false")
    return con


@contextmanager
def open_store(path: Path, *, read_only: bool = False, wait_s: float | None = None) -> Iterator[Store]:
    """Open the store (creating and migrating it when writable), retrying while another process holds it.

    The wait defaults to FINOPS_BUSY_TIMEOUT seconds (10)."""
    import duckdb

    if wait_s is None:
        wait_s = float(os.environ.get("FINOPS_BUSY_TIMEOUT", BUSY_WAIT_S))
    if read_only and not path.exists():
        raise UsageError(f"no finops database at {path}", hint="load data first: finops ingest PATH")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            con = _connect(path, read_only)
            break
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise SourceError(f"cannot open {path}: {e}", hint="is it a DuckDB 2.x file?") from e
            if time.monotonic() >= deadline:
                raise StoreBusyError(
                    f"database busy: another finops process is writing {path}",
                    hint=f"wait for it to finish (retried for {wait_s:.0f}s), or use another --db",
                ) from e
            time.sleep(0.2)
        except duckdb.Error as e:
            raise SourceError(f"cannot open {path}: {e}", hint="is it a finops DuckDB file?") from e
    store = Store(con, path, read_only)
    try:
        if not read_only:
            store.migrate()
        elif store.schema_version() == 0:
            raise UsageError(f"{path} is not a finops database", hint="point --db at a finops store")
        yield store
    finally:
        con.close()
