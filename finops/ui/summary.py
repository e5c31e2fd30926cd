"""What loads and syncs did (stderr), and the configuration in use (stdout)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from finops.config import Config
from finops.doctor import Check
from finops.paths import DbLocation
from finops.store import LoadResult
from finops.sync import PeriodResult
from finops.ui.console import err_console
from finops.ui.fit import fit_table

# Least useful first: what gives way when the summary does not fit the terminal (finops.ui.fit).
LOAD_DROP = ("Was", "Effective before", "Billed")
SYNC_DROP = ("Was", "Effective before", "Billed", "Rows")


def _amount(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _delta(now: Decimal | None, before: Decimal | None) -> str:
    if now is None or before is None:
        return "-"
    return f"{now - before:+,.2f}"


def print_load_result(result: LoadResult, db: Path) -> None:
    console = err_console()
    for note in result.left_out:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if result.unchanged:
        console.print(f"unchanged: these files are already loaded in {db}; nothing written (use --force to reload)")
        return
    table = Table(title=f"Loaded into {db} (load {result.load_id})", title_justify="left")
    for name in (
        "Source",
        "Period",
        "Rows",
        "Was",
        "Billed",
        "Effective",
        "Effective before",
    ):  # Period: billing period
        table.add_column(name, justify="left" if name in ("Source", "Period") else "right", no_wrap=True)
    for change in result.slices:
        table.add_row(
            change.source,
            change.slice[:10],
            f"{change.rows:,}",
            f"{change.previous_rows:,}",
            _amount(change.billed_total),
            _amount(change.effective_total),
            _amount(change.previous_effective_total),
        )
    console.print(fit_table(table, console.width, drop=LOAD_DROP, whole={"Period"}))
    console.print(f"{result.rows:,} rows in {len(result.slices)} slice(s); each replaced what was there before.")
    for other in result.also:  # FOCUS contract commitments, loaded in the same transaction
        contracts = {change.slice for change in other.slices}
        console.print(f"{other.rows:,} {other.table.replace('_', ' ')} of {len(contracts)} contract(s) replaced "
                      f"what the store held for those contracts.", highlight=False)  # fmt: skip


@contextmanager
def download_progress(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr for downloads; yields the callback connectors report to."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("downloading", total=None)

        def report(what: str, done: int, total: int) -> None:
            bar.update(task, description=f"downloading {what}", completed=done, total=total or None)

        yield report


def _slice_period(slice_key: str, period: str) -> str:
    """The period a slice is shown as: the synced period (`2026-05`) when the slice is that period's start (a
    billing period), else the slice's day (a GPU spool day)."""
    if not slice_key:
        return period
    return period if slice_key.startswith(period + "-01") else slice_key[:10]


def print_sync_results(results: list[PeriodResult], db: Path) -> None:
    console = err_console()
    table = Table(title=f"Synced into {db}", title_justify="left")
    for name in ("Source", "Period", "Status", "Rows", "Was", "Billed", "Effective", "Effective before", "Change"):
        table.add_column(name, justify="left" if name in ("Source", "Period", "Status") else "right", no_wrap=True)
    for result in results:
        if result.error is not None:
            table.add_row(result.source, result.period, "[red]failed[/]", "-", "-", "-", "-", "-", "-")
            continue
        if result.load.unchanged:
            table.add_row(result.source, result.period, "unchanged", "-", "-", "-", "-", "-", "-")
            continue
        for change in result.load.slices:
            status = "new" if change.previous_rows == 0 else "replaced"
            if change.rows == 0:
                status = "emptied" if change.previous_rows else "empty"
            table.add_row(
                result.source, _slice_period(change.slice, result.period), status,
                f"{change.rows:,}", f"{change.previous_rows:,}",
                _amount(change.billed_total), _amount(change.effective_total),
                _amount(change.previous_effective_total),
                _delta(change.effective_total, change.previous_effective_total),
            )  # fmt: skip
    console.print(fit_table(table, console.width, drop=SYNC_DROP, whole={"Period", "Status"}))
    if any(change.rows == 0 for r in results for change in r.load.slices):
        console.print("emptied: the source now lists no rows for a period; what the store held for it was removed")
    if results and all(r.load.unchanged for r in results):
        console.print("nothing new: every source is as it was at the last sync; nothing written")


def print_config(config: Config, db: DbLocation) -> None:
    """Settings on stdout (they are the data asked for), TOML-like: `key = value  # where it came from`."""
    from finops.config_show import config_lines

    print("\n".join(config_lines(config, db)))


def print_checks(checks: list[Check]) -> bool:
    """One line per check on stdout; True when all passed."""
    console = Console(soft_wrap=True, highlight=False)
    for check in checks:
        mark = "[green]ok  [/]" if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {escape(check.source)}: {escape(check.name)}: {escape(check.detail)}")
        if check.hint and not check.ok:
            console.print(f"     [dim]hint: {escape(check.hint)}[/]")
    return all(check.ok for check in checks)
