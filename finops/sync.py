"""`finops sync`: run each configured source's connector over the billing periods still open to restatement,
and replace exactly the periods whose source changed. A run with nothing new writes nothing and says so."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from finops.config import Config, SourceConfig
from finops.connectors import resolve
from finops.errors import UsageError
from finops.schema import Table
from finops.store import LoadResult, open_store

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PeriodResult:
    source: str
    period: str
    load: LoadResult  # `unchanged` when the source's manifest is the one already loaded


def sync(
    db: Path,
    config: Config,
    names: list[str] | None = None,
    *,
    today: date | None = None,
    periods: list[str] | None = None,
    progress: Progress | None = None,
) -> list[PeriodResult]:
    """Sync the named sources (default: all), one billing period at a time, each in its own transaction.
    `periods` (YYYY-MM) replaces the restatement window, e.g. to backfill older months."""
    for period in periods or []:
        if not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", period):
            raise UsageError(
                f"--period {period!r} is neither a billing period nor a day",
                hint="use YYYY-MM (billing sources) or YYYY-MM-DD (metrics sources such as aws-sagemaker)",
            )
    sources = [config.source(name) for name in names] if names else list(config.sources)
    if not sources:
        raise UsageError(
            "no sources to sync", hint="add a [sources.NAME] table to finops.toml (see `finops config show`)"
        )
    day = today or datetime.now(UTC).date()
    results = []
    for source in sources:
        results.extend(_sync_source(db, source, day, periods, progress))
    return results


def _unchanged(db: Path, table: Table, checksum: str) -> bool:
    if not db.exists():
        return False
    with open_store(db, read_only=True) as store:
        return store.is_unchanged(table, checksum)


def _sync_source(
    db: Path, source: SourceConfig, day: date, periods: list[str] | None, progress: Progress | None
) -> list[PeriodResult]:
    connector: Any = resolve(source.type)
    if not hasattr(connector, "plan"):
        raise UsageError(f"sources.{source.name}: type {source.type!r} cannot be synced", hint="use finops ingest")
    results = []
    for export in connector.plan(source.settings, day, periods):
        # The source's name is part of the fingerprint: two sources reading one export are two loads.
        checksum = hashlib.sha256(f"{source.name}\n{export.fingerprint}".encode()).hexdigest()
        table = getattr(export, "table", connector.table)  # a unit may feed another table (the GPU spool)
        if _unchanged(db, table, checksum):
            results.append(PeriodResult(source.name, export.period, LoadResult("", table.name, unchanged=True)))
            continue
        with tempfile.TemporaryDirectory(prefix="finops-sync-") as workdir:
            frames = connector.fetch(source.settings, export, source.name, Path(workdir), progress)
            with open_store(db) as store:
                load = store.replace_slices(table, frames, checksum=checksum, inputs=[export.origin])
        results.append(PeriodResult(source.name, export.period, load))
    return results
