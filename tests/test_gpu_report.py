"""`finops gpu report` on stores that hold telemetry only: a 15-second nvidia-smi log of one busy and one idle hour
is 2 GPU-hours with 1 idle; MIG instances are priced as their share of the GPU; `finops report` shows its GPU section
without a bill; and every format says the same."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pytest
from http_server import serve_prometheus

PHASES = Path(__file__).parent / "data" / "gpu" / "h100-phases"
CAPTURES = Path(__file__).parent / "data" / "gpu-captures"
SCHEMA = Path(__file__).parents[1] / "finops" / "schemas" / "gpu_report.v1.json"


def two_hour_log(path: Path) -> None:
    """nvidia-smi --query-gpu ... -l 15 over 10:00-12:00: the real H100 capture's own busy row for the first hour
    and its own idle row for the second, re-stamped every 15 seconds."""
    lines = (PHASES / "nvidia_smi_query.csv").read_text().splitlines()
    rows = list(csv.reader(lines[1:], skipinitialspace=True))
    busy = next(r for r in rows if r[4] == "100 %")
    idle = rows[0]
    start = datetime(2026, 11, 22, 10)
    out = io.StringIO()
    out.write(lines[0] + "\n")
    for step in range(480):
        cells = list(busy if step < 240 else idle)
        cells[0] = f"{start + timedelta(seconds=15 * step):%Y/%m/%d %H:%M:%S}.000"
        out.write(", ".join(cells) + "\n")
    path.write_text(out.getvalue())


def test_a_15_second_log_of_a_busy_and_an_idle_hour_is_2_gpu_hours_1_idle(cli, db: Path, tmp_path: Path) -> None:
    log = tmp_path / "nvidia-smi.csv"
    two_hour_log(log)
    assert cli("gpu", "ingest", log, "--db", db, "--host", "h100-lab").code == 0
    result = cli("gpu", "report", "--db", db, "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    [device] = report["devices"]
    assert report["total"]["gpu_hours"] == device["gpu_hours"] == 2.0
    assert device["idle_gpu_hours"] == 1.0 and device["hours_by_state"] == {"idle_empty": 1.0, "active": 1.0}
    assert device["signals"] == ["util_gpu"] and device["price_basis"] == "unpriced" and device["idle_cost"] is None
    assert report["period"]["label"] == "last 7 days to 2026-11-22"  # the telemetry's newest day: no bill needed


def test_priced_from_the_list_and_shown_by_the_cost_report_without_a_bill(cli, db: Path, tmp_path: Path) -> None:
    log = tmp_path / "nvidia-smi.csv"
    two_hour_log(log)
    assert cli("gpu", "ingest", log, "--db", db, "--host", "h100-lab", "--instance-type", "p5.48xlarge").code == 0
    [device] = json.loads(cli("gpu", "report", "--db", db, "--format", "json").out)["devices"]
    assert device["price_basis"] == "list" and device["idle_cost"] == "12.29"  # the bundled $98.32/h over 8 GPUs
    report = cli("report", "--db", db, "--format", "json")
    assert report.code == 0, report.err
    [idle] = json.loads(report.out)["gpu_idle"]
    assert idle["idle_gpu_hours"] == 1.0 and idle["team"] == "(no bill line)" and idle["price_basis"] == "list"
    table = cli("report", "--db", db)
    assert table.code == 0 and "Idle GPUs" in table.out


def test_every_format_and_grouping(cli, db: Path, tmp_path: Path) -> None:
    log = tmp_path / "nvidia-smi.csv"
    two_hour_log(log)
    assert cli("gpu", "ingest", log, "--db", db, "--host", "=cmd|' /C calc'!A0").code == 0  # a hostile host name
    markdown = cli("gpu", "report", "--db", db, "--format", "markdown", "--group-by", "host")
    assert markdown.code == 0 and "**1.0 idle of 2.0 GPU-hours**" in markdown.out
    rows = list(csv.DictReader(io.StringIO(cli("gpu", "report", "--db", db, "--format", "csv").out)))
    assert [(r["host"], r["gpu_hours"], r["idle_gpu_hours"], r["price_basis"]) for r in rows] == [
        ("'=cmd|' /C calc'!A0", "2.0", "1.0", "unpriced")  # neutralised for spreadsheets
    ]
    table = cli("gpu", "report", "--db", db, "--group-by", "instance_type")
    assert table.code == 0 and "1.0 idle of 2.0 GPU-hours" in table.out and "By instance_type" in table.out


def test_the_demo_when_there_is_no_store_yet(cli) -> None:
    result = cli("gpu", "report", "--period", "2026-11", "--format", "json")
    assert result.code == 0 and "Demo data" in result.err
    report = json.loads(result.out)
    # the demo's GPUs sample once an hour: its November GPU-hours are its November rows, counted from the file
    demo = Path(__file__).parents[1] / "sample_data" / "gpu_samples.parquet"
    with duckdb.connect() as con:
        rows, gpus = con.execute(
            "SELECT count(*), count(DISTINCT gpu_uuid) FROM read_parquet(?) "
            "WHERE ts >= TIMESTAMPTZ '2026-11-01' AND ts < TIMESTAMPTZ '2026-12-01'",
            [str(demo)],
        ).fetchone()
    assert report["total"]["gpu_hours"] == rows and report["total"]["devices"] == gpus
    idle = {d["instance"].rsplit("/", 1)[-1] for d in report["devices"] if d["verdict"] == "idle_empty"}
    assert "lumen-nd-h100-01" in idle  # nothing has run on it since Oct 31
    # money reconciles: the devices' idle cost sums, to the cent, to each instance's in `finops report`
    costs = json.loads(cli("report", "--demo", "--period", "2026-11", "--format", "json").out)["gpu_idle"]
    by_instance: dict[str, Decimal] = {}
    for d in report["devices"]:
        by_instance[d["instance"]] = by_instance.get(d["instance"], Decimal(0)) + Decimal(d["idle_cost"] or 0)
    assert by_instance == {i["instance_id"]: Decimal(i["idle_cost"] or 0) for i in costs}
    assert Decimal(report["total"]["idle_cost"]) == sum(Decimal(i["idle_cost"] or 0) for i in costs)


def test_errors_are_named(cli, db: Path, tmp_path: Path) -> None:
    empty = cli("gpu", "report", "--db", db)
    assert empty.code == 2 and "no finops database" in empty.err
    log = tmp_path / "nvidia-smi.csv"
    two_hour_log(log)
    cli("gpu", "ingest", log, "--db", db, "--host", "h")
    bad = cli("gpu", "report", "--db", db, "--group-by", "teams")
    assert bad.code == 2 and "teams" in bad.err
    period = cli("gpu", "report", "--db", db, "--period", "fortnight")
    assert period.code == 2 and "fortnight" in period.err
    only_list = cli("gpu", "ingest", CAPTURES / "nvidia-smi-L-h200-mig.txt", "--db", db)
    assert only_list.code == 2 and "measures nothing" in only_list.err


@pytest.fixture
def mig_prometheus() -> Iterator[str]:
    """A Prometheus that scrapes dcgm-exporter on an A100 split into MIG instances: the labels of NVIDIA's own
    capture (tests/data/gpu-captures), one hour at a 60 s step. Instance 13 (1g.5gb) is busy, 1 (3g.20gb) idle;
    the whole-GPU rows report too and must not be counted beside them."""
    gpu = {"gpu": "0", "UUID": "GPU-34319582-d595-d1c7-d1d2-179bcfa61660", "device": "nvidia0",
           "Hostname": "ub20-a100-k8s"}  # fmt: skip
    start = int(datetime(2026, 11, 22, 10, tzinfo=UTC).timestamp())
    points = [start + 60 * k for k in range(60)]
    series = {
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE": [
            ({**gpu, "GPU_I_PROFILE": "1g.5gb", "GPU_I_ID": "13"}, "0.995687"),
            ({**gpu, "GPU_I_PROFILE": "3g.20gb", "GPU_I_ID": "1"}, "0.0"),
            (gpu, "0.4"),
        ],
        "DCGM_FI_DEV_POWER_USAGE": [(gpu, "409.692")],
    }

    def matrix(query: dict[str, list[str]]) -> list[dict[str, Any]]:
        return [{"metric": labels, "values": [[t, value] for t in points]} for labels, value in
                series.get(query["query"][0], [])]  # fmt: skip

    with serve_prometheus(matrix) as url:
        yield url


def test_mig_instances_are_priced_as_their_share_of_the_gpu(cli, db: Path, mig_prometheus: str) -> None:
    assert cli("gpu", "ingest", "--db", db, "--prometheus", mig_prometheus, "--since", "2026-11-22T10:00",
               "--until", "2026-11-22T11:00", "--instance-type", "p4d.24xlarge").code == 0  # fmt: skip
    report = json.loads(cli("gpu", "report", "--db", db, "--format", "json").out)
    devices = {d["mig_instance_id"]: d for d in report["devices"]}
    assert set(devices) == {"13", "1"}  # the whole-GPU rows are not counted again
    busy, idle = devices["13"], devices["1"]
    assert busy["verdict"] == "active" and busy["gpu_hours"] == round(1 / 7, 4)
    assert idle["verdict"] == "idle_empty" and idle["idle_gpu_hours"] == round(3 / 7, 4)
    # p4d.24xlarge lists at $32.77/h for 8 A100s (bundled price table): 3/7 of one GPU for an hour
    assert idle["price_basis"] == "list" and idle["idle_cost"] == "1.76"
    assert report["total"]["gpu_hours"] == round(4 / 7, 4)


@pytest.mark.parametrize("columns", ["60", "80", "160"])
def test_a_narrow_terminal_keeps_every_number_whole(cli, monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    result = cli("gpu", "report", "--demo", "--period", "2026-11")
    assert result.code == 0
    assert all(len(line) <= int(columns) for line in result.out.splitlines())
    # the idle ND H100's GPUs: 480 idle GPU-hours each at $12.29 from the bill, and the verdict's signal
    assert "480.0" in result.out and "$5,899.20" in result.out and "sm_active" in result.out
