"""Serving stacks beyond vLLM/TGI/Triton: real NVIDIA NIM and SGLang pages read to numbers counted by hand, vLLM
under Ray Serve summed over workers, a model at 0 kept as the start of the first window, NIM's unprefixed names
told apart from other exporters', and the same counters through a Prometheus server."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from http_server import serve_pages, serve_prometheus

from finops.connectors.serving_metrics import COUNTERS, Snapshot, parse_serving_metrics
from finops.errors import InputError
from finops.usage_ingest import Target, scrape

DATA = Path(__file__).parent / "data"
SERVING = DATA / "serving"
NIM = (SERVING / "nim-llama-3.1-8b-instruct.txt").read_text()
VLLM = (DATA / "prometheus" / "vllm-metrics.txt").read_text()
DCGM = (DATA / "prometheus" / "dcgm-exporter-l40s-idle.txt").read_text()
T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
INF = float("inf")

# Expected numbers, read off the capture files by hand, not through finops: the counter and histogram lines
# grepped out of each file (`grep -E '^(request_(success|failure)_total|prompt_tokens_total|...)\{' FILE`, the
# `sglang:` ones likewise), each file serving one model, so no sums were needed. NIM: requests =
# request_success_total 5 + request_failure_total 0. SGLang 0.5.10: num_requests_total 1, no
# num_aborted_requests_total line. The SGLang docs page predates num_requests_total: its requests are the e2e
# histogram's count, 11228.
CAPTURES = {
    "nim-llama-3.1-8b-instruct.txt": Snapshot(
        "nim", "meta/llama-3.1-8b-instruct", requests=5, failed=0, input_tokens=109, output_tokens=174,
        latency_sum_s=2.4688401222229004, latency_count=5,
        buckets={1.0: 5, 2.5: 5, 5.0: 5, 10.0: 5, 15.0: 5, 20.0: 5, 30.0: 5, 40.0: 5, 50.0: 5, 60.0: 5, INF: 5},
    ),
    "sglang-0.5.10-opt-125m.txt": Snapshot(
        "sglang", "facebook/opt-125m", requests=1, failed=0, input_tokens=5, output_tokens=32,
        latency_sum_s=0.07, latency_count=1, buckets={0.1: 1, INF: 1},
    ),
    "sglang-docs-llama-3.1-8b.txt": Snapshot(
        "sglang", "meta-llama/Llama-3.1-8B-Instruct", requests=11228, failed=0, input_tokens=8128902,
        output_tokens=7557572, latency_sum_s=3116093.850019932, latency_count=11228,
        buckets={0.3: 0, 0.5: 6, 0.8: 6, 1.0: 6, 1.5: 6, 2.0: 6, 2.5: 6, 5.0: 7, 10.0: 10, 15.0: 11, 20.0: 14,
                 30.0: 247, 40.0: 486, 50.0: 845, 60.0: 1513, INF: 11228},
    ),
}  # fmt: skip


def _numbers(snap: Snapshot) -> tuple[object, ...]:
    return (snap.server, snap.model, snap.requests, snap.failed, snap.input_tokens, snap.output_tokens,
            snap.latency_sum_s, snap.latency_count, snap.buckets)  # fmt: skip


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_each_real_capture_reads_as_the_numbers_counted_by_hand(name: str) -> None:
    (snap,) = parse_serving_metrics((SERVING / name).read_text(), origin=name)
    assert _numbers(snap) == _numbers(CAPTURES[name])


# vLLM under Ray Serve LLM. No public capture of such a page was found (tests/data/serving/README.md): this page is
# a guess, built from vLLM's ray_wrappers.py (`:` sanitised to `_`, a ReplicaId tag) and the one line pasted in
# vllm-project/vllm#24267, whose labels it copies. Older Ray/vLLM pairs wrote `ray_vllm:`; both are read.
RAY_LABELS = ('Component="core_worker",NodeAddress="10.1.113.171",ReplicaId="{replica}",'
              'SessionName="session_2025-12-01_11-05-34_460418_3579",Version="2.52.0",WorkerId="{worker}",'
              'engine="0",model_name="{model}"')  # fmt: skip


def ray_page(prefix: str, replicas: list[tuple[str, str, str, dict[str, float]]]) -> str:
    """A Ray metrics-agent page: per (replica, worker, model) its vLLM counters under Ray's labels, plus one of
    Ray Serve's own counters, which is no vLLM counter."""
    lines = [f"# TYPE {prefix}request_success_total counter"]
    rows = [(RAY_LABELS.format(replica=r, worker=w, model=m), c) for r, w, m, c in replicas]
    for labels, c in rows:
        lines += [f'{prefix}request_success_total{{{labels},finished_reason="stop"}} {c["stop"]}',
                  f'{prefix}request_success_total{{{labels},finished_reason="abort"}} {c["abort"]}']  # fmt: skip
    for family, key in (("prompt_tokens_total", "prompt"), ("generation_tokens_total", "generation")):
        lines.append(f"# TYPE {prefix}{family} counter")
        lines += [f"{prefix}{family}{{{labels}}} {c[key]}" for labels, c in rows]
    lines.append(f"# TYPE {prefix}e2e_request_latency_seconds histogram")
    for labels, c in rows:
        lines += [f'{prefix}e2e_request_latency_seconds_bucket{{{labels},le="1.0"}} {c["le1"]}',
                  f'{prefix}e2e_request_latency_seconds_bucket{{{labels},le="+Inf"}} {c["stop"] + c["abort"]}',
                  f"{prefix}e2e_request_latency_seconds_count{{{labels}}} {c['stop'] + c['abort']}",
                  f"{prefix}e2e_request_latency_seconds_sum{{{labels}}} {c['sum']}"]  # fmt: skip
    lines += ["# TYPE ray_serve_num_http_requests_total counter",
              'ray_serve_num_http_requests_total{application="llm",method="POST",route="/v1"} 999']  # fmt: skip
    return "\n".join(lines) + "\n"


