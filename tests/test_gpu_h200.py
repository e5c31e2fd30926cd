"""finops's own sampler on a real H200 (tests/data/gpu/h200-phases, recorded by benchmarks/gpu_record.py): its spool
loads through `finops gpu load`, each labelled phase gets its state, and nvidia-smi's outputs of the same moments
read as they print."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from finops.connectors.nvidia_smi_text import parse_nvidia_smi_text
from finops.gpu_hours import read_gpu_hours, read_segments
from finops.store import open_store

RECORDING = Path(__file__).parent / "data" / "gpu" / "h200-phases"
PHASES = json.loads((RECORDING / "phases.json").read_text())
EXPECTED = {
    "idle": "idle_empty",
    "held": "idle_reserved",  # 20 GiB held, no kernel: idle, and a process keeps the GPU
    "busy": "active",
    "half": "active",  # busy ~90 % of the time (see the README)
    "after": "idle_empty",
}
DAY = (datetime(2026, 12, 4, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC))
MIB = 2**20


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from finops.gpu_watch import load_spool

    db = tmp_path_factory.mktemp("h200") / "store.duckdb"
    results = load_spool(db, RECORDING / "spool")
    assert sum(r.rows for r in results) == 168 + 93  # samples, and process rows
    return db


def _samples() -> pl.DataFrame:
    return pl.read_parquet(next((RECORDING / "spool").glob("gpu_samples--*.parquet"))).sort("ts")


@pytest.mark.parametrize("phase", list(EXPECTED))
def test_each_labelled_phase_gets_its_state(store_path: Path, phase: str) -> None:
    [label] = [p for p in PHASES if p["phase"] == phase]
    lo, hi = datetime.fromisoformat(label["start"]), datetime.fromisoformat(label["end"])
    states: dict[str, float] = defaultdict(float)
    with open_store(store_path, read_only=True) as store:
        for segment in read_segments(store, *DAY):
            end = segment.start + timedelta(seconds=segment.seconds)
            overlap = (min(end, hi) - max(segment.start, lo)).total_seconds()
            if overlap > 0:
                states[segment.state] += overlap
    # Within the sample (1 s) at each edge, where a process starts or its first kernels ramp, the phase is its state.
    assert states[EXPECTED[phase]] >= sum(states.values()) - 2.0, dict(states)


def test_energy_is_the_counters_rise(store_path: Path) -> None:
    """Covered time: first to last sample plus the last one's interval; energy: the cumulative counter's rise plus
    the last second at its power (finops.gpu_hours), computed here from the spool file itself."""
    samples = _samples()
    ts, energy, power = samples.get_column("ts"), samples.get_column("energy_j"), samples.get_column("power_w")
    covered = (ts[-1] - ts[0]).total_seconds() + 1.0
    with open_store(store_path, read_only=True) as store:
        [hour] = read_gpu_hours(store, *DAY)
    assert hour.seconds == pytest.approx(covered, abs=1e-3)
    assert hour.energy_j == pytest.approx(energy[-1] - energy[0] + power[-1], rel=1e-9)
    assert 0 < hour.idle_energy_j < hour.energy_j / 2  # idle at 78-121 W against ~680 W busy


@pytest.mark.parametrize(
    ("phase", "util", "used_mib", "power_w", "processes", "sm_mhz"),
    [  # as the -q text prints them (Utilization/GPU, FB Memory Usage/Used, GPU Power Readings/Average, Clocks/SM)
        ("held", 0.0, 21265, 121.12, 1, 1980.0),
        ("busy", 100.0, 1103, 693.09, 1, 1470.0),
        ("after", 0.0, 0, 78.87, 0, 345.0),
    ],
)
def test_nvidia_smi_q_reads_as_printed_and_agrees_with_nvml(
    phase: str, util: float, used_mib: int, power_w: float, processes: int, sm_mhz: float
) -> None:
    text = (RECORDING / "nvidia-smi-L.txt").read_text() + (RECORDING / f"nvidia-smi-q-{phase}.txt").read_text()
    [row] = parse_nvidia_smi_text(text, scraped_at=DAY[0])
    assert (row["gpu_model"], row["gpu_uuid"]) == ("NVIDIA H200", "GPU-8fe30126-cf2f-0775-e96a-583f3066cc80")
    assert row["util_gpu_pct"] == util and row["mem_used_bytes"] == used_mib * MIB and row["power_w"] == power_w
    assert row["process_count"] == processes and row["sm_clock_mhz"] == sm_mhz
    # NVML's v1 reading at the same second counted the driver's reserved memory (-q: "Reserved : 616 MiB") as used.
    samples = _samples()
    nearest = samples.row(int((samples.get_column("ts") - row["ts"]).abs().arg_min() or 0), named=True)
    assert abs(nearest["mem_used_bytes"] - (used_mib + 616) * MIB) <= 2 * MIB
