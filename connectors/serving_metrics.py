"""Inference servers' `/metrics` pages (vLLM, Text Generation Inference, Triton) as cumulative counter snapshots.

One snapshot per model on the page, read with prometheus_client's own parser. Counters are cumulative since the
server started; `finops.usage_ingest` turns consecutive snapshots into per-window deltas (and notices restarts).

- vLLM: requests `vllm:request_success_total` (every finished reason; reason `abort` counts as failed),
  tokens `vllm:prompt_tokens_total` / `vllm:generation_tokens_total`, latency the
  `vllm:e2e_request_latency_seconds` histogram. Model from the `model_name` label.
- TGI: requests `tgi_request_count`, failed `tgi_request_failure`, tokens the sums of the
  `tgi_request_input_length` / `tgi_request_generated_tokens` histograms, latency `tgi_request_duration`.
- Triton: requests `nv_inference_request_success` + `_failure`, latency `nv_inference_request_duration_us`
  (a sum only: a mean, no p95). Model from the `model` label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from finops.errors import InputError

MODEL_LABELS = ("model_name", "model")  # vLLM, Triton; TGI serves one model and names none


@dataclass
class Snapshot:
    """Cumulative counters of one model on one server at one scrape."""

    server: str  # vllm | tgi | triton
    model: str | None
    requests: float = 0.0
    failed: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    latency_sum_s: float = 0.0
    latency_count: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count


def parse_serving_metrics(text: str, *, origin: str = "metrics") -> list[Snapshot]:
    """Every model's counters on one scrape. A page from none of the known servers is an error naming it."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as e:
        raise InputError(f"{origin}: not Prometheus exposition text: {e}") from e
    snapshots: dict[tuple[str, str | None], Snapshot] = {}
    for family in families:
        for sample in family.samples:
            server = _server(sample.name)
            if server is None:
                continue
            model = next((sample.labels[k] for k in MODEL_LABELS if sample.labels.get(k)), None)
            snap = snapshots.setdefault((server, model), Snapshot(server, model))
            _add(snap, sample.name, sample.labels, float(sample.value))
    found = [s for s in snapshots.values() if s.requests or s.latency_count or s.buckets or s.input_tokens]
    if not found:
        raise InputError(
            f"{origin}: no vLLM, TGI or Triton request counters on this page",
            hint="scrape the inference server's own /metrics (vllm:*, tgi_*, nv_inference_*)",
        )
    return sorted(found, key=lambda s: (s.server, s.model or ""))


def _server(name: str) -> str | None:
    if name.startswith("vllm:"):
        return "vllm"
    if name.startswith("tgi_"):
        return "tgi"
    if name.startswith("nv_inference_"):
        return "triton"
    return None


# A counter's sample name -> the snapshot fields it adds to, each with the divisor to its unit. A name also matches
# with `_total` after it: prometheus_client writes a counter's sample so even where the page does not.
FIELDS: dict[str, tuple[tuple[str, float], ...]] = {
    "vllm:request_success_total": (("requests", 1),),  # finished reason `abort` also counts as failed, in _add
    "vllm:prompt_tokens_total": (("input_tokens", 1),),
    "vllm:generation_tokens_total": (("output_tokens", 1),),
    "vllm:e2e_request_latency_seconds_sum": (("latency_sum_s", 1),),
    "vllm:e2e_request_latency_seconds_count": (("latency_count", 1),),
    "tgi_request_count": (("requests", 1),),
    "tgi_request_failure": (("failed", 1),),
    "tgi_request_input_length_sum": (("input_tokens", 1),),
    "tgi_request_generated_tokens_sum": (("output_tokens", 1),),
    "tgi_request_duration_sum": (("latency_sum_s", 1),),
    "tgi_request_duration_count": (("latency_count", 1),),
    "nv_inference_request_success": (("requests", 1),),
    "nv_inference_request_failure": (("requests", 1), ("failed", 1)),
    "nv_inference_request_duration_us": (("latency_sum_s", 1e6),),
}
BUCKETS = ("vllm:e2e_request_latency_seconds_bucket", "tgi_request_duration_bucket")  # latency histograms
COUNTERS = (*FIELDS, *BUCKETS)  # what a Prometheus server is asked for


def _add(snap: Snapshot, name: str, labels: dict[str, str], value: float) -> None:
    if name in BUCKETS:
        le = float(labels["le"])
        snap.buckets[le] = snap.buckets.get(le, 0.0) + value
        return
    for field_name, divisor in FIELDS.get(name) or FIELDS.get(name.removesuffix("_total"), ()):
        setattr(snap, field_name, getattr(snap, field_name) + value / divisor)
    if name == "vllm:request_success_total" and labels.get("finished_reason") == "abort":
        snap.failed += value


def snapshots_from_prometheus(
    base_url: str, start: datetime, end: datetime, step_s: int
) -> dict[tuple[str, datetime], list[Snapshot]]:
    """The same counters as a page, from a Prometheus server that scrapes the inference servers: one
    `query_range` over every counter, grouped into a snapshot per (server instance, model, time)."""
    from finops.connectors.prometheus_api import query_range

    query = '{__name__=~"' + "|".join(COUNTERS) + '"}'
    by_instance: dict[tuple[str, datetime], dict[tuple[str, str | None], Snapshot]] = {}
    for labels, points in query_range(base_url, query, start, end, step_s):
        name = labels.get("__name__", "")
        server = _server(name)
        if server is None:
            continue
        model = next((labels[k] for k in MODEL_LABELS if labels.get(k)), None)
        instance = f"{labels.get('job', '')}/{labels.get('instance', '')}"
        for ts, value in points:
            snaps = by_instance.setdefault((instance, ts), {})
            _add(snaps.setdefault((server, model), Snapshot(server, model)), name, labels, value)
    return {key: list(snaps.values()) for key, snaps in by_instance.items()}
