"""What each inference serving stack writes on its `/metrics` page, as data: one `Stack` per server family.

A stack owns a sample when the sample's name starts with one of its prefixes and the rest is one of its fields
(a counter's name as the server writes it, `_total` included where the server writes it) or its latency
histogram's `_bucket`. Every stack's names were checked against a real capture or the server's source; see
tests/data/serving/README.md. What each field means:

- vLLM (`vllm:`): requests `request_success_total` (every finished reason; `finished_reason="abort"` also counts
  as failed), tokens `prompt_tokens_total` / `generation_tokens_total`, latency `e2e_request_latency_seconds`.
- vLLM under Ray Serve LLM: the same engine counters re-exported through Ray's metrics agent, so prefixed
  `ray_` and carrying Ray's labels (`WorkerId`, `ReplicaId`, `Component`, `SessionName`, `NodeAddress`...): one
  series per Ray worker/replica, which the parser sums per model. Recent vLLM turns `:` into `_` for Ray's
  OpenTelemetry exporter (`ray_vllm_request_success_total`, as pasted from Ray 2.52); older pairs wrote
  `ray_vllm:request_success_total`, as Ray's dashboards of mid-2025 query. Both are read. No public capture of such
  a page was found: this stack is read from vLLM's `ray_wrappers.py`, Ray's dashboards and one line pasted in
  vllm-project/vllm#24267.
- NVIDIA NIM for LLMs (1.x): vLLM's names without a prefix, model in `model_name`; `request_success_total`
  counts finished reasons stop/length, `request_failure_total` the others (so requests are their sum).
- SGLang (`sglang:`, with `--enable-metrics`): requests `num_requests_total` (finished, aborted ones included),
  failed `num_aborted_requests_total`, tokens `prompt_tokens_total` / `generation_tokens_total`, latency
  `e2e_request_latency_seconds`. Before SGLang had `num_requests_total` (PR #2859, January 2025) the page has no
  request counter: the e2e histogram's count stands in for it (in parse, for every stack).
- TGI (`tgi_`): requests `tgi_request_count`, failed `tgi_request_failure`, tokens the sums of the
  `tgi_request_input_length` / `tgi_request_generated_tokens` histograms, latency `tgi_request_duration`.
- Triton (`nv_inference_`): requests `nv_inference_request_success` + `_failure`, latency
  `nv_inference_request_duration_us` (a sum only: a mean, no p95). Model in the `model` label.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Fields = dict[str, tuple[tuple[str, float], ...]]  # name after the prefix -> (Snapshot field, divisor to its unit)


@dataclass(frozen=True)
class Stack:
    name: str  # Snapshot.server, and the `server` label of the usage rows
    prefixes: tuple[str, ...]
    fields: Fields
    buckets: str | None = None  # the latency histogram's bucket sample after the prefix (for p95)
    aborts: bool = False  # `finished_reason="abort"` on `request_success_total` is a failure too (vLLM)

    def names(self) -> list[str]:
        """Every sample name this stack reads, in full: what a Prometheus server is asked for."""
        keys = [*self.fields, *([self.buckets] if self.buckets else [])]
        return [prefix + key for prefix in self.prefixes for key in keys]


VLLM_FIELDS: Fields = {
    "request_success_total": (("requests", 1),),
    "prompt_tokens_total": (("input_tokens", 1),),
    "generation_tokens_total": (("output_tokens", 1),),
    "e2e_request_latency_seconds_sum": (("latency_sum_s", 1),),
    "e2e_request_latency_seconds_count": (("latency_count", 1),),
}
VLLM_BUCKETS = "e2e_request_latency_seconds_bucket"

STACKS: tuple[Stack, ...] = (  # the first whose prefix and field match owns a sample: `ray_vllm:` before `vllm:`
    Stack("ray_vllm", ("ray_vllm:", "ray_vllm_"), VLLM_FIELDS, VLLM_BUCKETS, aborts=True),
    Stack("vllm", ("vllm:",), VLLM_FIELDS, VLLM_BUCKETS, aborts=True),
    Stack(
        "sglang",
        ("sglang:",),
        {
            "num_requests_total": (("requests", 1),),
            "num_aborted_requests_total": (("failed", 1),),
            "prompt_tokens_total": (("input_tokens", 1),),
            "generation_tokens_total": (("output_tokens", 1),),
            "e2e_request_latency_seconds_sum": (("latency_sum_s", 1),),
            "e2e_request_latency_seconds_count": (("latency_count", 1),),
        },
        VLLM_BUCKETS,
    ),
    Stack(
        "tgi",
        ("tgi_",),
        {
            "request_count": (("requests", 1),),
            "request_failure": (("failed", 1),),
            "request_input_length_sum": (("input_tokens", 1),),
            "request_generated_tokens_sum": (("output_tokens", 1),),
            "request_duration_sum": (("latency_sum_s", 1),),
            "request_duration_count": (("latency_count", 1),),
        },
        "request_duration_bucket",
    ),
    Stack(
        "triton",
        ("nv_inference_",),
        {
            "request_success": (("requests", 1),),
            "request_failure": (("requests", 1), ("failed", 1)),
            "request_duration_us": (("latency_sum_s", 1e6),),
        },
    ),
    Stack(
        "nim",
        ("",),
        {**VLLM_FIELDS, "request_failure_total": (("requests", 1), ("failed", 1))},
        VLLM_BUCKETS,
        aborts=True,
    ),
)
NIM = STACKS[-1]

# NIM's names carry no prefix, so `prompt_tokens_total` of any other exporter on the same page (or in the same
# Prometheus) would read as NIM. A page (or a Prometheus instance) is taken for a NIM only when it has the whole
# vLLM-like token and latency family set labelled with `model_name`, as NIM writes them, and no prefixed vLLM
# counters (a server that wrote both would otherwise be counted twice); only samples with `model_name` count.
NIM_REQUIRED = frozenset({"prompt_tokens_total", "generation_tokens_total", "e2e_request_latency_seconds_count"})


def is_nim(names_with_model_name: Iterable[str]) -> bool:
    """Whether the sample names that carry a `model_name` label are a NIM's."""
    names = set(names_with_model_name)
    return names >= NIM_REQUIRED and not any(n.startswith("vllm:") for n in names)


def owner(name: str, labels: dict[str, str], nim: bool) -> tuple[Stack, str] | None:
    """The stack a sample belongs to and its field (or bucket) name, or None: not a counter finops reads."""
    for stack in STACKS:
        if stack is NIM and not (nim and labels.get("model_name")):
            continue
        for prefix in stack.prefixes:
            if not name.startswith(prefix):
                continue
            key = name[len(prefix) :]
            for candidate in (key, key.removesuffix("_total")):  # the parser adds `_total` to a typed counter
                if candidate == stack.buckets or candidate in stack.fields:
                    return stack, candidate
    return None
