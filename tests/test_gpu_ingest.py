"""Exporter scrapes (dcgm-exporter, nvidia_gpu_exporter) and nvidia-smi CSV logs, on the real captures."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from http_server import serve, serve_prometheus

from finops.connectors.gpu_exporters import parse_metrics, parse_nvidia_smi_csv
from finops.gpu_hours import read_gpu_hours, read_segments
from finops.store import open_store

DATA = Path(__file__).parent / "data"
PROM = DATA / "prometheus"
PHASES = DATA / "gpu" / "h100-phases"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def test_dcgm_exporter_l40s() -> None:
    [row] = parse_metrics((PROM / "dcgm-exporter-l40s-idle.txt").read_text(), scraped_at=NOW)
    assert row["gpu_uuid"] == "GPU-5b4e07f6-3a86-4340-039d-25f2a83cdc43" and row["gpu_model"] == "NVIDIA L40S"
    assert row["host"] == "gpu1-wl8sg" and row["util_gpu_pct"] == 0
    assert row["power_w"] == pytest.approx(35.686) and row["energy_j"] == pytest.approx(5551899.58)
    assert "sm_active_pct" not in row  # the default counters have no SM activity: NULL, not 0


def test_dcgm_exporter_mixed_keeps_kubernetes_labels_and_skips_unattributable_metrics() -> None:
    rows = {r["gpu_uuid"]: r for r in parse_metrics((PROM / "dcgm-exporter-mixed.txt").read_text(), scraped_at=NOW)}
    assert set(rows) == {"GPU-20c56d28-0da5-6d26-a36a-e7af1ce2586e", "GPU-9ef1b6d0-3643-5dd7-b823-c0ec20dcf2d5",
                         "GPU-abc"}  # fmt: skip
    assert rows["GPU-abc"]["labels"] == {"pod": "ray-1111111", "namespace": "ray-llm", "container": "ray-worker"}
    assert rows["GPU-abc"]["dram_active_pct"] == pytest.approx(0.0003)


def test_nvidia_gpu_exporter_under_load() -> None:
    [row] = parse_metrics((PROM / "nvidia-gpu-exporter-h100-load.txt").read_text(), scraped_at=NOW, host="h100-a")
    assert row["gpu_model"] == "NVIDIA H100 80GB HBM3" and row["host"] == "h100-a"
    assert row["util_gpu_pct"] == 100 and row["mem_used_bytes"] == 20780679168
    assert row["mem_total_bytes"] == 85520809984 and row["sm_clock_mhz"] == pytest.approx(1980)


def test_nvidia_smi_csv_with_units_and_the_phases_it_covers(tmp_path: Path, cli) -> None:
    rows = parse_nvidia_smi_csv(PHASES / "nvidia_smi_query.csv", host="h100-lab")
    assert rows[0]["power_w"] == pytest.approx(70.39) and rows[0]["mem_total_bytes"] == 81559 * 2**20
    db = tmp_path / "store.duckdb"
    result = cli("gpu", "ingest", PHASES / "nvidia_smi_query.csv", "--db", db, "--host", "h100-lab",
                 "--instance-type", "p5.48xlarge")  # fmt: skip
    assert result.code == 0, result.err
    assert "unchanged" in cli("gpu", "ingest", PHASES / "nvidia_smi_query.csv", "--db", db).err
    phases = {p["phase"]: p for p in json.loads((PHASES / "phases.json").read_text())}
    # nvidia-smi logs carry no SM activity and no processes: util_gpu decides, and held memory is not seen.
    spans = [(datetime.fromtimestamp(phases[p]["start"], UTC), datetime.fromtimestamp(phases[p]["end"], UTC))
             for p in ("idle_before", "busy")]  # fmt: skip
    with open_store(db, read_only=True) as store:
        segments = read_segments(store, spans[0][0], spans[1][1])
    idle = [s for s in segments if spans[0][0] <= s.start < spans[0][1]]
    busy = [s for s in segments if spans[1][0] <= s.start < spans[1][1]]
    assert {s.state for s in idle} == {"idle_empty"} and {s.state for s in busy[1:]} == {"active"}  # [0]: ramp
    assert {s.signal for s in segments} == {"util_gpu"}
    assert sum(s.seconds for s in busy) == pytest.approx((spans[1][1] - spans[1][0]).total_seconds(), abs=2)


@pytest.fixture
def exporter() -> Iterator[str]:
    """dcgm-exporter's page served over HTTP on a local port, as a scrape would find it."""
    body = (PROM / "dcgm-exporter-mixed.txt").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serve(Handler) as url:
        yield f"{url}/metrics"


