"""`finops gpu ...`: the sampler agent, its spool, and telemetry from exporters."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    pass

from finops.cli.base import DbOption, _location, app

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
