"""The sampler on a real NVIDIA GPU. Skipped cleanly where there is none (CI has none); run on a GPU host with
`pytest -m gpu tests/test_gpu_real.py -s` (figures from a run on an H100 are kept in benchmarks/results/)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest


def _gpu_count() -> int:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return 0


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_gpu_count() == 0, reason="no NVIDIA GPU and driver here")]


def test_real_readings_are_plausible() -> None:
    from finops.connectors.nvml import NvmlSampler

    with NvmlSampler() as sampler:
        first, _ = sampler.sample(0.5)
        time.sleep(0.5)
        second, processes = sampler.sample(0.5)
        refused = {gpu.uuid: sorted(gpu.refused) for gpu in sampler.gpus}
    assert len(second) == _gpu_count() or any(row["mig_instance_id"] for row in second)
    for before, row in zip(first, second, strict=True):
        print({k: row[k] for k in ("gpu_model", "util_gpu_pct", "sm_active_pct", "mem_used_bytes", "power_w",
                                   "energy_j", "sm_clock_mhz")}, "refused:", refused[row["gpu_uuid"]])  # fmt: skip
        assert row["gpu_uuid"].startswith(("GPU-", "MIG-"))
        assert row["mem_total_bytes"] is None or row["mem_total_bytes"] > 2**30
        assert row["util_gpu_pct"] is None or 0 <= row["util_gpu_pct"] <= 100
        assert row["power_w"] is None or 10 < row["power_w"] < 1500
        if row["energy_j"] is not None:
            assert row["energy_j"] >= before["energy_j"]
        if row["sm_active_pct"] is not None:  # Hopper GPM, over the half second between the samples
            assert 0 <= row["sm_active_pct"] <= 100
    for proc in processes:
        assert proc["pid"] > 0


def test_watch_spools_real_samples(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from finops.gpu_watch import WatchOptions, watch

    summary = watch(WatchOptions(interval_s=0.2, flush_s=3600, spool=tmp_path, count=4))
    table = pq.read_table(next(tmp_path.glob("gpu_samples--*.parquet")))
    assert table.num_rows == 4 * summary.gpus
    print(f"{summary.samples} samples of {summary.gpus} GPU(s); sampler CPU {summary.overhead_pct:.2f}% of a core "
          "at a 0.2 s interval")  # fmt: skip
