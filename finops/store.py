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
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops import __version__
from finops.errors import InputError, SourceError, StoreBusyError, UsageError
from finops.memory import engine_limit
from finops.migrations import MIGRATIONS, SCHEMA_VERSION
from finops.schema import COSTS, Table

if TYPE_CHECKING:
    import duckdb
    import polars as pl
    import pyarrow as pa

    from finops.frames import LoadStream

log = logging.getLogger(__name__)

# The store keeps 15 decimal places: a source writing more (Google's FOCUS view, spreadsheets) loses up to 5e-16 a
# row, so a billion rows stay within a millionth. Anything larger is money gone missing.
CONTROL_TOLERANCE = Decimal("0.000001")
BUSY_WAIT_S = 10.0  # a second writer waits this long, then says "database busy"
READ_WAIT_S = 300.0  # a reader (report, budget check) waits out a sync's write: it never sees half of one


class QueryError(ValueError):
    """A query written outside the store (a user's rule) failed in DuckDB."""


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
    reader: str = "stream"  # "duckdb" when DuckDB read the files itself (connectors/focus_parquet.py)
    also: tuple[LoadResult, ...] = ()  # other tables written by the same load (FOCUS contract commitments)
    left_out: tuple[str, ...] = ()  # input files the load named and did not store, each with why

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

    def fetch_named(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows of a query written elsewhere (a rule); its errors become QueryError."""
        import duckdb

        try:
            cursor = self.con.execute(sql, params)
            return [d[0] for d in cursor.description or []], cursor.fetchall()
        except duckdb.Error as e:
            raise QueryError(str(e)) from e

    def record_findings(self, rows: list[dict[str, Any]]) -> list[bool]:
        """Upsert findings by fingerprint; True for each one not seen before. One transaction."""
        seen = {r[0] for r in self.fetch("SELECT fingerprint FROM findings WHERE fingerprint IN (SELECT unnest(?))",
                                         [[row["fingerprint"] for row in rows]])}  # fmt: skip
        self.con.execute("BEGIN TRANSACTION")
        try:
            for row in rows:
                self.con.execute(
                    """INSERT INTO findings VALUES ($fingerprint, $rule_id, $severity, $subject, $amount, $currency,
                           $period_start, $period_end, $message, $evidence, now(), now(), 1, NULL)
                       ON CONFLICT (fingerprint) DO UPDATE SET last_seen = now(), runs = findings.runs + 1,
                           amount = excluded.amount, message = excluded.message, evidence = excluded.evidence,
                           severity = excluded.severity""",
                    row,
                )
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return [row["fingerprint"] not in seen for row in rows]

    def copy_to(self, query: str, target: Path, fmt: str, *, partition_by: str | None) -> None:
        """Write a query's result with DuckDB's COPY, streaming: one folder per partition value under `target`, or
        (partition_by None) the one file `target`, written even when there are no rows. The query is built by
        finops from its own column names; the target is passed as a value."""
        if fmt not in ("parquet", "csv"):
            raise ValueError(fmt)
        options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
        if partition_by is not None:
            if not re.fullmatch(r"[a-z_]+", partition_by):
                raise ValueError(partition_by)
            options += f", PARTITION_BY ({partition_by}), FILENAME_PATTERN 'part-{{i}}'"
        # COPY takes its target only as a literal (no parameter, no variable): the one value quoted here, escaped.
        quoted = "'" + str(target).replace("'", "''") + "'"
        self.con.execute(f"COPY ({query}) TO {quoted} ({options})")

    def record_shutdown(self, rows: list[dict[str, Any]]) -> None:
        """Append decisions to the shutdown audit log, in one transaction."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            for row in rows:
                self.con.execute(
                    """INSERT INTO shutdown_log VALUES ($at, $run_id, $actor, $instance, $provider, $action, $reason,
                           $per_hour, $evidence)""",
                    row,
                )
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def known_findings(self, fingerprints: list[str]) -> set[str]:
        """Which of these fingerprints earlier runs stored (a trial run marks "new" without writing)."""
        rows = self.fetch("SELECT fingerprint FROM findings WHERE fingerprint IN (SELECT unnest(?))", [fingerprints])
        return {str(r[0]) for r in rows}

    def mark_delivered(self, sink: str, fingerprints: list[str], when: datetime) -> None:
        """Findings one alert sink took at `when`: it is not sent them again (until they are due again)."""
        self.con.execute(
            """INSERT INTO alert_deliveries SELECT unnest(?), ?, ?
               ON CONFLICT (fingerprint, sink) DO UPDATE SET delivered_at = excluded.delivered_at""",
            [fingerprints, sink, when],
        )

    def mark_notified(self, fingerprints: list[str], when: datetime) -> None:
        """Findings delivered to every alert sink at `when`."""
        self.con.execute(
            "UPDATE findings SET notified_at = ? WHERE fingerprint IN (SELECT unnest(?))", [when, fingerprints]
        )

    def fetch_arrow(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """A query's result as Arrow; errors become QueryError (the query may have been written elsewhere)."""
        import duckdb

        try:
            return self.con.sql(sql, params=params or None).to_arrow_table()
        except duckdb.Error as e:
            raise QueryError(str(e)) from e

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
                hint="upgrade finops (pip install -U gpu-finops) or point --db at another file",
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
        expected_slices: Sequence[tuple[Any, ...]] = (),
        controls: dict[tuple[Any, ...], dict[str, Decimal]] | None = None,
    ) -> LoadResult:
        """Write frames into `table`, replacing every (source, slice) they contain, in one transaction.

        Frames hold the table's columns (missing ones load as NULL; maps as JSON object text). Slices the frames
        do not contain are left alone, so a load of October never touches September, except `expected_slices`:
        what the source says the load consists of (a sync's billing period). One of those that no row fills was
        emptied at the source, and is replaced by an explicit empty slice. The new rows go in first, in one
        streaming INSERT; then the old rows of the slices they cover are deleted and the load recorded. Control
        totals the frames carry (finops.frames.CONTROL_COLUMNS), and `controls` the source gave per slice (a
        query's own total), must each equal what was stored, slice by slice, or nothing is written.
        """
        return self.replace_tables([(table, frames)], checksum=checksum, inputs=inputs,
                                   expected_slices=expected_slices, controls=controls)[0]  # fmt: skip

    def replace_tables(
        self,
        loads: Sequence[tuple[Table, Iterable[pl.DataFrame]]],
        *,
        checksum: str,
        inputs: Sequence[str],
        expected_slices: Sequence[tuple[Any, ...]] = (),
        controls: dict[tuple[Any, ...], dict[str, Decimal]] | None = None,
    ) -> list[LoadResult]:
        """replace_slices for several tables in one transaction and under one load id (a FOCUS 1.3 folder: its
        Cost and Usage and its Contract Commitment files), one result per table; `expected_slices` and `controls`
        are the first table's."""
        from finops.frames import LoadStream

        load_id = _new_load_id()
        results = []
        self.con.execute("BEGIN TRANSACTION")
        try:
            for index, (table, frames) in enumerate(loads):
                load = LoadStream(frames, table, {"x_LoadId": load_id})
                self._insert(table, load)
                self._check_controls(table, load_id, load.controls)
                self._check_controls(table, load_id, (controls or {}) if index == 0 else {})
                self._check_currencies(table, load_id, inputs)
                emptied = (set(expected_slices) if index == 0 else set()) - load.slices
                slices = sorted(load.slices | emptied, key=str)
                changes = self._replace_old_rows(table, load_id, slices, checksum, inputs, emptied=emptied)
                results.append(LoadResult(load_id, table.name, slices=changes))
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return results

    def _check_controls(self, table: Table, load_id: str, controls: dict[tuple[Any, ...], dict[str, Decimal]]) -> None:
        """Refuse a load whose stored money differs from the source's own total for any slice: a mapping that
        drops, doubles or zeroes an amount must never pass silently."""
        where = " AND ".join(f'"{name}" = ?' for name in table.slice_by)
        for key, totals in sorted(controls.items(), key=str):
            columns = list(totals)
            sums = ", ".join(f'coalesce(sum("{c}"), 0)' for c in columns)
            stored = self.fetch(f'SELECT {sums} FROM "{table.name}" WHERE "x_LoadId" = ? AND {where}', [load_id, *key])
            for column, got in zip(columns, stored[0], strict=True):
                want = totals[column]
                if abs(got - want) >= CONTROL_TOLERANCE:
                    slice_text = key[1].date().isoformat() if isinstance(key[1], datetime) else str(key[1])
                    raise InputError(
                        f"source {key[0]}, billing period {slice_text}: {column} stored {_exact(got)} but the "
                        f"source's own total is {_exact(want)} (difference {_exact(got - want, sign=True)})",
                        hint="nothing was written for this period: finops refuses a load rather than lose or invent "
                        "money. If the source is complete, please report its shape",
                    )

    def _check_currencies(self, table: Table, load_id: str, inputs: Sequence[str]) -> None:
        """Refuse a load that puts two currencies in one slice of `costs`: a slice is summed into one total. The
        connectors check each frame (naming file and row); a slice spread over several files is only seen here."""
        if table is not COSTS:
            return
        # min <> max: cheaper than a distinct count over every new row; the slice is turned into text after grouping.
        mixed = self.fetch(
            'SELECT "x_Source", "BillingPeriodStart" FROM costs WHERE "x_LoadId" = ? GROUP BY ALL '
            'HAVING min("BillingCurrency") <> max("BillingCurrency") ORDER BY ALL LIMIT 1',
            [load_id],
        )
        if mixed:
            source, start = mixed[0]
            period, currencies = self.fetch(
                'SELECT CAST(CAST(min("BillingPeriodStart") AS DATE) AS VARCHAR), list(DISTINCT "BillingCurrency" '
                'ORDER BY "BillingCurrency") FILTER ("BillingCurrency" IS NOT NULL) FROM costs '
                'WHERE "x_LoadId" = ? AND "x_Source" = ? AND "BillingPeriodStart" = ?',
                [load_id, source, start],
            )[0]
            files = ", ".join(inputs[:5]) + (f" and {len(inputs) - 5} more" if len(inputs) > 5 else "")
            raise InputError(
                f"source {source}, billing period {period}: rows in {len(currencies)} currencies "
                f"({', '.join(currencies)}) from the files of this load ({files})",
                hint="a billing period's rows are summed into one total, so they must share one currency: load each "
                "currency's files under its own --source; nothing was written",
            )

    def replace_slices_from_query(
        self, table: Table, select: str, params: dict[str, Any], *, checksum: str, inputs: Sequence[str]
    ) -> LoadResult:
        """replace_slices for rows DuckDB produces itself: `select` (built by finops, values in `params`, the load
        id as `$load_id`) yields `table`'s columns in order. Any DuckDB error (a guard's `error()` among them) or a
        failed check rolls back and becomes QueryError, so the caller can load the same input through the checked
        path instead."""
        import duckdb

        load_id = _new_load_id()
        key = ", ".join(f'"{name}"' for name in table.slice_by)
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute(f'INSERT INTO "{table.name}" {select}', {**params, "load_id": load_id})
            self._check_currencies(table, load_id, inputs)
            slices = self.fetch(f'SELECT DISTINCT {key} FROM "{table.name}" WHERE "x_LoadId" = ?', [load_id])
            changes = self._replace_old_rows(table, load_id, sorted(slices, key=str), checksum, inputs)
            self.con.execute("COMMIT")
        except (duckdb.Error, InputError) as e:  # the checked path loads it again, and names the file and row
            self.con.execute("ROLLBACK")
            raise QueryError(str(e)) from e
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return LoadResult(load_id, table.name, slices=changes, reader="duckdb")

    def _insert(self, table: Table, load: LoadStream) -> None:
        import duckdb

        self.con.register("_finops_stream", load.reader())
        try:
            self.con.execute(f'INSERT INTO "{table.name}" SELECT * FROM _finops_stream')
        except duckdb.Error:
            if load.failure:  # the connector's own error (an InputError naming file, row, column), not DuckDB's text
                raise load.failure from None
            raise
        finally:
            with suppress(duckdb.Error):  # an aborted transaction refuses even this; the next register replaces it
                self.con.unregister("_finops_stream")

    def _replace_old_rows(
        self,
        table: Table,
        load_id: str,
        slices: list[tuple[Any, ...]],
        checksum: str,
        inputs: Sequence[str],
        emptied: set[tuple[Any, ...]] | None = None,
    ) -> tuple[SliceChange, ...]:
        """Delete the rows this load replaces and record, per slice, what was there before and what is now."""
        if not slices:
            return ()
        key = ", ".join(f'"{name}"' for name in table.slice_by)
        values = ", ".join("(" + ", ".join("?" for _ in table.slice_by) + ")" for _ in slices)
        keys: list[Any] = [value for slice_key in slices for value in slice_key]
        in_load = f"({key}) IN (VALUES {values})"
        totals = (
            'sum("BilledCost") AS billed, sum("EffectiveCost") AS effective'
            if table is COSTS
            else "NULL AS billed, NULL AS effective"
        )
        slice_value = f'"{table.slice_by[1]}"' if len(table.slice_by) > 1 else "''"
        # Grouped first, the slice turned into text after: casting a timestamp per row (ICU) took 0.8 s of 1 s
        # on a 10M-row load.
        rows = self.fetch(
            f"SELECT source, CAST(slice AS VARCHAR), is_new, n, billed, effective FROM ("
            f'SELECT "{table.slice_by[0]}" AS source, {slice_value} AS slice, "x_LoadId" = ? AS is_new, count(*) AS n, '
            f'{totals} FROM "{table.name}" WHERE {in_load} GROUP BY ALL)',
            [load_id, *keys],
        )
        after = {(r[0], r[1]): r[3:] for r in rows if r[2]}
        before = {(r[0], r[1]): r[3:] for r in rows if not r[2]}
        for slice_key in emptied or ():  # an expected slice no row filled: recorded empty, its old rows deleted
            text = self._slice_text(table, slice_key)
            after.setdefault(text, (0, Decimal(0), Decimal(0)) if table is COSTS else (0, None, None))
        self.con.execute(f'DELETE FROM "{table.name}" WHERE "x_LoadId" <> ? AND {in_load}', [load_id, *keys])
        changes = []
        for (source, slice_text), (count, billed, effective) in sorted(after.items()):
            old_rows, old_billed, old_effective = before.get((source, slice_text), (0, None, None))
            self.con.execute(
                "INSERT INTO loads VALUES (?, ?, ?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [load_id, table.name, source, slice_text, count, billed, effective, old_rows, old_billed,
                 old_effective, checksum, list(inputs), __version__],
            )  # fmt: skip
            changes.append(
                SliceChange(source, slice_text, count, old_rows, billed, old_billed, effective, old_effective)
            )
        return tuple(changes)

    def _slice_text(self, table: Table, slice_key: tuple[Any, ...]) -> tuple[str, str]:
        """A slice key as the loads table records it: the source, and the slice value as DuckDB writes it."""
        if len(table.slice_by) < 2:
            return (str(slice_key[0]), "")
        sql_type = table.type_of(table.slice_by[1])
        text = self.fetch(f"SELECT CAST(CAST(? AS {sql_type}) AS VARCHAR)", [slice_key[1]])[0][0]
        return (str(slice_key[0]), text)


