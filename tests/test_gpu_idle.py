"""The idle classification on real H100 telemetry with labelled phases: each phase is the expected state, by the
one count of GPU time every reader uses (finops.gpu_hours)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from finops.gpu_hours import read_gpu_hours, read_segments
from finops.gpu_watch import rows_to_frame
from finops.schema import GPU_SAMPLES
from finops.store import Store, open_store

PHASES = Path(__file__).parent / "data" / "gpu" / "h100-phases"
EXPECTED = {
    "idle_before": {"idle_empty"},
    "reserved_idle": {"idle_reserved"},  # the forgotten notebook: 20 GiB held, nothing running
    "busy": {"active"},
    "bursty": {"idle_reserved"},  # a burst every 0.3 s: about 1 % SM activity, and the process holds the GPU
    "idle_after": {"idle_reserved"},  # the context is kept, nothing runs
}
DAY = (datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))


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


def seconds_by_phase(store: Store) -> dict[str, dict[str, float]]:
    """Seconds in each state per labelled phase: each sample's held time, cut at the phase's edges."""
    phases = json.loads((PHASES / "phases.json").read_text())
    result: dict[str, dict[str, float]] = {p["phase"]: defaultdict(float) for p in phases}
    for segment in read_segments(store, *DAY):
        start = segment.start
        end = start + timedelta(seconds=segment.seconds)
        for p in phases:
            lo, hi = datetime.fromtimestamp(p["start"], UTC), datetime.fromtimestamp(p["end"], UTC)
            overlap = (min(end, hi) - max(start, lo)).total_seconds()
            if overlap > 0:
                result[p["phase"]][segment.state] += overlap
    return result


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("idle") / "store.duckdb"
    with open_store(db) as store:
        store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, capture_rows(), "capture")], checksum="c",
                             inputs=["h100-phases"])  # fmt: skip
    return db


@pytest.mark.parametrize("phase", list(EXPECTED))
def test_each_labelled_phase_gets_its_state(store_path: Path, phase: str) -> None:
    with open_store(store_path, read_only=True) as store:
        states = seconds_by_phase(store)[phase]
    main = max(states, key=lambda s: states[s])
    assert main in EXPECTED[phase], (phase, dict(states))
    assert states[main] >= 0.9 * sum(states.values())  # a phase is one state, but for a ramp second at its edge


def test_every_sample_is_judged_by_sm_activity(store_path: Path) -> None:
    """The H100 reports GPM SM activity on every sample: util_gpu (the weaker signal) is never the one used."""
    with open_store(store_path, read_only=True) as store:
        segments = read_segments(store, *DAY)
    assert len(segments) == 116 and {s.signal for s in segments} == {"sm_active"}


def test_gpu_hours_energy_and_idle_energy_from_the_counter(store_path: Path) -> None:
    """All of it falls in one hour. Expected figures from the capture itself: covered time is first to last sample
    plus the last one's interval; energy the counter's rise plus the last second at its power."""
    samples = [json.loads(line) for line in (PHASES / "nvml_samples.jsonl").read_text().splitlines()]
    covered = samples[-1]["ts"] - samples[0]["ts"] + 1.0
    energy_j = (samples[-1]["energy_mj"] - samples[0]["energy_mj"]) / 1000 + samples[-1]["power_mw"] / 1000
    with open_store(store_path, read_only=True) as store:
        [hour] = read_gpu_hours(store, *DAY)
    assert hour.seconds == pytest.approx(covered, abs=1e-6) and hour.gpu_hours == pytest.approx(covered / 3600)
    assert hour.energy_j == pytest.approx(energy_j, rel=1e-9)
    idle_s = sum(hour.seconds_by_state[s] for s in ("idle_empty", "idle_reserved"))
    # the labelled idle phases' length inside the covered time, within a sample (1 s) at each phase edge
    first, last = samples[0]["ts"], samples[-1]["ts"] + 1.0
    phases = json.loads((PHASES / "phases.json").read_text())
    expected_idle = sum(max(0.0, min(p["end"], last) - max(p["start"], first)) for p in phases if p["phase"] != "busy")
    assert idle_s == pytest.approx(expected_idle, abs=4.0)
    assert 0 < hour.idle_energy_j < energy_j / 2  # idle at 70-120 W against ~690 W busy


def test_a_window_without_samples_has_no_hours(tmp_path: Path) -> None:
    with open_store(tmp_path / "empty.duckdb") as store:
        assert read_gpu_hours(store, *DAY) == [] and read_segments(store, *DAY) == []


def test_without_gpm_the_processes_sm_share_comes_before_util_gpu(tmp_path: Path) -> None:
    """An older GPU (no GPM) under the sampler: its processes' SM shares (NVML per-process utilisation, recorded in
    the same capture) judge each sample where a process ran; util_gpu only where none did."""
    from finops.schema import GPU_PROCESSES

    rows = [{**row, "sm_active_pct": None, "sm_occupancy_pct": None, "tensor_active_pct": None,
             "dram_active_pct": None} for row in capture_rows()]  # fmt: skip
    stamp = {round(r["ts"].timestamp()): r["ts"] for r in rows}  # the sampler stamps processes as their sample
    processes = []
    for line in (PHASES / "nvml_processes.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry.get("kind") == "process_utilization" and round(entry["ts"]) in stamp:
            ts = stamp[round(entry["ts"])]
            processes.append({"ts": ts, "host": "h100-lab", "gpu_uuid": rows[0]["gpu_uuid"], "pid": entry["pid"],
                              "sm_util_pct": float(entry["sm_util"]), "x_Day": ts.date()})  # fmt: skip
    with open_store(tmp_path / "s.duckdb") as store:
        store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, rows, "c")], checksum="c", inputs=["c"])
        store.replace_slices(GPU_PROCESSES, [rows_to_frame(GPU_PROCESSES, processes, "c")], checksum="p",
                             inputs=["p"])  # fmt: skip
        states = seconds_by_phase(store)
        signals = {s.signal for s in read_segments(store, *DAY)}
    for phase, expected in EXPECTED.items():
        main = max(states[phase], key=lambda s: states[phase][s])
        assert main in expected, (phase, dict(states[phase]))
    assert signals == {"process_sm", "util_gpu"}
