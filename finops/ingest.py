"""Load billing files (FOCUS, or AWS CUR 1.0/2.0) into the store, every given file in one transaction.

A FOCUS 1.3+ folder holds several datasets, told apart by their header: Cost and Usage rows go to `costs`,
Contract Commitment rows to `contract_commitments`, both in the same transaction. The 1.4 Billing Period and
Invoice Detail datasets are not stored (finops computes what they summarise from the cost rows): they are named on
stderr and left out.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.connectors.focus_commitments import read_commitment_batches
from finops.connectors.focus_files import COST_AND_USAGE, check_billing_header, expand_paths, read_billing_batches
from finops.connectors.focus_parquet import plan_parquet_load
from finops.errors import UsageError
from finops.schema import CONTRACT_COMMITMENTS, COSTS
from finops.store import LoadResult, QueryError, Store, open_store

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str], None]  # told what is being read, for a status line
CONTRACT_COMMITMENT = "Contract Commitment"


def checksum_files(files: Sequence[Path], source: str | None) -> str:
    """Identifies the input: same files with the same bytes (and source name) give the same checksum."""
    digest = hashlib.sha256(f"source={source or ''}\n".encode())
    for path in files:
        digest.update(f"{path.name}\n".encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def ingest_focus(
    db: Path,
    paths: Sequence[Path],
    *,
    source: str | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
    direct: bool = True,
) -> LoadResult:
    """Ingest FOCUS files in one transaction, streaming them in batches so memory stays flat.

    Every file's header is checked before the database is opened. A bad cell found later (named with file,
    row and column) rolls the whole load back, and a store this load created is removed again: the store is
    left exactly as it was. FOCUS parquet files are read by DuckDB itself where it can (`direct`, the default);
    anything it refuses is loaded again through the checked streaming path, which reads loose forms or names
    the bad cell.
    """
    datasets = {path: check_billing_header(path) for path in expand_paths(paths)}
    left_out = tuple(
        f"{path}: a FOCUS {dataset} file: finops does not store that dataset; left out"
        for path, dataset in datasets.items()
        if dataset not in (COST_AND_USAGE, CONTRACT_COMMITMENT)
    )
    files = [path for path, dataset in datasets.items() if dataset == COST_AND_USAGE]
    commitments = [path for path, dataset in datasets.items() if dataset == CONTRACT_COMMITMENT]
    if not files and not commitments:
        raise UsageError(
            "no Cost and Usage or Contract Commitment data in " + ", ".join(map(str, paths)),
            hint="these are FOCUS " + " and ".join(sorted(set(datasets.values()))) + " files, which finops does not "
            "store; give the Cost and Usage files of the same export",
        )
    loaded_files = files + commitments
    checksum = checksum_files(loaded_files, source)
    tables = ([COSTS] if files else []) + ([CONTRACT_COMMITMENTS] if commitments else [])
    existed = db.exists()
    if not force and existed:
        with open_store(db, read_only=True) as store:
            if all(store.is_unchanged(table, checksum) for table in tables):
                return LoadResult(load_id="", table=COSTS.name, unchanged=True, left_out=left_out)

    def frames(group: list[Path], read: Callable[..., Iterator[pl.DataFrame]]) -> Iterator[pl.DataFrame]:
        for path in group:
            if progress:
                progress(f"reading {path.name} ({loaded_files.index(path) + 1}/{len(loaded_files)})")
            yield from read(path, source=source)

    inputs = [str(p) for p in loaded_files]
    try:
        with open_store(db) as store:
            loaded = _load_direct(store, files, source, checksum, progress) if direct and not commitments else None
            if loaded is not None:
                return replace(loaded, left_out=left_out)
            results = store.replace_tables(
                [(COSTS, frames(files, read_billing_batches)),
                 (CONTRACT_COMMITMENTS, frames(commitments, read_commitment_batches))],
                checksum=checksum, inputs=inputs,
            )  # fmt: skip
            costs, contract = results
            return replace(costs, also=(contract,) if commitments else (), left_out=left_out)
    except BaseException:
        if not existed:
            for leftover in (db, db.with_name(db.name + ".wal")):
                with suppress(OSError):  # nothing to remove where no store could be made
                    leftover.unlink(missing_ok=True)
        raise


def _load_direct(
    store: Store, files: list[Path], source: str | None, checksum: str, progress: ProgressCallback | None
) -> LoadResult | None:
    """The load by DuckDB alone (connectors/focus_parquet.py), or None when the files need the streaming path."""

    def fetch(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return store.fetch_named(sql, params)[1]

    try:
        planned = plan_parquet_load(files, source, fetch)
        if planned is None:
            return None
        if progress:
            progress(f"loading {len(files)} parquet file{'s' if len(files) > 1 else ''} in DuckDB")
        result = store.replace_slices_from_query(
            COSTS, planned.sql, planned.params, checksum=checksum, inputs=[str(p) for p in files]
        )
    except QueryError as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else "refused"
        log.info("DuckDB did not load the files directly (%s); loading them through the checked path", first_line)
        return None
    log.info("DuckDB read the %d parquet file(s) directly", len(files))
    return result