def _exact(amount: Decimal, *, sign: bool = False) -> str:
    """Money as exactly as it is stored (trailing zeros dropped): a difference of 0.000004 must not read as 0.00."""
    text = format(amount.normalize() if amount else Decimal(0), "+,f" if sign else ",f")
    return text if "." in text else text + ".00"


def _new_load_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def query_tables(
    sql: str, tables: dict[str, pa.Table], params: dict[str, Any]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a query over Arrow tables alone, in a private in-memory DuckDB (never the store): the statistical tier
    of a rule, over its heavy tier's results. Errors become QueryError."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name, table in tables.items():
            con.register(name, table)
        cursor = con.execute(sql, params)
        return [d[0] for d in cursor.description or []], cursor.fetchall()
    except duckdb.Error as e:
        raise QueryError(str(e)) from e
    finally:
        con.close()


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(str(path), read_only=read_only, config=OFFLINE)
    # A CLI writes data to stdout: DuckDB 2.0 would print a progress bar there. UTC makes TIMESTAMPTZ
    # arithmetic and text identical on every machine.
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    # Row order inside a table means nothing here; not keeping it makes big loads ~30% faster and leaner.
    con.execute("SET preserve_insertion_order = false")
    limit = engine_limit()
    if limit:
        # --memory-limit: DuckDB keeps to its share and spills to disk past it, so a nightly job on a small VM is
        # not killed by the OOM killer (finops.memory splits the budget with the ingest batches).
        con.execute("SET memory_limit = ?", [limit])
    return con


# Never fetch or load an extension behind the user's back: a SQLite or CSV file given as --db made DuckDB try to
# download a scanner from the internet. finops needs only what DuckDB has built in (parquet, json, icu).
OFFLINE: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
# What a file that is not a DuckDB database usually is, by its first bytes, for the error.
_OTHER_FILES = ((b"SQLite format 3\x00", "a SQLite database"), (b"PAR1", "a parquet file"),
                (b"\x1f\x8b", "a gzip file"), (b"PK\x03\x04", "a zip file"))  # fmt: skip


def _check_is_duckdb(path: Path) -> None:
    """Refuse, naming what it is, a --db that exists but is not a DuckDB database (DuckDB's own errors say "cannot
    launch in-memory database in read-only mode" or try to install an extension)."""
    if path.is_dir():
        raise UsageError(f"--db {path} is a folder", hint="give a file path, e.g. --db finops.duckdb")
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except (FileNotFoundError, NotADirectoryError):
        return  # a new store; a parent that is a file is reported when the folder is made
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}", hint="check the file's permissions") from e
    if not head or head[8:12] == b"DUCK":
        return
    kind = next((name for magic, name in _OTHER_FILES if head.startswith(magic)), None)
    if kind is None:
        kind = "a text file" if all(32 <= b < 127 or b in (9, 10, 13) for b in head) else "not a DuckDB database"
    raise UsageError(
        f"{path} is {kind}, not a finops (DuckDB) database",
        hint="point --db at a finops store, or at a new path to create one; load data with finops ingest",
    )


