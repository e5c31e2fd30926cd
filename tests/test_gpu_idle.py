"""The idle classification on real H100 telemetry with labelled phases: each phase is the expected state."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from finops.gpu_idle import classify
from finops.gpu_watch import rows_to_frame
from finops.schema import GPU_SAMPLES
from finops.store import open_store

PHASES = Path(__file__).parent / "data" / "gpu" / "h100-phases"
EXPECTED = {
    "idle_before": {"idle_empty"},
    "reserved_idle": {"idle_reserved"},  # the forgotten notebook: 20 GiB held, nothing running
    "busy": {"active"},
    "bursty": {"underutilized", "idle_reserved"},  # a burst every 0.3 s: about 1 % SM activity
    "idle_after": {"idle_reserved"},  # the context is kept, nothing runs
}


def capture_rows() -> list[dict[str, object]]:
    """The recorder's JSON lines as the sampler's rows (GPM metric ids 2, 3, 5, 10 as in connectors.nvml)."""
    processes: dict[int, set[int]] = {}
    for line in (PHASES / "nvml_processes.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry.get("kind") != "process_utilization":
            processes.setdefault(round(entry["ts"]), set()).add(entry["pid"])
    rows = []
    for line in (PHASES / "nvml_samples.jsonl").read_text().splitlines():
        s = json.loads(line)
        gpm = s.get("gpm", {})
        rows.append({
            "ts": datetime.fromtimestamp(s["ts"], UTC), "host": "h100-lab", "gpu_uuid": s["uuid"],
            "gpu_index": s["index"],
            "gpu_model": s["name"], "interval_s": 1.0, "util_gpu_pct": s["util_gpu"], "util_mem_pct": s["util_mem"],
            "mem_used_bytes": s["mem_used"], "mem_total_bytes": s["mem_total"], "power_w": s["power_mw"] / 1000,
            "energy_j": s["energy_mj"] / 1000, "sm_active_pct": gpm.get("2"), "sm_occupancy_pct": gpm.get("3"),
            "tensor_active_pct": gpm.get("5"), "dram_active_pct": gpm.get("10"),
            "process_count": len(processes.get(round(s["ts"]), set())),
            "x_Day": datetime.fromtimestamp(s["ts"], UTC).date(),
        })  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def classified(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    db = tmp_path_factory.mktemp("idle") / "store.duckdb"
    phases = json.loads((PHASES / "phases.json").read_text())
    spans = [(datetime.fromtimestamp(p["start"], UTC), datetime.fromtimestamp(p["end"], UTC)) for p in phases]
    with open_store(db) as store:
        store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, capture_rows(), "capture")], checksum="c",
                             inputs=["h100-phases"])  # fmt: skip
        windows = classify(store, spans)
    return {p["phase"]: w for p, w in zip(phases, windows, strict=True)}


@pytest.mark.parametrize("phase", list(EXPECTED))
def test_each_labelled_phase_gets_its_state(classified: dict[str, object], phase: str) -> None:
    window = classified[phase]
    assert window.state in EXPECTED[phase], (phase, window)  # type: ignore[attr-defined]
    assert window.activity_source == "sm_active"  # type: ignore[attr-defined]


def test_busy_is_busy_by_sm_activity_and_energy_is_counted(classified: dict[str, object]) -> None:
    busy, idle = classified["busy"], classified["idle_before"]
    assert busy.activity_pct > 80 and idle.activity_pct < 1  # type: ignore[attr-defined]
    assert busy.energy_kwh > 3 * idle.energy_kwh > 0  # type: ignore[attr-defined]
    assert 0.004 < busy.gpu_hours < 0.008  # about 25 one-second samples  # type: ignore[attr-defined]


def test_a_window_without_samples_has_no_state(tmp_path: Path) -> None:
    with open_store(tmp_path / "empty.duckdb") as store:
        assert classify(store, [(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))]) == []