def test_scrape_a_live_exporter(exporter: str, tmp_path: Path, cli) -> None:
    db = tmp_path / "store.duckdb"
    result = cli("gpu", "ingest", exporter, "--db", db, "--instance-id", "i-0abc", "--provider", "AWS")
    assert result.code == 0, result.err
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT count(*), any_value(instance_id), count(labels) FROM gpu_samples").fetchall()
    assert rows == [(3, "i-0abc", 1)]


def test_a_page_that_is_not_an_exporter_is_refused(tmp_path: Path, cli) -> None:
    page = tmp_path / "page.txt"
    page.write_text("hello 1\n")
    result = cli("gpu", "ingest", page, "--db", tmp_path / "s.duckdb")
    assert result.code == 3 and "no GPU metrics with a GPU UUID" in result.err


@pytest.fixture
def prometheus() -> Iterator[str]:
    """A local server answering the Prometheus HTTP API's query_range, as a Prometheus scraping DCGM would."""
    gpu = {"UUID": "GPU-20c56d28-0da5-6d26-a36a-e7af1ce2586e", "gpu": "0", "modelName": "Tesla T4",
           "hostname": "node-7", "namespace": "llm", "pod": "vllm-0"}  # fmt: skip
    series = {
        "DCGM_FI_DEV_GPU_UTIL": [[1795377600, "100"], [1795377660, "100"]],
        "DCGM_FI_PROF_SM_ACTIVE": [[1795377600, "0.02"], [1795377660, "0.03"]],  # util 100 %, SM 2-3 %: a spinner
        "DCGM_FI_DEV_FB_USED": [[1795377600, "1024"], [1795377660, "1024"]],
    }

    def matrix(query: dict[str, list[str]]) -> list[dict[str, Any]]:
        assert query["step"] == ["60s"]
        values = series.get(query["query"][0])
        return [{"metric": gpu, "values": values}] if values else []

    with serve_prometheus(matrix) as url:
        yield url


def test_prometheus_query_range_prefers_sm_activity(prometheus: str, tmp_path: Path, cli) -> None:
    db = tmp_path / "store.duckdb"
    result = cli("gpu", "ingest", "--db", db, "--prometheus", prometheus, "--since", "2026-11-22T10:00",
                 "--until", "2026-11-22T11:00", "--step", "60")  # fmt: skip
    assert result.code == 0, result.err
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT count(*), avg(util_gpu_pct), avg(sm_active_pct), any_value(host), any_value(labels['pod']), "
            "sum(interval_s) FROM gpu_samples"
        ).fetchall()
    assert rows == [(2, 100.0, pytest.approx(2.5), "node-7", "vllm-0", 120.0)]
    with open_store(db, read_only=True) as store:
        [hour] = read_gpu_hours(store, datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    # util_gpu would say 100 %; two samples 60 s apart, each held for its 60 s step. 1 GiB of memory in use and
    # no process count (DCGM has none): memory is held, so it is idle_reserved.
    assert hour.signal == "sm_active" and hour.seconds_by_state["idle_reserved"] == hour.seconds == 120


def test_a_host_without_an_instance_id_is_priced_through_gpu_hosts(tmp_path: Path, cli) -> None:
    """Telemetry that names only its host, mapped in finops.toml to the instance the bill knows."""
    db = tmp_path / "store.duckdb"
    assert cli("gpu", "ingest", PHASES / "nvidia_smi_query.csv", "--db", db, "--host", "h100-lab").code == 0
    bill = tmp_path / "bill.csv"
    bill.write_text(
        "BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost,"
        "ProviderName,ResourceId,SkuPriceDetails,ConsumedQuantity,ConsumedUnit,ChargeCategory,Tags\n"
        "2026-11-01,2026-12-01,2026-11-22,2026-11-23,2359.68,2359.68,AWS,"
        "arn:aws:ec2:us-east-1:012345678901:instance/i-0lab,"
        '"{""InstanceType"": ""p5.48xlarge""}",24,Hours,Usage,"{""team"": ""research""}"\n'
    )
    assert cli("ingest", "--db", db, bill).code == 0
    config = tmp_path / "finops.toml"
    config.write_text('[gpu.hosts]\n"h100-lab" = "i-0lab"\n')
    result = cli("--config", config, "report", "--db", db, "--period", "2026-11-22..2026-11-22", "--format", "json")
    assert result.code == 0, result.err
    [idle] = json.loads(result.out)["gpu_idle"]
    assert idle["instance_id"] == "i-0lab" and idle["team"] == "research" and idle["price_basis"] == "bill"
    assert idle["cost_per_gpu_hour"] == "12.29"  # 2,359.68 a day / 24 h / 8 GPUs, from the bill
    assert idle["hours_by_state"]["idle_empty"] > 0 and idle["hours_by_state"]["active"] > 0
