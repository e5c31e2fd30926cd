"""Billing commands: ingest, report, sync, doctor."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from finops.cli.base import DbOption, OutputFormat, _location, _State, app, read_only_db
from finops.errors import ExitCode


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="FOCUS or CUR files (.csv, .csv.gz, .parquet) or folders of them.")
    ],
    db: DbOption = None,
    source: Annotated[
        str | None,
        typer.Option(help="Name of the source these files replace. Default: one per provider and billing account."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Load even if the same files were already loaded.")] = False,
    direct: Annotated[
        bool,
        typer.Option(
            help="Let DuckDB read FOCUS parquet files itself (about twice as fast; anything it refuses is loaded "
            "through the checked path anyway). --no-direct reads them like CSV, cell by cell."
        ),
    ] = True,
) -> None:
    """Load FOCUS 1.0-1.4 cost files, or AWS CUR 1.0/2.0 files, into the store.

    Each (source, billing period) in the files replaces what the store held for it, in one transaction:
    re-running after a provider restates a month never duplicates. A bad file is named with its row and
    column, and nothing is written.
    """
    from finops.ingest import ingest_focus
    from finops.ui.console import err_console
    from finops.ui.summary import print_load_result

    location = _location(db)
    with err_console().status("reading files...") as status:

        def progress(what: str) -> None:
            status.update(f"{what}...")

        result = ingest_focus(location.path, paths, source=source, force=force, progress=progress, direct=direct)
    print_load_result(result, location.path)


@app.command()
def report(
    db: DbOption = None,
    period: Annotated[
        str,
        typer.Option(help="mtd, last-month, YYYY-MM, 7d/30d/90d, or FROM..TO (dates, inclusive)."),
    ] = "mtd",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Last day to report (YYYY-MM-DD). Default: newest data.")
    ] = None,
    group_by: Annotated[
        str,
        typer.Option(
            help="Breakdowns, comma-separated: provider, service, team, account, region, resource, "
            "instance_type, category, tag:KEY."
        ),
    ] = "provider,service,team",
    cost: Annotated[str, typer.Option(help="effective (amortised, default) or billed.")] = "effective",
    top: Annotated[int, typer.Option(help="Rows per breakdown and top-resources list.", min=1)] = 10,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    demo: Annotated[bool, typer.Option(help="Report on the embedded demo data.")] = False,
    by: Annotated[
        ByView | None,
        typer.Option(
            "--by",
            help="team: chargeback or showback per team (direct, shared, idle GPU, total), by the [allocation] "
            "policy in finops.toml. Team totals sum to the period's total to the cent.",
        ),
    ] = None,
    fail_on_empty: Annotated[
        bool,
        typer.Option(
            "--fail-on-empty",
            help="Exit 4 (data too stale to judge) when the period has no cost data at all, after the report: for "
            "CI, so an unloaded month is never a $0.00 pass.",
        ),
    ] = False,
) -> None:
    """Spend for a period next to the one before: totals, breakdowns, GPUs, top resources, daily trend, freshness.

    With no database yet, it loads the embedded demo data into a demo database and says so on stderr.
    """
    from finops.config import load_config
    from finops.report import ReportOptions, build_report
    from finops.ui.render import print_warnings, render_report

    config = load_config(_State.config)
    db_path = _report_db(db, demo)
    policy = None
    html = output_format is OutputFormat.html
    if by is ByView.team or html:  # the HTML report always shows spend by team
        policy = config.allocation
        if policy.origin == "default" and _is_demo(db_path):
            from finops.demo import demo_policy

            policy = demo_policy()
    options = ReportOptions(period=period, as_of=as_of, group_by=group_by, cost=cost, top=top,
                            gpu_hosts=config.gpu_hosts, allocation=policy, details=html)  # fmt: skip
    result = build_report(db_path, options)
    render_report(result, output_format.value, output)
    print_warnings(result)
    if fail_on_empty and result.empty:
        from finops.errors import StaleDataError

        raise StaleDataError(
            f"no cost data for {result.period.label}: --fail-on-empty",
            hint="load the period first (finops sync, finops ingest PATH), or pick another with --period",
        )


@app.command()
def sync(
    sources: Annotated[
        list[str] | None, typer.Argument(help="Sources to sync (default: every one in finops.toml).")
    ] = None,
    db: DbOption = None,
    period: Annotated[
        list[str] | None,
        typer.Option("--period", help="A billing period (YYYY-MM) to sync instead of the window; repeatable."),
    ] = None,
) -> None:
    """Fetch the billing periods still open to restatement from each configured source.

    A period whose source did not change since the last sync is skipped; a changed one replaces what the store
    held for it, in one transaction. Downloads show progress on stderr; a summary per source and period follows.
    """
    from finops.config import load_config
    from finops.sync import failures
    from finops.sync import sync as run_sync
    from finops.ui.console import err_console
    from finops.ui.summary import download_progress, print_sync_results

    config = load_config(_State.config)
    location = _location(db)
    with download_progress(err_console()) as progress:
        results = run_sync(location.path, config, sources or None, periods=period, progress=progress)
    print_sync_results(results, location.path)
    failed = failures(results)
    if failed:
        raise failed


@app.command()
def doctor(
    selectors: Annotated[
        list[str] | None, typer.Argument(help="Sources or providers (aws) to check; default all.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Check every configured source with read-only calls, one line each; exit 3 if anything is wrong.

    Prints who the SDK is signed in as (the account, never a secret), whether the export is readable, and when
    each source was last loaded.
    """
    from finops.config import load_config
    from finops.doctor import engine_checks, freshness_checks, run_checks
    from finops.ui.summary import print_checks

    config = load_config(_State.config)
    checks = run_checks(config, selectors) + freshness_checks(_location(db).path, config)
    checks += [] if selectors else engine_checks(config)
    if not print_checks(checks):
        raise typer.Exit(int(ExitCode.SOURCE))


class ByView(StrEnum):
    team = "team"


def _is_demo(path: Path) -> bool:
    from finops.paths import demo_db

    return path.resolve() == demo_db().resolve()


def _report_db(db: Path | None, demo: bool) -> Path:
    return read_only_db(db, demo, "report")
