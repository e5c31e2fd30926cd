"""`finops gpu watch`: the sampler agent's loop. Every interval it reads every GPU through NVML; every flush it
writes what this run has seen today, either into the store or into spool files (parquet, written with pyarrow
alone) that `finops gpu load` ingests on a host that can reach the store.

Each run is its own source (`nvml:<host>:<start time>-<random>`), so a restart never replaces another run's samples, and
each flush replaces the run's slice for the day with everything it holds: a crash loses at most one flush
interval, and a killed flush leaves the previous one. SIGTERM and SIGINT stop the loop after the sample in hand,
flush, and exit 0: no partial rows.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from finops.schema import GPU_PROCESSES, GPU_SAMPLES, Table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchOptions:
    interval_s: float = 15.0
    flush_s: float = 60.0
    spool: Path | None = None
    db: Path | None = None
    count: int | None = None  # stop after this many samples (for tests and one-off checks)
    duration_s: float | None = None
    instance_id: str | None = None
    instance_type: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class WatchSummary:
    source: str
    samples: int
    gpus: int
    wall_s: float
    cpu_s: float

    @property
    def overhead_pct(self) -> float:
        """CPU time the sampler used, as a share of one core over the run."""
        return 100.0 * self.cpu_s / self.wall_s if self.wall_s else 0.0


def watch(options: WatchOptions, on_flush: Callable[[int], None] | None = None, nvml: Any = None) -> WatchSummary:
    """Sample until `count`, `duration`, SIGTERM or SIGINT. `nvml` replaces the pynvml module (tests of error
    paths only; real behaviour is checked on a real GPU)."""
    from finops.connectors.nvml import NvmlSampler, cpu_seconds, host_metadata

    if (options.spool is None) == (options.db is None):
        from finops.errors import UsageError

        raise UsageError("give one destination: --spool DIR or --db PATH")
    meta = host_metadata()
    started = datetime.now(UTC)
    source = f"nvml:{meta['host']}:{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"  # unique per run
    extra = {"host": meta["host"], "instance_id": options.instance_id or meta["instance_id"],
             "instance_type": options.instance_type, "provider": options.provider}  # fmt: skip
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    day_rows: dict[Table, list[dict[str, Any]]] = {GPU_SAMPLES: [], GPU_PROCESSES: []}
    today: date | None = None
    taken, cpu_start, wall_start, last_flush = 0, cpu_seconds(), time.monotonic(), time.monotonic()
    try:
        with NvmlSampler(nvml) as sampler:
            gpus = len(sampler.gpus)
            while not stop.is_set():
                tick = time.monotonic()
                samples, processes = sampler.sample(options.interval_s)
                if samples and today is not None and samples[0]["ts"].date() != today:
                    _flush(options, source, day_rows)  # the day is over: write it once more, then start afresh
                    day_rows = {GPU_SAMPLES: [], GPU_PROCESSES: []}
                today = samples[0]["ts"].date() if samples else today
                day_rows[GPU_SAMPLES].extend({**row, **extra, "x_Day": row["ts"].date()} for row in samples)
                day_rows[GPU_PROCESSES].extend(
                    {**row, "host": extra["host"], "x_Day": row["ts"].date()} for row in processes
                )
                taken += 1
                done = (options.count is not None and taken >= options.count) or (
                    options.duration_s is not None and time.monotonic() - wall_start >= options.duration_s)  # fmt: skip
                if done or time.monotonic() - last_flush >= options.flush_s:
                    _flush(options, source, day_rows)
                    last_flush = time.monotonic()
                    if on_flush:
                        on_flush(taken)
                if done:
                    break
                stop.wait(max(0.0, options.interval_s - (time.monotonic() - tick)))
            _flush(options, source, day_rows)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return WatchSummary(source, taken, gpus, time.monotonic() - wall_start, cpu_seconds() - cpu_start)


def _flush(options: WatchOptions, source: str, day_rows: dict[Table, list[dict[str, Any]]]) -> None:
    if not day_rows[GPU_SAMPLES]:
        return
    if options.spool is not None:
        for table, rows in day_rows.items():
            if rows:  # no process on any GPU all day is no file, not an empty one
                write_spool(options.spool, table, source, rows)
        return
    assert options.db is not None
    from finops.store import open_store

    with open_store(options.db) as store:
        for table, rows in day_rows.items():
            if rows:
                store.replace_slices(table, [rows_to_frame(table, rows, source)], checksum=source, inputs=[source])


def _arrow_type(sql_type: str) -> Any:
    import pyarrow as pa

    types = {"TIMESTAMPTZ": pa.timestamp("us", tz="UTC"), "DOUBLE": pa.float64(), "BIGINT": pa.int64(),
             "INTEGER": pa.int32(), "DATE": pa.date32()}  # fmt: skip
    return types.get(sql_type, pa.string())  # text, JSON and maps (as JSON text)


def _cell(value: Any) -> Any:
    import json

    return json.dumps(value) if isinstance(value, dict) else value


def write_spool(folder: Path, table: Table, source: str, rows: list[dict[str, Any]]) -> Path:
    """All of this run's rows for one day as one parquet file, replaced atomically (pyarrow only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    names = [name for name in table.column_names if name not in ("x_LoadId",)]
    schema = pa.schema([(name, _arrow_type(table.type_of(name))) for name in names])
    columns = {name: [_cell(row.get(name)) for row in rows] for name in names}
    columns["x_Source"] = [source] * len(rows)
    day = rows[0]["x_Day"].isoformat()
    target = folder / f"{table.name}--{source.replace(':', '_')}--{day}.parquet"
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    pq.write_table(pa.table(columns, schema=schema), partial)
    partial.replace(target)
    return target


def rows_to_frame(table: Table, rows: list[dict[str, Any]], source: str) -> Any:
    """Sampler rows as a frame of `table`, typed (polars is only needed where the store is)."""
    import polars as pl

    from finops.coerce import coerce

    names = [name for name in table.column_names if name not in ("x_LoadId", "x_Source")]
    frame = pl.DataFrame({name: [_cell(row.get(name)) for row in rows] for name in names}, strict=False)
    return coerce(frame, table, file=source).with_columns(x_Source=pl.lit(source))


def load_spool(db: Path, folder: Path) -> list[Any]:
    """Load every spool file the sampler wrote into the store; a file already loaded as it is is skipped."""
    import hashlib

    import polars as pl

    from finops.coerce import coerce
    from finops.errors import UsageError
    from finops.schema import CANONICAL_TABLES
    from finops.store import LoadResult, open_store

    files = sorted(folder.glob("gpu_*--*--*.parquet"))
    if not files:
        raise UsageError(f"no sampler spool files in {folder}", hint="finops gpu watch --spool DIR writes them")
    results = []
    with open_store(db) as store:
        for path in files:
            table = CANONICAL_TABLES[path.name.split("--", 1)[0]]
            checksum = hashlib.sha256(path.read_bytes()).hexdigest()
            if store.is_unchanged(table, checksum):
                results.append(LoadResult("", table.name, unchanged=True))
                continue
            frame = coerce(pl.read_parquet(path), table, file=str(path))
            results.append(store.replace_slices(table, [frame], checksum=checksum, inputs=[str(path)]))
    return results
