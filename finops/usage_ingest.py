"""Inference counters into `usage_metrics`: scrapes of inference servers' `/metrics` pages (vLLM, Ray Serve vLLM,
NVIDIA NIM, SGLang, TGI, Triton), and plain CSV counts.

A scrape holds counters cumulative since the server started, so one scrape says nothing about a window: the
rows are the differences between consecutive scrapes of the same endpoint, resource and model. A model listed
at 0 (a server just started) is a scrape like any other, so the first window counts from it. A counter that
went down means the server restarted; the window then counts what the new process counted (what Prometheus's
`increase()` does). `finops usage scrape` saves pages to a spool with when and what they were; `finops usage
ingest` turns a spool (or saved pages, or CSV files) into rows, replacing each (source, day) it covers, so
re-ingesting a growing spool never duplicates.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from finops.coerce import coerce
from finops.connectors.serving_metrics import Snapshot, parse_serving_metrics
from finops.errors import InputError, SourceError, UsageError
from finops.schema import USAGE_METRICS
from finops.store import LoadResult, open_store

HEADER = "# finops-scrape "
SCRAPE_SUFFIXES = (".prom", ".txt", ".metrics")


@dataclass(frozen=True)
class Target:
    endpoint: str
    url: str
    resource: str | None = None


@dataclass(frozen=True)
class Scrape:
    endpoint: str
    resource: str | None
    scraped_at: datetime
    snapshots: tuple[Snapshot, ...]
    server: str = ""  # keeps replicas apart where no resource names them (Prometheus's job/instance)


def scrape(target: Target, spool: Path, now: datetime | None = None) -> Path:
    """Fetch one page and keep it in the spool, with what and when it was, for `ingest` to difference later."""
    now = now or datetime.now(UTC)
    try:
        with urllib.request.urlopen(target.url, timeout=10) as response:
            body = response.read().decode()
    except OSError as e:
        raise SourceError(f"{target.url}: cannot scrape: {e}", hint="is the inference server reachable?") from e
    parse_serving_metrics(body, origin=target.url)  # refuse a page with no counters now, not at ingest
    folder = spool / _safe(target.endpoint)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"endpoint": target.endpoint, "resource_id": target.resource, "scraped_at": now.isoformat()}
    path = folder / f"{now:%Y%m%dT%H%M%S%fZ}.prom"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(HEADER + json.dumps(meta) + "\n" + body, encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a page
    return path


def read_scrape(path: Path, endpoint: str | None = None, resource: str | None = None) -> Scrape:
    text = path.read_text(encoding="utf-8")
    meta: dict[str, Any] = {}
    if text.startswith(HEADER):
        first, _, text = text.partition("\n")
        meta = json.loads(first[len(HEADER) :])
    name = endpoint or meta.get("endpoint")
    if not name:
        raise UsageError(f"{path}: which endpoint is this page from?", hint="give --endpoint NAME")
    when = meta.get("scraped_at")
    at = datetime.fromisoformat(when) if when else datetime.fromtimestamp(path.stat().st_mtime, UTC)
    snapshots = tuple(parse_serving_metrics(text, origin=str(path)))
    return Scrape(name, resource or meta.get("resource_id"), at.astimezone(UTC), snapshots)


def scrape_rows(scrapes: list[Scrape]) -> list[dict[str, Any]]:
    """Rows for `usage_metrics`: one per window between consecutive scrapes of the same series."""
    series: dict[tuple[Any, ...], list[tuple[datetime, Snapshot]]] = defaultdict(list)
    for s in scrapes:
        for snap in s.snapshots:
            series[(s.endpoint, s.resource, s.server, snap.server, snap.model)].append((s.scraped_at, snap))
    rows = []
    for (endpoint, resource, _, server, model), points in series.items():
        points.sort(key=lambda p: p[0])
        for (t0, before), (t1, after) in itertools.pairwise(points):
            if t1 <= t0:
                continue  # the same page twice
            rows.append(_window(endpoint, resource, server, model, t0, t1, before, after))
    return rows


def _window(endpoint: str, resource: str | None, server: str, model: str | None, t0: datetime, t1: datetime,
            before: Snapshot, after: Snapshot) -> dict[str, Any]:  # fmt: skip
    restarted = after.requests < before.requests or after.latency_count < before.latency_count

    def delta(name: str) -> float:
        now, then = float(getattr(after, name)), float(getattr(before, name))
        return now if restarted or now < then else now - then

    le = sorted(after.buckets)
    counts = [after.buckets[b] - (0 if restarted else before.buckets.get(b, 0.0)) for b in le]
    requests, count = delta("requests"), delta("latency_count")
    latency_sum, served = delta("latency_sum_s"), count or requests
    return {
        "ts": t0, "interval_s": (t1 - t0).total_seconds(), "endpoint": endpoint, "model": model,
        "resource_id": resource, "requests": round(requests), "requests_failed": round(delta("failed")),
        "input_tokens": round(delta("input_tokens")), "output_tokens": round(delta("output_tokens")),
        "latency_le_s": le or None, "latency_counts": [round(c) for c in counts] or None,
        "latency_sum_s": latency_sum, "latency_mean_s": latency_sum / served if served else None,
        "labels": json.dumps({"server": server}), "x_Source": f"metrics:{endpoint}", "x_Day": t0.date(),
    }  # fmt: skip


def prometheus_scrapes(base_url: str, start: datetime, end: datetime, step_s: int, *,
                       endpoint: str | None = None, resource: str | None = None) -> list[Scrape]:  # fmt: skip
    """Counter values over time from a Prometheus server, as scrapes: the endpoint is --endpoint, else the
    model the series serves, else its Prometheus job."""
    from finops.connectors.serving_metrics import snapshots_from_prometheus

    scrapes = []
    for (instance, ts), snapshots in sorted(snapshots_from_prometheus(base_url, start, end, step_s).items()):
        for snap in snapshots:
            name = endpoint or snap.model or instance.split("/")[0] or "(unnamed)"
            scrapes.append(Scrape(name, resource, ts, (snap,), server=instance))
    return scrapes


def read_counts_csv(path: Path) -> pl.DataFrame:
    """A plain CSV of counts for anything without a /metrics page: ts, endpoint, requests, and optionally
    interval_s, requests_failed, input_tokens, output_tokens, resource_id, model, latency_p95_s."""
    frame = pl.read_csv(path, infer_schema=False)
    missing = [c for c in ("ts", "endpoint", "requests") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}",
                         hint="a counts CSV needs ts, endpoint and requests (finops usage ingest --help)")  # fmt: skip
    known = {name for name, _ in USAGE_METRICS.columns}
    extra = [c for c in frame.columns if c not in known]
    if extra:
        raise InputError(f"{path}: unknown column(s) {', '.join(extra)}", hint=f"known: {', '.join(sorted(known))}")
    typed = coerce(frame, USAGE_METRICS, file=str(path))
    return typed.with_columns(x_Source=pl.lit(f"usage-csv:{path.name}"), x_Day=pl.col("ts").dt.date())


def collect(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(scrape pages, CSV files) under the given files and folders, in a stable order."""
    pages, tables = [], []
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.suffix.lower() == ".csv":
                tables.append(file)
            elif file.suffix.lower() in SCRAPE_SUFFIXES:
                pages.append(file)
    if not pages and not tables:
        raise UsageError(f"nothing to load in {', '.join(map(str, paths))}",
                         hint="give /metrics pages (.prom, .txt), a spool folder, or CSV counts")  # fmt: skip
    return pages, tables


