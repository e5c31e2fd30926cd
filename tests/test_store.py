"""The store on real DuckDB files: migrations, atomic slice replacement, a killed writer, a second writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import BILLING

from finops.connectors.focus_files import read_focus_file
from finops.errors import InputError, StoreBusyError, UsageError
from finops.migrations import SCHEMA_VERSION
from finops.schema import CANONICAL_TABLES, COSTS
from finops.store import open_store

AWS = BILLING / "focus-data-toolkit" / "focus_1_2_cost_and_usage_aws.csv"


def costs_state(db: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            'SELECT "x_Source", count(*), sum("BilledCost") FROM costs GROUP BY ALL ORDER BY ALL'
        ).fetchall()


def test_new_store_has_every_canonical_table_and_the_schema_version(db: Path) -> None:
    with open_store(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        money = con.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name='costs' AND column_name='BilledCost'"
        ).fetchall()
        tags = con.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name='costs' AND column_name='Tags'"
        ).fetchall()
    assert set(CANONICAL_TABLES) | {"loads", "finops_meta"} <= tables
    assert money == [("DECIMAL(38,15)",)]
    assert tags == [("MAP(VARCHAR, VARCHAR)",)]


def test_a_store_from_a_newer_finops_is_refused(db: Path) -> None:
    with open_store(db) as store:
        store.set_meta("schema_version", str(SCHEMA_VERSION + 1))
    with pytest.raises(UsageError, match="newer than this finops understands"), open_store(db):
        pass


def test_a_failure_mid_load_rolls_back_everything(db: Path) -> None:
    frame = read_focus_file(AWS, source="aws")
    with open_store(db) as store:
        store.replace_slices(COSTS, [frame], checksum="one", inputs=["a"])
    before = costs_state(db)

    def frames() -> Iterator[pl.DataFrame]:
        yield frame.with_columns(pl.col("BilledCost") * 2)  # deletes the slice, inserts doubled rows...
        raise RuntimeError("connector died")  # ...and then the source fails

    with open_store(db) as store, pytest.raises(RuntimeError, match="connector died"):
        store.replace_slices(COSTS, frames(), checksum="two", inputs=["b"])
    assert costs_state(db) == before
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT DISTINCT checksum FROM loads").fetchall() == [("one",)]


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import polars as pl
    from finops.connectors.focus_files import read_focus_file
    from finops.schema import COSTS
    from finops.store import open_store

    frame = read_focus_file(Path(sys.argv[2]), source="aws")
    def frames():
        yield frame.with_columns(pl.col("BilledCost") * 3)
        print("half-written", flush=True)
        time.sleep(60)  # killed here, between the delete+insert and the commit
        yield frame
    with open_store(Path(sys.argv[1])) as store:
        store.replace_slices(COSTS, frames(), checksum="killed", inputs=["x"])
    """
)


def test_a_writer_killed_mid_load_leaves_the_previous_state(db: Path) -> None:
    with open_store(db) as store:
        store.replace_slices(COSTS, [read_focus_file(AWS, source="aws")], checksum="one", inputs=["a"])
    before = costs_state(db)
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(db), str(AWS)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "half-written"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(timeout=30)
    assert costs_state(db) == before


HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


def test_a_second_writer_gets_database_busy(db: Path, cli) -> None:
    with open_store(db):
        pass
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreBusyError, match="database busy"), open_store(db, wait_s=0.3):
            pass
        result = cli("ingest", "--db", db, AWS)
        assert result.code == 3
        assert "database busy" in result.err and "Traceback" not in result.err
    finally:
        holder.kill()
        holder.wait()


def test_a_reader_waits_for_a_short_write_to_finish(db: Path) -> None:
    with open_store(db):
        pass
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), "0.8"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with open_store(db, read_only=True, wait_s=20) as store:
            assert store.schema_version() == SCHEMA_VERSION
    finally:
        holder.kill()
        holder.wait()


def test_slices_of_other_sources_and_periods_are_untouched(db: Path) -> None:
    frame = read_focus_file(AWS, source="aws")
    with open_store(db) as store:
        store.replace_slices(COSTS, [frame], checksum="a", inputs=["a"])
        store.replace_slices(COSTS, [frame.with_columns(x_Source=pl.lit("other"))], checksum="b", inputs=["b"])
        result = store.replace_slices(COSTS, [frame.head(10)], checksum="c", inputs=["c"])
    assert [(c.source, c.rows, c.previous_rows) for c in result.slices] == [("aws", 10, 500)]
    assert [(s, n) for s, n, _ in costs_state(db)] == [("aws", 10), ("other", 500)]


def test_an_expected_slice_with_no_rows_is_emptied_and_recorded(db: Path) -> None:
    one = read_focus_file(AWS, source="aws")
    frame = pl.concat([one, one.with_columns(pl.col("BillingPeriodStart").dt.offset_by("1mo"))])
    periods = frame.get_column("BillingPeriodStart").unique().sort().to_list()
    assert len(periods) == 2
    with open_store(db) as store:
        store.replace_slices(COSTS, [frame], checksum="a", inputs=["a"])
        # The source now lists nothing for its first period (an emptied manifest): no frames, one expected slice.
        result = store.replace_slices(COSTS, [], checksum="b", inputs=["b"], expected_slices=[("aws", periods[0])])
        left = store.fetch('SELECT count(*) FROM costs WHERE "BillingPeriodStart" = ?', [periods[0]])[0][0]
        recorded = store.fetch("SELECT rows, billed_total FROM loads WHERE load_id = ?", [result.load_id])
    emptied = frame.filter(pl.col("BillingPeriodStart") == periods[0]).height
    assert [(c.source, c.rows, c.previous_rows, c.billed_total) for c in result.slices] == [("aws", 0, emptied, 0)]
    assert result.slices[0].slice.startswith(periods[0].date().isoformat())
    assert left == 0
    assert recorded == [(0, 0)]
    # The other periods of the same source are untouched.
    assert costs_state(db)[0][1] == frame.height - emptied