REPLICA_A = {"stop": 60, "abort": 2, "prompt": 6000, "generation": 9000, "le1": 50, "sum": 40.5}
REPLICA_B = {"stop": 30, "abort": 1, "prompt": 2500, "generation": 4000, "le1": 20, "sum": 19.25}


@pytest.mark.parametrize("prefix", ["ray_vllm_", "ray_vllm:"])
def test_ray_serve_replicas_of_one_model_are_summed(prefix: str) -> None:
    page = ray_page(prefix, [("3r4e76ag", "6f8b9bc4", "qwen-0.5b", REPLICA_A), ("k2x91pq0", "a71c03de", "qwen-0.5b",
                     REPLICA_B), ("m0d3l2aa", "c0ffee11", "llama-8b", REPLICA_B)])  # fmt: skip
    qwen, llama = sorted(parse_serving_metrics(page), key=lambda s: s.model or "", reverse=True)
    # qwen: requests (60+2) + (30+1) = 93, of which aborted 2 + 1 = 3; tokens 6000+2500, 9000+4000;
    # latency 40.5 + 19.25 over 62 + 31; buckets le=1: 50 + 20, +Inf: 62 + 31. Ray Serve's own 999 is not counted.
    assert _numbers(qwen) == ("ray_vllm", "qwen-0.5b", 93, 3, 8500, 13000, 59.75, 93, {1.0: 70, INF: 93})
    assert _numbers(llama) == ("ray_vllm", "llama-8b", 31, 1, 2500, 4000, 19.25, 31, {1.0: 20, INF: 31})


def test_nims_unprefixed_names_are_read_only_from_a_nim_page() -> None:
    """Another exporter's `prompt_tokens_total` is not a NIM; a NIM page beside other exporters' metrics is; a page
    with vLLM's own prefixed counters is vLLM's, whatever unprefixed twins it also carries."""
    stray = '# TYPE prompt_tokens_total counter\nprompt_tokens_total{model_name="gpt-4o"} 1234\n'
    with pytest.raises(InputError, match=re.escape("stray.txt: no request counters")):
        parse_serving_metrics(stray + DCGM, origin="stray.txt")
    (nim,) = parse_serving_metrics(DCGM + NIM)
    assert _numbers(nim) == _numbers(CAPTURES["nim-llama-3.1-8b-instruct.txt"])
    assert [s.server for s in parse_serving_metrics(VLLM + "\n" + NIM)] == ["vllm"]


def _zeroed(page: str) -> str:
    """The page as the server wrote it just after starting: every sample listed, every value 0."""
    return re.sub(r"^([^#\s][^ ]*) \S+$", r"\1 0.0", page, flags=re.MULTILINE)


def test_a_model_listed_at_zero_is_kept() -> None:
    (snap,) = parse_serving_metrics(_zeroed(NIM))
    assert _numbers(snap) == ("nim", "meta/llama-3.1-8b-instruct", 0, 0, 0, 0, 0, 0, dict.fromkeys(CAPTURES[
        "nim-llama-3.1-8b-instruct.txt"].buckets, 0.0))  # fmt: skip


