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
from finops.errors import FinopsError, SourceError, UsageError
from finops.schema import COSTS, Table
from finops.store import LoadResult, open_store

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PeriodResult:
    source: str
    period: str
    load: LoadResult  # `unchanged` when the source's manifest is the one already loaded
    error: FinopsError | None = None  # this period (or, with period "-", the whole source) failed; nothing written


class SyncFailed(SourceError):
    """Some periods or sources failed; the others were committed and the summary shows which is which."""

    def __init__(self, failures: list[PeriodResult], total: int) -> None:
        lines = [f"{f.source} {f.period}: {f.error.message if f.error else '?'}" for f in failures]
        hints = sorted({f.error.hint for f in failures if f.error and f.error.hint})
        super().__init__(
            f"{len(failures)} of {total} period(s) failed; the others were committed:\n  " + "\n  ".join(lines),
            hint="; ".join(hints) or "run `finops sync` again once the cause is fixed: finished periods are skipped",
        )
        # A bad file is the user's to fix (exit 2); a source that could not be read is exit 3.
        self.exit_code = max((f.error.exit_code for f in failures if f.error), default=self.exit_code)


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
    results: list[PeriodResult] = []
    for source in sources:
        try:
            results.extend(_sync_source(db, source, day, periods, progress))
        except FinopsError as e:  # the source could not even be planned; the other sources still run
            results.append(PeriodResult(source.name, "-", LoadResult("", "costs"), error=e))
    return results


def failures(results: list[PeriodResult]) -> SyncFailed | None:
    """The error to exit with once the summary is shown, or None when every period succeeded."""
    failed = [r for r in results if r.error is not None]
    return SyncFailed(failed, len(results)) if failed else None


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
        expected = _period_slice(table, source.name, export.period)
        # A source that states its own total for the period (a query's SUM) has it checked against what is stored.
        billed = getattr(export, "billed_total", None)
        controls = {expected[0]: {"BilledCost": billed}} if billed is not None and expected else None
        try:
            with tempfile.TemporaryDirectory(prefix="finops-sync-") as workdir:
                frames = connector.fetch(source.settings, export, source.name, Path(workdir), progress)
                with open_store(db) as store:
                    load = store.replace_slices(
                        table,
                        frames,
                        checksum=checksum,
                        inputs=[export.origin],
                        expected_slices=expected,
                        controls=controls,
                    )
        except FinopsError as e:  # this period rolled back; the others commit or fail on their own
            results.append(PeriodResult(source.name, export.period, LoadResult("", table.name), error=e))
            continue
        results.append(PeriodResult(source.name, export.period, load))
    return results


def _period_slice(table: Table, source: str, period: str) -> list[tuple[str, datetime]]:
    """The cost slice a billing period's export consists of: if the source now has no rows for it (AWS and Azure
    write an empty manifest when a month is restated to nothing), the store empties it instead of keeping the
    old rows. Billing sources name the slice after the source and the period's first day (UTC)."""
    if table is not COSTS or not re.fullmatch(r"\d{4}-\d{2}", period):
        return []
    year, month = (int(part) for part in period.split("-"))
    return [(source, datetime(year, month, 1, tzinfo=UTC))]