def _needs_migration(path: Path) -> bool:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True, config=OFFLINE)
    except duckdb.Error:
        return False  # busy or unreadable: the real open below reports it
    try:
        row = con.execute("SELECT value FROM finops_meta WHERE key = 'schema_version'").fetchone()
    except duckdb.Error:
        return False
    finally:
        con.close()
    return row is not None and 0 < int(row[0]) < SCHEMA_VERSION


@contextmanager
def open_store(path: Path, *, read_only: bool = False, wait_s: float | None = None) -> Iterator[Store]:
    """Open the store (creating and migrating it when writable), retrying while another process holds it.

    DuckDB lets one process write a file and no other process open it meanwhile, so both sides wait: a second
    writer for FINOPS_BUSY_TIMEOUT seconds (default 10) and then fails with "database busy"; a reader for the same
    variable's value (default 300), long enough to outlast a sync's write, after which it reads the committed
    state. Nobody ever reads half a write."""
    import duckdb

    if wait_s is None:
        wait_s = float(os.environ.get("FINOPS_BUSY_TIMEOUT", READ_WAIT_S if read_only else BUSY_WAIT_S))
    if read_only and not path.exists():
        raise UsageError(f"no finops database at {path}", hint="load data first: finops ingest PATH")
    _check_is_duckdb(path)
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot create the folder {path.parent} for --db: {e.strerror}",
                             hint="choose a --db path in a folder you can write") from e  # fmt: skip
    if read_only and _needs_migration(path):
        # A store written by an older finops: upgrade it first (migrations only add), then read it as asked.
        with open_store(path, wait_s=wait_s):
            pass
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            con = _connect(path, read_only)
            break
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise SourceError(f"cannot open {path}: {e}", hint="is it a DuckDB 2.x file?") from e
            if not told:
                log.warning("%s is being written by another finops process; waiting up to %.0f s", path, wait_s)
                told = True
            if time.monotonic() >= deadline:
                raise StoreBusyError(
                    f"database busy: another finops process is writing {path}",
                    hint=f"wait for it to finish (retried for {wait_s:.0f}s), or use another --db",
                ) from e
            time.sleep(0.2)
        except duckdb.Error as e:
            raise SourceError(f"cannot open {path}: {e}", hint="is it a finops DuckDB file?") from e
        except OSError as e:  # a folder DuckDB cannot write its file or WAL in
            raise UsageError(f"cannot open {path}: {e.strerror}",
                             hint="choose a --db path in a folder you can write") from e  # fmt: skip
    store = Store(con, path, read_only)
    try:
        if not read_only:
            store.migrate()
        elif store.schema_version() == 0:
            raise UsageError(f"{path} is not a finops database", hint="point --db at a finops store")
        elif store.schema_version() > SCHEMA_VERSION:
            store.migrate()  # refuses, naming both versions
        yield store
    finally:
        con.close()