def test_the_first_window_after_a_start_counts_from_zero(cli, db: Path, tmp_path: Path) -> None:
    pages = [_zeroed(NIM), NIM]  # the NIM just started, then after its first 5 requests
    served: list[str] = []

    spool = tmp_path / "spool"
    with serve_pages(pages, served) as base:
        for minutes in (0, 5):
            scrape(Target("nim-chat", f"{base}/v1/metrics", "i-0nim"), spool, now=T0 + timedelta(minutes=minutes))
    assert served == ["/v1/metrics"] * 2
    loaded = cli("usage", "ingest", spool, "--db", db)
    assert loaded.code == 0, loaded.err
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT ts, interval_s, endpoint, model, requests, requests_failed, input_tokens, output_tokens,"
            " latency_counts[-1], labels FROM usage_metrics"
        ).fetchall()
    assert rows == [(T0, 300.0, "nim-chat", "meta/llama-3.1-8b-instruct", 5, 0, 109, 174, 5, {"server": "nim"})]

    costs = tmp_path / "costs.csv"
    costs.write_text(
        "BillingAccountId,ChargePeriodStart,ChargePeriodEnd,BillingPeriodStart,BillingPeriodEnd,BilledCost,"
        "EffectiveCost,BillingCurrency,ResourceId,ProviderName,ChargeCategory\n"
        "1,2026-11-03T00:00:00Z,2026-11-04T00:00:00Z,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,39.60,39.60,USD,"
        "i-0nim,AWS,Usage\n"
    )
    assert cli("ingest", costs, "--db", db).code == 0
    report = json.loads(cli("report", "--db", db, "--period", "2026-11", "--format", "json").out)
    (nim,) = report["inference"]
    assert (nim["endpoint"], nim["requests"], nim["failed"]) == ("nim-chat", 5, 0)
    assert nim["cost_per_1k_requests"] == "7920.00"  # 39.60 / 5 * 1000
    assert nim["p95_latency_s"] == pytest.approx(0.95)  # 0.95 * 5 = 4.75th request, inside (0, 1.0] holding all 5


def test_a_page_of_no_serving_stack_is_refused_naming_the_file(cli, db: Path, tmp_path: Path) -> None:
    page = tmp_path / "gpu-node.txt"
    page.write_text(DCGM)
    result = cli("usage", "ingest", page, "--endpoint", "chat", "--db", db)
    assert result.code == 2
    assert "gpu-node.txt: no request counters of a known inference server" in result.err
    assert not db.exists()


def test_the_new_stacks_through_the_prometheus_http_api(cli, db: Path) -> None:
    """A Prometheus server scraping a Ray node (two replicas of one model), a NIM, and an app whose own
    `prompt_tokens_total` must not be taken for a NIM's."""
    times = [T0.timestamp(), T0.timestamp() + 300]
    ray = {"job": "ray", "instance": "10.1.113.171:8080", "model_name": "qwen-0.5b", "Component": "core_worker"}
    nim = {"job": "nim", "instance": "10.0.0.9:8000", "model_name": "meta/llama-3.1-8b-instruct"}
    series = [  # (labels, values at the two times)
        ({**ray, "__name__": "ray_vllm_request_success_total", "ReplicaId": "a", "finished_reason": "stop"}, [10, 70]),
        ({**ray, "__name__": "ray_vllm_request_success_total", "ReplicaId": "b", "finished_reason": "stop"}, [0, 25]),
        ({**ray, "__name__": "ray_vllm_prompt_tokens_total", "ReplicaId": "a"}, [100, 700]),
        ({**ray, "__name__": "ray_vllm_prompt_tokens_total", "ReplicaId": "b"}, [0, 250]),
        ({**nim, "__name__": "request_success_total"}, [0, 5]),
        ({**nim, "__name__": "request_failure_total"}, [0, 1]),
        ({**nim, "__name__": "prompt_tokens_total"}, [0, 109]),
        ({**nim, "__name__": "generation_tokens_total"}, [0, 174]),
        ({**nim, "__name__": "e2e_request_latency_seconds_count"}, [0, 6]),
        ({"job": "app", "instance": "10.0.0.5:9000", "model_name": "gpt-4o", "__name__": "prompt_tokens_total"},
         [1000, 5000]),
    ]  # fmt: skip
    queries: list[str] = []

    def matrix(query: dict[str, list[str]]) -> list[dict[str, Any]]:
        queries.append(query["query"][0])
        return [{"metric": labels, "values": [[t, str(v)] for t, v in zip(times, values, strict=True)]}
                for labels, values in series]  # fmt: skip

    with serve_prometheus(matrix) as base:
        result = cli("usage", "ingest", "--prometheus", base, "--since", "2026-11-03T10:00", "--until",
                     "2026-11-03T10:05", "--step", "300", "--db", db)  # fmt: skip
    assert result.code == 0, result.err
    (query,) = queries
    for name in (
        "ray_vllm_request_success_total",
        "ray_vllm:prompt_tokens_total",
        "request_success_total",
        "request_failure_total",
        "sglang:num_requests_total",
        "sglang:e2e_request_latency_seconds_bucket",
    ):
        assert name in query.removeprefix('{__name__=~"').removesuffix('"}').split("|"), name  # fmt: skip
    assert len(COUNTERS) == len(set(COUNTERS))
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT endpoint, requests, requests_failed, input_tokens, output_tokens, labels FROM usage_metrics"
            " ORDER BY endpoint"
        ).fetchall()
    assert rows == [
        ("meta/llama-3.1-8b-instruct", 6, 1, 109, 174, {"server": "nim"}),  # from 0: the NIM's first window
        ("qwen-0.5b", 85, 0, 850, 0, {"server": "ray_vllm"}),  # (70-10) + (25-0); (700-100) + (250-0)
    ]
