"""The embedded demo: the sample data loaded through the same ingest path as real files.

It is built into a temporary file and renamed into place, so an interrupted first run never leaves a
half-built demo behind, and rebuilt whenever the sample data changes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tomllib
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import polars as pl

from finops.allocation_policy import AllocationPolicy, parse_policy
from finops.coerce import coerce
from finops.connectors.focus_files import read_focus_file
from finops.paths import demo_db
from finops.schema import COSTS, GPU_SAMPLES, USAGE_METRICS, Table
from finops.store import open_store

log = logging.getLogger(__name__)

COST_FILES = {
    "demo:aws": "costs_aws.parquet",
    "demo:gcp": "costs_gcp.parquet",
    "demo:azure": "costs_azure.csv",
}
TELEMETRY_FILES = {GPU_SAMPLES: "gpu_samples.parquet", USAGE_METRICS: "usage_metrics.parquet"}


def sample_dir() -> Traversable:
    return resources.files("finops.sample_data")


def demo_policy() -> AllocationPolicy:
    """The demo's allocation policy (sample_data/finops.toml): cost centres, accounts and shared pools to teams."""
    file = sample_dir().joinpath("finops.toml")
    return parse_policy(
        tomllib.loads(file.read_text(encoding="utf-8"))["allocation"], "demo policy (sample_data/finops.toml)"
    )


def _fingerprint(folder: Traversable) -> str:
    digest = hashlib.sha256()
    for name in sorted([*COST_FILES.values(), *TELEMETRY_FILES.values()]):
        digest.update(name.encode())
        digest.update(folder.joinpath(name).read_bytes())
    return digest.hexdigest()[:16]


def ensure_demo_db(path: Path | None = None) -> Path:
    """The demo database, built on first use (or when the sample data changed)."""
    target = path or demo_db()
    folder = sample_dir()
    fingerprint = _fingerprint(folder)
    if target.exists():
        with open_store(target, read_only=True) as store:
            if store.meta("demo_fingerprint") == fingerprint:
                return target
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        build_demo_db(tmp, folder, fingerprint)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def build_demo_db(path: Path, folder: Traversable, fingerprint: str) -> None:
    with resources.as_file(folder) as local:
        local_dir = Path(local)
        with open_store(path) as store:
            for source, name in COST_FILES.items():
                frame = read_focus_file(local_dir / name, source=source)
                store.replace_slices(COSTS, [frame], checksum=fingerprint, inputs=[name])
            for table, name in TELEMETRY_FILES.items():
                store.replace_slices(table, [_telemetry(local_dir / name, table)], checksum=fingerprint, inputs=[name])
            store.set_meta("demo_fingerprint", fingerprint)
    log.info("built demo database %s", path)


def _telemetry(file: Path, table: Table) -> pl.DataFrame:
    frame = pl.read_parquet(file)
    return coerce(frame, table, file=str(file)).with_columns(x_Source=pl.lit("demo:telemetry"))
