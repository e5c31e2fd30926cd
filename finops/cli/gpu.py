"""`finops gpu ...`: the sampler agent, its spool, and telemetry from exporters."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from finops.cli.base import DbOption, _location, app
from finops.periods import PERIOD_HELP

gpu_app = typer.Typer(
    help="GPU telemetry: the NVML sampler agent, exporters' pages and logs, and where the GPU-hours went.",
    no_args_is_help=True,
)
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
            help="Exporter URLs (dcgm-exporter, nvidia_gpu_exporter, Triton), saved /metrics pages, nvidia-smi "
            "--format=csv logs, or nvidia-smi's text output (table, -q, -L) for MIG instances."
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
    read. nvidia-smi logs: units inside cells are understood; timestamps are taken as UTC. MIG instances come from
    dcgm-exporter's GPU_I_ID/GPU_I_PROFILE labels or nvidia-smi's MIG listing. See `finops gpu report`.
    """
    from finops.gpu_ingest import Placement, ingest_gpu_telemetry, prometheus_range
    from finops.ui.console import err_console

    placement = Placement(host=host, instance_id=instance_id, instance_type=instance_type, provider=provider)
    window = prometheus_range(prometheus, since, until, step) if prometheus else None
    results = ingest_gpu_telemetry(_location(db).path, inputs or [], placement, window)
    loaded = [r for r in results if not r.unchanged]
    err_console().print(f"{len(loaded)} input(s) loaded, {len(results) - len(loaded)} unchanged; "
                        f"{sum(r.rows for r in loaded):,} GPU samples", highlight=False)  # fmt: skip


class GpuReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class GpuGroupBy(StrEnum):
    host = "host"
    team = "team"
    instance_type = "instance_type"


@gpu_app.command("report")
def gpu_report(
    period: Annotated[str, typer.Option(help=f"The period: {PERIOD_HELP}.")] = "7d",
    as_of: Annotated[
        str | None, typer.Option(help="Last day of the period (YYYY-MM-DD). Default: the newest telemetry's day.")
    ] = None,
    fmt: Annotated[GpuReportFormat, typer.Option("--format", help="Output format.")] = GpuReportFormat.table,
    group_by: Annotated[GpuGroupBy | None, typer.Option(help="Also total by host, team or instance type.")] = None,
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
    demo: Annotated[bool, typer.Option(help="Report on the embedded demo data.")] = False,
    db: DbOption = None,
) -> None:
    """Every GPU and MIG instance over a period: hours in each state (active, underutilized, idle with memory
    held, idle and empty, unknown), the activity signal behind each verdict, GPU-hours, idle GPU-hours, energy,
    and what the idle hours cost (from the bill, a synced catalog or the bundled list price; else "unpriced").

    Works on a store that holds telemetry only (with no store yet, or --demo, on the embedded demo). A MIG instance
    counts as its share of the GPU (its profile's slices of 7); a sample with no activity signal is "unknown",
    never idle.
    """
    from finops.cli.billing import _report_db
    from finops.gpu_report import build_gpu_report
    from finops.ui.render import emit

    report = build_gpu_report(_report_db(db, demo), period, as_of, group_by.value if group_by else None)
    if fmt is GpuReportFormat.table:
        from finops.ui.gpu_table import print_gpu_report

        emit(output, table=lambda console: print_gpu_report(report, console))
        return
    from finops.output import gpu_report_formats as formats

    render = {"json": formats.render_json, "csv": formats.render_csv, "markdown": formats.render_markdown}
    emit(output, text=render[fmt.value](report))
