"""Inference servers' `/metrics` pages as cumulative counter snapshots: vLLM, vLLM under Ray Serve LLM, NVIDIA
NIM for LLMs, SGLang, Text Generation Inference and Triton (which names each writes: `serving_stacks`).

One snapshot per (server, model) on the page, read with prometheus_client's own parser. Counters are cumulative
since the server started; `finops.usage_ingest` turns consecutive snapshots into per-window deltas (and notices
restarts). Several series of one model on a page (Ray workers and replicas, Triton model versions, SGLang ranks)
are summed into its snapshot. A model whose counters all read 0 is kept: a server just started lists its models
at 0, and that snapshot is the start of the first window. A page with none of the known counters is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from finops.connectors.serving_stacks import STACKS, Stack, is_nim, owner
from finops.errors import InputError

MODEL_LABELS = ("model_name", "model")  # vLLM, Ray, NIM, SGLang; Triton. TGI serves one model and names none


@dataclass
class Snapshot:
    """Cumulative counters of one model on one server at one scrape."""

    server: str  # vllm | ray_vllm | nim | sglang | tgi | triton
    model: str | None
    requests: float = 0.0
    failed: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    latency_sum_s: float = 0.0
    latency_count: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count
    counted_requests: bool = field(default=False, repr=False)  # the page had a request counter for it


Snapshots = dict[tuple[str, str | None], Snapshot]


def parse_serving_metrics(text: str, *, origin: str = "metrics") -> list[Snapshot]:
    """Every model's counters on one scrape. A page from none of the known servers is an error naming it."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    except ValueError as e:
        raise InputError(f"{origin}: not Prometheus exposition text: {e}") from e
    nim = is_nim(s.name for s in samples if s.labels.get("model_name"))
    snapshots: Snapshots = {}
    for sample in samples:
        _collect(snapshots, sample.name, sample.labels, float(sample.value), nim)
    if not snapshots:
        raise InputError(
            f"{origin}: no request counters of a known inference server on this page "
            "(vLLM, Ray Serve vLLM, NVIDIA NIM, SGLang, TGI, Triton)",
            hint="scrape the inference server's own /metrics (vllm:*, ray_vllm_*, sglang:*, tgi_*, nv_inference_*, "
            "or a NIM's /v1/metrics)",
        )
    return sorted(_finished(snapshots), key=lambda s: (s.server, s.model or ""))


def _collect(snapshots: Snapshots, name: str, labels: dict[str, str], value: float, nim: bool) -> None:
    found = owner(name, labels, nim)
    if found is None:
        return
    stack, key = found
    model = next((labels[k] for k in MODEL_LABELS if labels.get(k)), None)
    snap = snapshots.setdefault((stack.name, model), Snapshot(stack.name, model))
    _add(snap, stack, key, labels, value)


def _add(snap: Snapshot, stack: Stack, key: str, labels: dict[str, str], value: float) -> None:
    if key == stack.buckets:
        le = float(labels["le"])
        snap.buckets[le] = snap.buckets.get(le, 0.0) + value
        return
    for field_name, divisor in stack.fields[key]:
        setattr(snap, field_name, getattr(snap, field_name) + value / divisor)
        snap.counted_requests |= field_name == "requests"
    if stack.aborts and key == "request_success_total" and labels.get("finished_reason") == "abort":
        snap.failed += value


def _finished(snapshots: Snapshots) -> list[Snapshot]:
    """Where a page has no request counter for a model (SGLang before `num_requests_total`), every finished
    request was still observed by the end-to-end latency histogram: its count is the requests."""
    for snap in snapshots.values():
        if not snap.counted_requests:
            snap.requests = snap.latency_count
    return list(snapshots.values())


# What a Prometheus server is asked for: every counter, histogram part and bucket any stack reads
COUNTERS = tuple(dict.fromkeys(name for stack in STACKS for name in stack.names()))


def snapshots_from_prometheus(
    base_url: str, start: datetime, end: datetime, step_s: int
) -> dict[tuple[str, datetime], list[Snapshot]]:
    """The same counters as a page, from a Prometheus server that scrapes the inference servers: one
    `query_range` over every counter, grouped into a snapshot per (server instance, model, time). Whether an
    instance is a NIM is decided from its own series, as for a page."""
    from finops.connectors.prometheus_api import query_range

    query = '{__name__=~"' + "|".join(COUNTERS) + '"}'
    series = query_range(base_url, query, start, end, step_s)
    names: dict[str, set[str]] = {}
    for labels, _ in series:
        if labels.get("model_name"):
            names.setdefault(_instance(labels), set()).add(labels.get("__name__", ""))
    nim = {instance for instance, found in names.items() if is_nim(found)}
    by_instance: dict[tuple[str, datetime], Snapshots] = {}
    for labels, points in series:
        instance = _instance(labels)
        for ts, value in points:
            snaps = by_instance.setdefault((instance, ts), {})
            _collect(snaps, labels.get("__name__", ""), labels, value, instance in nim)
    return {key: _finished(snaps) for key, snaps in by_instance.items() if snaps}


def _instance(labels: dict[str, str]) -> str:
    return f"{labels.get('job', '')}/{labels.get('instance', '')}"
