"""Load FOCUS files into the store: read and validate every file first, then replace their slices at once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from finops.connectors.focus_files import expand_paths, read_focus_file
from finops.schema import COSTS
from finops.store import LoadResult, open_store

ProgressCallback = Callable[[Path, int, int], None]


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
) -> LoadResult:
    """Ingest FOCUS files. Every file is parsed before the database is opened, so a bad file (named in the
    error, with row and column) leaves the store untouched and the write lock is held only while writing."""
    files = expand_paths(paths)
    checksum = checksum_files(files, source)
    with open_store(db) as store:
        if not force and store.is_unchanged(COSTS, checksum):
            return LoadResult(load_id="", table=COSTS.name, unchanged=True)
    frames = []
    for index, path in enumerate(files):
        if progress:
            progress(path, index, len(files))
        frames.append(read_focus_file(path, source=source))
    with open_store(db) as store:
        return store.replace_slices(COSTS, frames, checksum=checksum, inputs=[str(p) for p in files])
