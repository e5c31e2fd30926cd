"""The command line: parse, call one library function, render. No SQL here.

stdout carries data (a report, JSON); stderr carries what is for people (banners, progress, errors).
Heavy modules (duckdb, polars, cloud SDKs) are imported inside commands so `finops --help` stays fast.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from finops import __version__
from finops.errors import ExitCode, FinopsError

if TYPE_CHECKING:
    from finops.paths import DbLocation

app = typer.Typer(
    name="finops",
    help="AI FinOps from one command: what GPUs, inference and clouds cost, per team, from the bill.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # one error boundary below; locals may hold credentials
    add_completion=False,
    rich_markup_mode="rich",
)

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="DuckDB store to use. Default: $FINOPS_DB, else [store] db in finops.toml, else finops.duckdb in "
        "your user data folder.",
        show_default=False,
    ),
]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class _State:
    debug = False
    config: Path | None = None


def _location(db: Path | None) -> DbLocation:
    from finops.config import load_config
    from finops.paths import resolve_db

    config = load_config(_State.config)
    return resolve_db(db, config.db, config.path)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"finops {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output on stderr.")] = 0,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="finops.toml to use. Default: $FINOPS_CONFIG, ./finops.toml, user config."),
    ] = None,
) -> None:
    """Global options apply to every command."""
    _State.debug = debug or os.environ.get("FINOPS_DEBUG") == "1"
    _State.config = config
    level_name = os.environ.get("FINOPS_LOG_LEVEL", "")
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level_name.upper() or level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


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

        def progress(path: Path, index: int, total: int) -> None:
            status.update(f"reading {path.name} ({index + 1}/{total})...")

        result = ingest_focus(location.path, paths, source=source, force=force, progress=progress)
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
) -> None:
    """Spend for a period next to the one before: totals, breakdowns, GPUs, top resources, daily trend, freshness.

    With no database yet, it loads the embedded demo data into a demo database and says so on stderr.
    """
    from finops.config import load_config
    from finops.report import ReportOptions, build_report
    from finops.ui.render import render_report

    hosts = load_config(_State.config).gpu_hosts
    options = ReportOptions(period=period, as_of=as_of, group_by=group_by, cost=cost, top=top, gpu_hosts=hosts)
    db_path = _report_db(db, demo)
    result = build_report(db_path, options)
    render_report(result, output_format.value, output)


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
    from finops.sync import sync as run_sync
    from finops.ui.console import err_console
    from finops.ui.summary import download_progress, print_sync_results

    config = load_config(_State.config)
    location = _location(db)
    with download_progress(err_console()) as progress:
        results = run_sync(location.path, config, sources or None, periods=period, progress=progress)
    print_sync_results(results, location.path)


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
    from finops.doctor import freshness_checks, run_checks
    from finops.ui.summary import print_checks

    config = load_config(_State.config)
    checks = run_checks(config, selectors) + freshness_checks(_location(db).path, config)
    if not print_checks(checks):
        raise typer.Exit(int(ExitCode.SOURCE))


gpu_app = typer.Typer(help="GPU telemetry: the NVML sampler agent and its spool.", no_args_is_help=True)
app.add_typer(gpu_app, name="gpu")


@gpu_app.command("watch")
def gpu_watch(
    interval: Annotated[float, typer.Option(help="Seconds between samples.", min=0.1)] = 15.0,
    flush: Annotated[float, typer.Option(help="Seconds between writes of what was sampled.", min=1)] = 60.0,
    spool: Annotated[
        Path | None, typer.Option(help="Write parquet spool files here (for hosts without the store).")
    ] = None,
    db: DbOption = None,
    count: Annotated[int | None, typer.Option(help="Stop after this many samples.", min=1)] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=1)] = None,
    instance_id: Annotated[str | None, typer.Option(help="The cloud instance id (default: from DMI on EC2).")] = None,
    instance_type: Annotated[str | None, typer.Option(help="The instance type, e.g. p5.48xlarge.")] = None,
    provider: Annotated[str | None, typer.Option(help="AWS, Google Cloud or Microsoft Azure.")] = None,
) -> None:
    """Sample every GPU on this host through NVML: utilisation, memory, power, energy, clocks, SM/tensor/DRAM
    activity (Hopper+), processes and their owners, MIG instances as their own rows.

    Writes to the store (--db, default the configured one) or to spool files (--spool) that `finops gpu load`
    ingests elsewhere. SIGTERM or Ctrl-C stops it cleanly after the sample in hand.
    """
    from finops.gpu_watch import WatchOptions, watch
    from finops.ui.console import err_console

    target = None if spool else _location(db).path
    options = WatchOptions(interval_s=interval, flush_s=flush, spool=spool, db=target, count=count,
                           duration_s=duration, instance_id=instance_id, instance_type=instance_type,
                           provider=provider)  # fmt: skip
    summary = watch(options, on_flush=lambda n: err_console().print(f"{n} samples written", highlight=False))
    err_console().print(
        f"{summary.samples} samples of {summary.gpus} GPU(s) as {summary.source}; sampler CPU "
        f"{summary.overhead_pct:.2f}% of one core",
        highlight=False,
    )


@gpu_app.command("load")
def gpu_load(folder: Annotated[Path, typer.Argument(help="A spool folder written by finops gpu watch --spool.")],
             db: DbOption = None) -> None:  # fmt: skip
    """Load sampler spool files into the store (files already loaded unchanged are skipped)."""
    from finops.gpu_watch import load_spool
    from finops.ui.console import err_console

    results = load_spool(_location(db).path, folder)
    loaded = [r for r in results if not r.unchanged]
    err_console().print(f"{len(loaded)} file(s) loaded, {len(results) - len(loaded)} unchanged; "
                        f"{sum(r.rows for r in loaded):,} rows", highlight=False)  # fmt: skip


@gpu_app.command("ingest")
def gpu_ingest(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Exporter URLs (dcgm-exporter, nvidia_gpu_exporter), saved "
            "/metrics pages, or nvidia-smi --format=csv logs."
        ),
    ] = None,
    db: DbOption = None,
    host: Annotated[str | None, typer.Option(help="Host name, where the source does not carry one.")] = None,
    instance_id: Annotated[str | None, typer.Option(help="The cloud instance id these GPUs belong to.")] = None,
    instance_type: Annotated[str | None, typer.Option(help="The instance type, e.g. p5.48xlarge.")] = None,
    provider: Annotated[str | None, typer.Option(help="AWS, Google Cloud or Microsoft Azure.")] = None,
    prometheus: Annotated[str | None, typer.Option(help="A Prometheus server that scrapes dcgm-exporter.")] = None,
    since: Annotated[str | None, typer.Option(help="With --prometheus: start (YYYY-MM-DDTHH:MM, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="With --prometheus: end (default now).")] = None,
    step: Annotated[int, typer.Option(help="With --prometheus: seconds between points.", min=1)] = 60,
) -> None:
    """Load GPU telemetry the cluster already exports into the store, beside the sampler's.

    Kubernetes pod, namespace and container labels are kept; the dcgm `Hostname` and `hostname` labels are both
    read. nvidia-smi logs: units inside cells are understood; timestamps are taken as UTC.
    """
    from finops.gpu_ingest import Placement, ingest_gpu_telemetry, prometheus_range
    from finops.ui.console import err_console

    placement = Placement(host=host, instance_id=instance_id, instance_type=instance_type, provider=provider)
    window = prometheus_range(prometheus, since, until, step) if prometheus else None
    results = ingest_gpu_telemetry(_location(db).path, inputs or [], placement, window)
    loaded = [r for r in results if not r.unchanged]
    err_console().print(f"{len(loaded)} input(s) loaded, {len(results) - len(loaded)} unchanged; "
                        f"{sum(r.rows for r in loaded):,} GPU samples", highlight=False)  # fmt: skip


rules_app = typer.Typer(help="Rules: what costs money for no return, as findings.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


class Severity(StrEnum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


@rules_app.command("list")
def rules_list(docs: Annotated[bool, typer.Option(help="Print each rule's full description.")] = False) -> None:
    """The built-in rules and your own ([rules] folder in finops.toml), with their parameters."""
    from finops.config import load_config
    from finops.rules_engine import load_rules
    from finops.ui.findings import print_rules

    print_rules(load_rules(load_config(_State.config).rules_folder), docs=docs)


@rules_app.command("run")
def rules_run(
    rule_ids: Annotated[list[str] | None, typer.Argument(help="Rule ids or names (default: all).")] = None,
    db: DbOption = None,
    period: Annotated[str, typer.Option(help="mtd, last-month, YYYY-MM, 7d/30d/90d, or FROM..TO.")] = "mtd",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Last day (YYYY-MM-DD). Default: newest data.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="RULE.KEY=VALUE, e.g. GPU001.idle_pct=10.")] = None,
    fail_on: Annotated[Severity | None, typer.Option(help="Exit 1 if a finding is at least this severe.")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table or json.")] = OutputFormat.table,
) -> None:
    """Run rules over a period, store their findings, and show them (new ones marked).

    Exit code 1 when --fail-on is given and a finding reaches it: for CI and cron.
    """
    from finops.config import load_config
    from finops.findings import run_findings
    from finops.ui.findings import render_findings

    config = load_config(_State.config)
    result = run_findings(_report_db(db, demo=False), config.rules_folder, rule_ids or [], period, as_of, param or [])
    render_findings(result, output_format.value)
    if fail_on is not None and result.worst_at_least(fail_on.value):
        raise typer.Exit(int(ExitCode.FINDINGS))


@app.command()
def alerts(db: DbOption = None) -> None:
    """Send findings that are new, or due again, to the sinks in finops.toml ([alerts.sinks.NAME]).

    Each finding goes out once (again after renotify_hours if it persists). A failed delivery is retried and
    reported with exit 3; the finding stays pending. Run `finops rules run` first: alerts send what it found.
    """
    from rich.markup import escape

    from finops.alerts import alerts_config, send_alerts
    from finops.config import load_config
    from finops.ui.console import err_console

    config = load_config(_State.config)
    settings = alerts_config(config.alerts, str(config.path or "finops.toml"))
    result = send_alerts(_location(db).path, settings)
    for failure in result.failures:
        err_console().print(f"[bold red]error:[/] {escape(failure)}", highlight=False)
    if result.failures:
        raise typer.Exit(int(ExitCode.SOURCE))
    err_console().print(f"{result.sent} finding(s) sent to {len(settings.sinks)} sink(s)", highlight=False)


config_app = typer.Typer(help="Show the configuration finops is using.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(db: DbOption = None) -> None:
    """Every setting, its value, and where the value came from (flag, environment, file or default)."""
    from finops.config import load_config
    from finops.ui.summary import print_config

    config = load_config(_State.config)
    print_config(config, _location(db))


def _report_db(db: Path | None, demo: bool) -> Path:
    from finops.demo import ensure_demo_db
    from finops.ui.console import err_console

    location = _location(db)
    if not demo and (location.explicit or location.path.exists()):
        return location.path
    path = ensure_demo_db()
    err_console().print(
        "[bold yellow]Demo data[/]: no finops database yet, so this report shows the embedded demo "
        f"(Lumen Labs, fictional) from {path}.\n"
        "Load your own with [bold]finops ingest PATH[/] (FOCUS files).",
        highlight=False,
    )
    return path


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: the one error boundary mapping exceptions to documented codes."""
    try:
        # Without standalone mode, an Exit raised by a command comes back as the return value.
        returned = app(args=argv, standalone_mode=False)
    except FinopsError as e:
        if _State.debug:
            raise
        _print_error(e.message, e.hint)
        return int(e.exit_code)
    except typer.Exit as e:
        return int(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except typer.TyperException as e:  # usage errors from the argument parser
        show = getattr(e, "show", None)
        if show:
            show()
        else:
            print(f"error: {e.message}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except Exception as e:
        if _State.debug:
            raise
        _print_error(f"internal error: {type(e).__name__}: {e}", "run again with --debug for a traceback")
        return int(ExitCode.SOURCE)
    return returned if isinstance(returned, int) else int(ExitCode.OK)


def main() -> NoReturn:
    sys.exit(run())


def _print_error(message: str, hint: str | None) -> None:
    from rich.markup import escape

    from finops.ui.console import err_console

    console = err_console()
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)