def ingest_usage(db: Path, paths: list[Path], *, endpoint: str | None = None, resource: str | None = None,
                 force: bool = False, prometheus: list[Scrape] | None = None) -> LoadResult:  # fmt: skip
    """Read and check everything first; then one transaction. Loading the same inputs again writes nothing."""
    pages, tables = collect(paths) if paths or not prometheus else ([], [])
    frames = [read_counts_csv(t) for t in tables]
    scrapes = [read_scrape(p, endpoint, resource) for p in pages] + list(prometheus or [])
    rows = scrape_rows(scrapes)
    if rows:
        frames.append(coerce(pl.DataFrame(rows, infer_schema_length=None), USAGE_METRICS, file="scrapes"))
    if not any(len(f) for f in frames):
        raise UsageError("no windows to load yet", hint="an endpoint needs two scrapes to have a window between them")
    digest = hashlib.sha256(repr(sorted(rows, key=repr)).encode() if prometheus else b"")
    for file in [*pages, *tables]:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    checksum = digest.hexdigest()[:16]
    with open_store(db) as store:
        if not force and store.is_unchanged(USAGE_METRICS, checksum):
            return LoadResult(load_id="", table=USAGE_METRICS.name, unchanged=True)
        return store.replace_slices(USAGE_METRICS, frames, checksum=checksum, inputs=[str(p) for p in paths])


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "endpoint"
