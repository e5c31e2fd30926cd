"""`finops shutdown plan|apply|log`: stop idle GPU instances, behind the rails in [shutdown]."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from finops.cli.base import DbOption, FindingsFormat, _location, _State, app, read_only_db

shutdown_app = typer.Typer(help="Stop idle GPU instances, behind safety rails (off unless enabled).",
                           no_args_is_help=True)  # fmt: skip
app.add_typer(shutdown_app, name="shutdown")


def _now(at: str | None) -> datetime:
    from finops.errors import UsageError

    if not at:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError as e:
        raise UsageError(f"--at {at!r}: {e}", hint="YYYY-MM-DDTHH:MM (UTC)") from e
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@shutdown_app.command("plan")
def shutdown_plan(
    db: DbOption = None,
    output_format: Annotated[FindingsFormat, typer.Option("--format", "-f", help="table, or json (a plan file).")] = (
        FindingsFormat.table
    ),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (a plan file).")] = None,
    at: Annotated[
        str | None, typer.Option(help="Judge as of this time (UTC), to replay telemetry. Default: now.")
    ] = None,
) -> None:
    """The GPU instances that qualify for a stop now, with their evidence (idle since, signals, GPUs, money per
    hour, month projection), and the reason every other candidate does not: protected, snoozed, in an auto-scaling
    group, local disks, committed capacity, telemetry stale. Reads only: nothing is changed."""
    from finops.config import load_config
    from finops.shutdown_plan import make_plan
    from finops.shutdown_run import cloud_clients
    from finops.store import open_store
    from finops.ui.shutdown_table import plan_json, print_plan

    config = load_config(_State.config)
    with open_store(read_only_db(db, what="plan"), read_only=True) as store:
        plan = make_plan(store, config.shutdown, cloud_clients(config.shutdown), _now(at), config.gpu_hosts)
    if output_format is FindingsFormat.json:
        text = plan_json(plan)
        if output:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return
    print_plan(plan, config.shutdown)


@shutdown_app.command("apply")
def shutdown_apply(
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: act on what a fresh plan says now.")] = False,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Act only on this plan's instances, re-checked now.")
    ] = None,
) -> None:
    """Mark, notify, then stop: the first run tags each qualifying instance with the time it may be stopped and
    sends a notice through the [alerts] sinks; a run after grace_minutes stops it if it is still idle and still
    marked (AWS stop_instances after a DryRun, GCE instances.stop, Azure deallocate; never terminate). Caps per
    run on instances and money per hour. Refuses to do anything unless [shutdown] enabled = true. Exit 3 if any
    action failed; every decision goes to the audit log (finops shutdown log)."""
    from finops.config import load_config
    from finops.shutdown_apply import apply_shutdown, read_plan_file
    from finops.shutdown_run import cloud_clients, notifier
    from finops.ui.shutdown_table import print_decisions

    config = load_config(_State.config)
    now = datetime.now(UTC)
    approved = read_plan_file(plan_file, now) if plan_file else None
    result = apply_shutdown(_location(db).path, config.shutdown, cloud_clients(config.shutdown), now, yes=yes,
                            approved=approved, notify=notifier(config), hosts=config.gpu_hosts)  # fmt: skip
    print_decisions(result)
    if result.failed:
        raise typer.Exit(3)


@shutdown_app.command("log")
def shutdown_log(
    db: DbOption = None,
    limit: Annotated[int, typer.Option(help="Newest decisions to show.", min=1)] = 50,
    output_format: Annotated[FindingsFormat, typer.Option("--format", "-f", help="table or json.")] = (
        FindingsFormat.table
    ),
) -> None:
    """The audit log: every decision of finops shutdown apply (stopped, marked, skipped and why, failed and why),
    who ran it, and the evidence."""
    from finops.shutdown_run import read_log
    from finops.ui.shutdown_table import log_json, print_log

    rows = read_log(_location(db).path, limit)
    if output_format is FindingsFormat.json:
        sys.stdout.write(log_json(rows))
    else:
        print_log(rows)
