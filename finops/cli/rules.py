"""`finops rules ...`, `finops alerts` and `finops config show`."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from finops.errors import ExitCode, UsageError

if TYPE_CHECKING:
    pass

from finops.cli.base import DbOption, FindingsFormat, _location, _State, app, read_only_db

rules_app = typer.Typer(help="Rules: what costs money for no return, as findings.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


class Engine(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


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
    output_format: Annotated[
        FindingsFormat, typer.Option("--format", "-f", help="table or json.")
    ] = FindingsFormat.table,
    engine: Annotated[
        Engine | None,
        typer.Option(help="Where the rules' heavy tier runs: duckdb (the store) or spark. Default: [rules] engine."),
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option(help="local[*], spark://HOST:7077 or sc://HOST:15002 (Spark Connect). Default: [rules.spark]."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the findings; store nothing, so `finops alerts` sends nothing.")
    ] = False,
    record: Annotated[
        bool, typer.Option("--record", help="Store the findings of a run with --param (a trial run stores none).")
    ] = False,
) -> None:
    """Run rules over a period, store their findings, and show them (new ones marked).

    A run with --param is a trial: its findings are shown, not stored, and so never alerted, unless --record is
    given. --dry-run stores nothing either way. Only stored findings reach `finops alerts` and the report.

    With --engine spark, each rule's heavy tier (filters and sums over raw line items and telemetry) runs on Spark,
    over the tables named in [rules.spark] (in local mode, by default, this store's own tables), and the rest in
    local DuckDB. Exit code 1 when --fail-on is given and a finding reaches it: for CI and cron.
    """
    from finops.config import load_config
    from finops.findings import run_findings
    from finops.rules_engine import load_rules, select
    from finops.ui.findings import render_findings

    if dry_run and record:
        raise UsageError("--dry-run and --record contradict each other", hint="choose one")
    config = load_config(_State.config)
    chosen = select(load_rules(config.rules_folder), rule_ids or [])  # unknown ids fail before anything opens
    path = read_only_db(db, what="rules run")
    run = (config.rules_folder, rule_ids or [], period, as_of, param or [])
    storing = not dry_run and (record or not param)
    from finops.scopes import check_rule_params

    # a trial --param naming a team, endpoint or resource the store does not hold would find nothing, quietly
    check_rule_params(path, chosen, param or [], config.allocation)
    if (engine or config.rules_engine) == "spark":
        one_piece = [f"{r.id} ({r.origin})" for r in chosen if not r.heavy]
        if one_piece:
            raise UsageError(
                f"rules without a heavy tier can only run on the duckdb engine: {', '.join(one_piece)}",
                hint="name the rules to run on Spark, or split these into [heavy.NAME] queries and sql",
            )
        from finops.spark_engine import spark_engine
        from finops.ui.console import err_console

        settings = config.spark.with_master(spark_master) if spark_master else config.spark
        status = err_console().status(f"Spark ({settings.shown_master}): running the rules' heavy tier ...")
        with status, spark_engine(settings, path) as spark:
            result = run_findings(path, *run, engine=spark, keep=storing)
    else:
        result = run_findings(path, *run, keep=storing)
    render_findings(result, output_format.value)
    if not storing:
        from finops.ui.console import err_console

        why = "--dry-run" if dry_run else "a trial run with --param (add --record to keep them)"
        err_console().print(f"findings not stored: {why}", highlight=False)
    if fail_on is not None and result.worst_at_least(fail_on.value):
        raise typer.Exit(int(ExitCode.FINDINGS))


class Dialect(StrEnum):
    duckdb = "duckdb"
    spark = "spark"
    databricks = "databricks"
    bigquery = "bigquery"
    athena = "athena"
    trino = "trino"


@rules_app.command("sql")
def rules_sql(
    rule_ids: Annotated[list[str] | None, typer.Argument(help="Rule ids or names (default: all).")] = None,
    dialect: Annotated[Dialect, typer.Option(help="The SQL dialect to write the heavy tier in.")] = Dialect.spark,
    start: Annotated[str, typer.Option(help="First day of the period (YYYY-MM-DD), written in as a value.")] = "",
    end: Annotated[
        str, typer.Option(help="Day after the period (YYYY-MM-DD). Default: the 1st of the month after --start.")
    ] = "",
    param: Annotated[list[str] | None, typer.Option("--param", help="RULE.KEY=VALUE, e.g. GPU001.idle_pct=10.")] = None,
) -> None:
    """Print each rule's heavy-tier SQL in another dialect, for an engine finops does not drive itself.

    Without --start the parameters stay parameters, in the dialect's own form (:name for Spark, @name for
    BigQuery); with it, they are written in as typed literals, ready to paste into a console (Athena has no named
    parameters). The tables it reads are costs, gpu_samples and usage_metrics: see docs/engines.md.
    """
    from finops.config import load_config
    from finops.rules_engine import load_rules, select
    from finops.rules_print import print_heavy_sql

    config = load_config(_State.config)
    chosen = select(load_rules(config.rules_folder), rule_ids or [])
    print_heavy_sql(chosen, dialect.value, start, end, param or [])


@app.command()
def alerts(db: DbOption = None) -> None:
    """Send findings that are new, or due again, to the sinks in finops.toml ([alerts.sinks.NAME]).

    Each finding goes to each sink once (again after renotify_hours if it persists). A failed delivery is retried
    and reported with exit 3 (sink, host and what went wrong); that sink gets what it missed on the next run, and
    the sinks that took it are not sent it again. An unset variable a sink names is exit 2, before anything is sent.
    Run `finops rules run` first: alerts send what it stored.
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
        for sink, count in result.delivered:
            err_console().print(f"{count} finding(s) sent to {escape(sink)}", highlight=False)
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
