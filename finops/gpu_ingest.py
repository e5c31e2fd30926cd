"""`finops gpu ingest`: exporter scrapes (a URL or a saved page: dcgm-exporter, nvidia_gpu_exporter, Triton),
nvidia-smi CSV logs and nvidia-smi's text output (table, -q, -L: MIG instances) into `gpu_samples`. Each input is
its own source; loading the same bytes again writes nothing."""

from __future__ import annotations

import hashlib
import statistics
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finops.errors import InputError, SourceError, UsageError
from finops.schema import GPU_SAMPLES
from finops.store import LoadResult, open_store


@dataclass(frozen=True)
class Placement:
    """Where the GPUs run, for pricing from the bill: given here where the source does not say."""

    host: str | None = None
    instance_id: str | None = None
    instance_type: str | None = None
    provider: str | None = None


def read_input(target: str, placement: Placement) -> tuple[str, bytes, list[dict[str, Any]]]:
    """(source name, raw bytes, rows) for a URL, an exporter page saved to a file, or an nvidia-smi CSV."""
    from finops.connectors.gpu_exporters import parse_metrics, parse_nvidia_smi_csv
    from finops.connectors.nvidia_smi_text import is_nvidia_smi_text, parse_nvidia_smi_text

    if target.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(target, timeout=10) as response:
                body: bytes = response.read()
        except OSError as e:
            raise SourceError(f"{target}: cannot scrape: {e}", hint="is the exporter running and reachable?") from e
        rows = parse_metrics(body.decode(), scraped_at=datetime.now(UTC), host=placement.host, origin=target)
        return f"scrape:{target}", body, rows
    path = Path(target)
    if not path.is_file():
        raise UsageError(
            f"{target}: no such file",
            hint="give an exporter URL, a saved /metrics page, an nvidia-smi CSV log or nvidia-smi's text output",
        )
    body = path.read_bytes()
    if path.suffix.lower() == ".csv":
        rows = parse_nvidia_smi_csv(path, host=placement.host)
        _intervals(rows)
        return f"nvidia-smi:{path.name}", body, rows
    scraped = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    text = body.decode(errors="replace")
    if is_nvidia_smi_text(text):  # nvidia-smi's table, -q or -L output: the only place MIG shows without an exporter
        rows = parse_nvidia_smi_text(text, scraped_at=scraped, host=placement.host, origin=str(path))
        if not rows:
            raise InputError(
                f"{path}: nvidia-smi -L output names GPUs but measures nothing",
                hint="capture `nvidia-smi -L; nvidia-smi` or `nvidia-smi -q` together in one file",
            )
        return f"nvidia-smi:{path.name}", body, rows
    rows = parse_metrics(text, scraped_at=scraped, host=placement.host, origin=str(path))
    return f"metrics:{path.name}", body, rows


def _intervals(rows: list[dict[str, Any]]) -> None:
    """A log's sampling interval per GPU (the median gap), so its rows count as GPU-hours."""
    times: dict[str, list[datetime]] = defaultdict(list)
    for row in rows:
        times[row["gpu_uuid"]].append(row["ts"])
    for uuid, stamps in times.items():
        gaps = [(b - a).total_seconds() for a, b in zip(sorted(stamps), sorted(stamps)[1:], strict=False)]
        interval = statistics.median(gaps) if gaps else None
        for row in rows:
            if row["gpu_uuid"] == uuid:
                row["interval_s"] = interval


@dataclass(frozen=True)
class PrometheusRange:
    """Read from a Prometheus server over [start, end) at `step_s` instead of scraping exporters."""

    url: str
    start: datetime
    end: datetime
    step_s: int = 60


def ingest_gpu_telemetry(
    db: Path, targets: list[str], placement: Placement, prometheus: PrometheusRange | None = None
) -> list[LoadResult]:
    from finops.gpu_watch import rows_to_frame

    if not targets and prometheus is None:
        raise UsageError(
            "nothing to ingest", hint="give exporter URLs, saved pages or nvidia-smi logs, or --prometheus"
        )
    results = []
    inputs: list[tuple[str, str, bytes, list[dict[str, Any]]]] = [(t, *read_input(t, placement)) for t in targets]
    if prometheus is not None:
        from finops.connectors.gpu_exporters import query_range

        rows = query_range(prometheus.url, prometheus.start, prometheus.end, prometheus.step_s, host=placement.host)
        window = f"{prometheus.url} {prometheus.start:%Y-%m-%dT%H:%M}..{prometheus.end:%Y-%m-%dT%H:%M}"
        inputs.append((prometheus.url, f"prometheus:{window}", window.encode() + repr(rows).encode(), rows))
    for target, source, body, rows in inputs:
        if not rows:
            raise SourceError(f"{target}: no GPU metrics with a GPU UUID found", hint="is this a GPU exporter's page?")
        extra = {"instance_id": placement.instance_id, "instance_type": placement.instance_type,
                 "provider": placement.provider}  # fmt: skip
        rows = [{**row, **{k: v for k, v in extra.items() if v}} for row in rows]
        checksum = hashlib.sha256(source.encode() + body).hexdigest()
        with open_store(db) as store:
            if store.is_unchanged(GPU_SAMPLES, checksum):
                results.append(LoadResult("", GPU_SAMPLES.name, unchanged=True))
                continue
            frame = rows_to_frame(GPU_SAMPLES, rows, source)
            results.append(store.replace_slices(GPU_SAMPLES, [frame], checksum=checksum, inputs=[target]))
    return results


def prometheus_range(url: str, since: str | None, until: str | None, step_s: int) -> PrometheusRange:
    """The window of a --prometheus read: --since is required, --until defaults to now (UTC)."""
    if not since:
        raise UsageError("--prometheus needs --since (YYYY-MM-DDTHH:MM, UTC)")
    try:
        start = datetime.fromisoformat(since).replace(tzinfo=UTC)
        end = datetime.fromisoformat(until).replace(tzinfo=UTC) if until else datetime.now(UTC)
    except ValueError as e:
        raise UsageError(f"--since/--until: {e}", hint="use YYYY-MM-DDTHH:MM (UTC)") from e
    if end <= start:
        raise UsageError("--until must be after --since")
    return PrometheusRange(url, start, end, step_s)