def test_a_load_whose_money_differs_from_the_source_total_is_refused(db: Path) -> None:
    frame = read_focus_file(AWS, source="aws")
    with open_store(db) as store:
        store.replace_slices(COSTS, [frame], checksum="a", inputs=["a"])
    before = costs_state(db)
    # A control total one cent away from BilledCost on one row: the mapping "lost" a cent.
    controlled = frame.with_columns(
        _control_billed=pl.col("BilledCost") + pl.when(pl.int_range(pl.len()) == 7).then(Decimal("0.01")).otherwise(0)
    )
    with open_store(db) as store, pytest.raises(InputError, match=r"source aws, billing period .*difference -0\.01"):
        store.replace_slices(COSTS, [controlled], checksum="b", inputs=["b"])
    assert costs_state(db) == before
    with open_store(db) as store:  # the exact control passes, and never reaches the table
        store.replace_slices(
            COSTS, [frame.with_columns(_control_billed=pl.col("BilledCost"))], checksum="c", inputs=["c"]
        )
        columns = [row[0] for row in store.fetch("SELECT column_name FROM (DESCRIBE costs)")]
    assert not [name for name in columns if name.startswith("_control")]
    assert costs_state(db) == before


@pytest.mark.parametrize("command", [["report"], ["ingest", str(AWS)]])
def test_a_db_that_is_not_a_duckdb_store_is_named_and_nothing_is_fetched(
    cli, tmp_path: Path, command: list[str]
) -> None:
    import sqlite3

    sqlite = tmp_path / "costs.sqlite"
    with sqlite3.connect(sqlite) as con:
        con.execute("CREATE TABLE t (a)")
    csv_file = tmp_path / "costs.csv"
    csv_file.write_text("a,b\n1,2\n")
    (tmp_path / "a-file").write_text("x")
    cases = [
        (sqlite, "is a SQLite database, not a finops (DuckDB) database"),
        (csv_file, "is a text file, not a finops (DuckDB) database"),
        (tmp_path, "is a folder"),
        (tmp_path / "a-file" / "store.duckdb", "cannot create the folder"),
    ]
    for db, message in cases:
        before = db.read_bytes() if db.is_file() else None
        result = cli(*command, "--db", db)
        if command == ["report"] and message == "cannot create the folder":
            message = "no finops database"  # a reader creates nothing
        assert result.code == 2 and message in result.err, (db, result.err)
        assert "internal error" not in result.err and "sqlite_scanner" not in result.err
        if before is not None:
            assert db.read_bytes() == before  # left exactly as it was


def test_extensions_are_never_installed_or_autoloaded(db: Path) -> None:
    with open_store(db) as store:
        settings = dict(
            store.fetch(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('autoinstall_known_extensions', 'autoload_known_extensions')"
            )
        )
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def test_a_version_1_store_migrates_and_keeps_its_rows(db: Path) -> None:
    from finops.migrations import MIGRATIONS

    with duckdb.connect(str(db)) as con:  # a store as the first release wrote it
        for statement in MIGRATIONS[1]:
            con.execute(statement)
        con.execute("INSERT INTO finops_meta VALUES ('schema_version', '1')")
        con.execute("INSERT INTO usage_metrics (endpoint, requests) VALUES ('chat', 42)")
    with open_store(db) as store:
        assert store.schema_version() == SCHEMA_VERSION >= 2
        assert store.fetch("SELECT endpoint, requests, latency_p95_s FROM usage_metrics") == [("chat", 42, None)]


def test_a_store_from_an_older_finops_is_upgraded_when_only_read(db: Path) -> None:
    """`finops report` opens read-only; a store an older finops wrote must be migrated, not fail mid-query."""
    with open_store(db) as store:
        for table in ("findings", "shutdown_log"):  # what versions 3 and 4 added
            store.con.execute(f"DROP TABLE {table}")
        for column in ("gr_engine_active_pct", "mig_profile"):  # and version 5
            store.con.execute(f"ALTER TABLE gpu_samples DROP COLUMN {column}")
        store.set_meta("schema_version", "2")
    with open_store(db, read_only=True) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.fetch("SELECT count(*) FROM findings") == [(0,)]


def test_the_memory_limit_bounds_the_engine(db: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from finops.memory import batch_rows

    monkeypatch.setenv("FINOPS_MEMORY_LIMIT", "1GiB")
    with open_store(db) as store:  # half the budget for DuckDB, half for the batches in flight
        assert store.fetch("SELECT current_setting('memory_limit')")[0][0] == "512.0 MiB"
    assert batch_rows(1_000_000) == 2**29 // 4096
    monkeypatch.setenv("FINOPS_MEMORY_LIMIT", "1MB")
    assert batch_rows(1_000_000) == 10_000  # never below a useful batch
    monkeypatch.delenv("FINOPS_MEMORY_LIMIT")
    assert batch_rows(1_000_000) == 1_000_000
    bad = cli("--memory-limit", "lots", "report", "--db", db)
    assert bad.code == 2 and "memory limit 'lots'" in bad.err
