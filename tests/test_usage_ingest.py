"""Inference counters: a real vLLM /metrics page, scrapes from a live local server, deltas, restarts, CSV counts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from http_server import serve_pages, serve_prometheus

from finops.connectors.serving_metrics import parse_serving_metrics
from finops.errors import InputError
from finops.usage_ingest import Target, scrape

VLLM = (Path(__file__).parent / "data" / "prometheus" / "vllm-metrics.txt").read_text()
T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def test_the_real_vllm_page_reads_as_one_models_counters() -> None:
    (snap,) = parse_serving_metrics(VLLM)
    assert (snap.server, snap.model) == ("vllm", "facebook/opt-125m")
    assert (snap.requests, snap.failed, snap.input_tokens, snap.output_tokens) == (1, 0, 5, 7)
    assert snap.latency_count == 1 and snap.latency_sum_s == pytest.approx(0.50343, abs=1e-5)
    assert snap.buckets[1.0] == 1 and snap.buckets[float("inf")] == 1 and len(snap.buckets) == 11


def test_tgi_and_triton_pages() -> None:
    tgi = parse_serving_metrics(
        "# TYPE tgi_request_count counter\ntgi_request_count 10\n"
        '# TYPE tgi_request_failure counter\ntgi_request_failure{err="validation"} 2\n'
        "# TYPE tgi_request_input_length histogram\ntgi_request_input_length_sum 300\n"
        "tgi_request_input_length_count 10\n"
    )
    assert (tgi[0].server, tgi[0].requests, tgi[0].failed, tgi[0].input_tokens) == ("tgi", 10, 2, 300)
    triton = parse_serving_metrics(
        'nv_inference_request_success{model="resnet",version="1"} 90\n'
        'nv_inference_request_failure{model="resnet",version="1"} 10\n'
        'nv_inference_request_duration_us{model="resnet",version="1"} 5000000\n'
    )
    assert (triton[0].model, triton[0].requests, triton[0].failed, triton[0].latency_sum_s) == ("resnet", 100, 10, 5)


def test_a_page_without_serving_counters_is_refused() -> None:
    dcgm = (Path(__file__).parent / "data" / "prometheus" / "dcgm-exporter-l40s-idle.txt").read_text()
    with pytest.raises(InputError, match=r"dcgm\.txt: no request counters of a known inference server"):
        parse_serving_metrics(dcgm, origin="dcgm.txt")


def _advance(page: str, factor: int) -> str:
    """The vLLM page as it would read after `factor` times the traffic: every sample value multiplied."""

    def scale(match: re.Match[str]) -> str:
        return f"{match.group(1)} {float(match.group(2)) * factor}"

    return re.sub(r"^(vllm:[^ ]+) ([0-9.e+-]+)$", scale, page, flags=re.MULTILINE)


def test_scrapes_from_a_live_server_become_windows_with_restarts_understood(cli, db: Path, tmp_path: Path) -> None:
    pages = [_advance(VLLM, 100), _advance(VLLM, 160), _advance(VLLM, 40)]  # the third: the server restarted
    served: list[str] = []

    spool = tmp_path / "spool"
    with serve_pages(pages, served) as base:
        target = Target("chat", f"{base}/metrics", "i-0chat")
        for minutes in (0, 5, 10):
            scrape(target, spool, now=T0 + timedelta(minutes=minutes))
    assert served == ["/metrics"] * 3

    result = cli("usage", "ingest", spool, "--db", db)
    assert result.code == 0, result.err
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT ts, interval_s, endpoint, resource_id, requests, input_tokens, output_tokens, latency_counts[-1]"
            " FROM usage_metrics ORDER BY ts"
        ).fetchall()
    assert [r[1:] for r in rows] == [
        (300.0, "chat", "i-0chat", 60, 300, 420, 60),  # 160 - 100 requests' worth
        (300.0, "chat", "i-0chat", 40, 200, 280, 40),  # after the restart: what the new process counted
    ]
    assert rows[0][0] == T0
    again = cli("usage", "ingest", spool, "--db", db)
    assert again.code == 0 and "unchanged" in again.err


def test_csv_counts_load_and_show_in_the_report(cli, db: Path, tmp_path: Path) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_text(
        "ts,endpoint,requests,requests_failed,interval_s,resource_id,latency_p95_s\n"
        "2026-11-03T10:00:00Z,ocr,1000,10,3600,i-0ocr,0.8\n"
        "2026-11-03T11:00:00Z,ocr,3000,0,3600,i-0ocr,0.4\n"
    )
    cost = tmp_path / "costs.csv"
    cost.write_text(
        "BillingAccountId,ChargePeriodStart,ChargePeriodEnd,BillingPeriodStart,BillingPeriodEnd,BilledCost,"
        "EffectiveCost,BillingCurrency,ResourceId,ProviderName,ChargeCategory\n"
        "1,2026-11-03T00:00:00Z,2026-11-04T00:00:00Z,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,39.60,39.60,USD,"
        "i-0ocr,AWS,Usage\n"
    )
    assert cli("ingest", cost, "--db", db).code == 0
    loaded = cli("usage", "ingest", counts, "--db", db)
    assert loaded.code == 0, loaded.err
    report = json.loads(cli("report", "--db", db, "--period", "2026-11", "--format", "json").out)
    (ocr,) = report["inference"]
    assert ocr["requests"] == 3990 and ocr["failed"] == 10
    assert ocr["cost_per_1k_requests"] == "9.9248"  # 39.60 / 3.99
    assert ocr["p95_latency_s"] == pytest.approx((0.8 * 1000 + 0.4 * 3000) / 4000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ts,endpoint\n2026-11-03T10:00:00Z,ocr\n", "missing column(s) requests"),
        ("ts,endpoint,requests,colour\n2026-11-03T10:00:00Z,ocr,1,red\n", "unknown column(s) colour"),
        ("ts,endpoint,requests\n2026-11-03T10:00:00Z,ocr,1\n2026-11-03T11:00:00Z,ocr,lots\n", "row 2"),
    ],
)
def test_a_bad_counts_file_is_named_and_loads_nothing(cli, db: Path, tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "counts.csv"
    bad.write_text(text)
    result = cli("usage", "ingest", bad, "--db", db)
    assert result.code == 2
    assert "counts.csv" in result.err and message in result.err
    assert not db.exists()  # checked before the store was opened: nothing created, nothing written


def test_counters_over_time_from_the_prometheus_http_api(cli, db: Path) -> None:
    """Two replicas of one model behind a Prometheus server; one restarts. Each step is a window per replica."""
    times = [T0.timestamp() + 300 * i for i in range(3)]
    series = {  # (instance, metric) -> cumulative values at the three times
        ("10.0.0.1:8000", "vllm:request_success_total"): [100, 160, 250],
        ("10.0.0.2:8000", "vllm:request_success_total"): [500, 20, 80],  # restarted between the first two
        ("10.0.0.1:8000", "vllm:prompt_tokens_total"): [1000, 1600, 2500],
        ("10.0.0.2:8000", "vllm:prompt_tokens_total"): [5000, 200, 800],
    }
    queries: list[dict[str, list[str]]] = []

    def matrix(query: dict[str, list[str]]) -> list[dict[str, Any]]:
        queries.append(query)
        return [
            {"metric": {"__name__": metric, "job": "vllm", "instance": instance, "model_name": "llama",
                        "finished_reason": "stop"} if "success" in metric else
                       {"__name__": metric, "job": "vllm", "instance": instance, "model_name": "llama"},
             "values": [[t, str(v)] for t, v in zip(times, values, strict=True)]}
            for (instance, metric), values in series.items()
        ]  # fmt: skip

    with serve_prometheus(matrix) as base:
        result = cli("usage", "ingest", "--prometheus", base, "--since", "2026-11-03T10:00", "--until",
                     "2026-11-03T10:10", "--step", "300", "--db", db)  # fmt: skip
    assert result.code == 0, result.err
    assert len(queries) == 1 and "vllm:request_success_total" in queries[0]["query"][0]
    assert queries[0]["step"] == ["300s"]
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT endpoint, ts, requests, input_tokens FROM usage_metrics ORDER BY requests, ts"
        ).fetchall()
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("llama", 20, 200),  # replica 2 after its restart: what the new process counted
        ("llama", 60, 600),  # replica 1, first window
        ("llama", 60, 600),  # replica 2, second window
        ("llama", 90, 900),  # replica 1, second window
    ]
