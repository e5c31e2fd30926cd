"""The NVML sampler on a real GPU: what it reads idle and busy, and what it costs.

    python benchmarks/gpu_sampler.py            # on a GPU host; busy phase needs torch with CUDA

Prints per phase the mean util_gpu, SM activity (GPM, Hopper+), tensor activity, power and memory, then the
sampler's own CPU time per sample and the share of one core that means at the default 15 s interval (target:
under 1%). Results from a run on an H100 are kept in benchmarks/results/.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from finops.connectors.nvml import NvmlSampler, cpu_seconds

BUSY = """
import time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
end = time.time() + float(__import__("sys").argv[1])
while time.time() < end:
    for _ in range(20):
        a @ b
    torch.cuda.synchronize()
"""


def phase(sampler: NvmlSampler, name: str, seconds: float, interval: float = 0.5) -> None:
    rows = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples, _ = sampler.sample(interval)
        rows.extend(samples)
        time.sleep(interval)

    def mean(key: str) -> str:
        values = [r[key] for r in rows if r[key] is not None]
        return f"{statistics.fmean(values):7.1f}" if values else "   NULL"

    print(f"{name:6} n={len(rows):3}  util_gpu {mean('util_gpu_pct')} %  sm_active {mean('sm_active_pct')} %  "
          f"tensor {mean('tensor_active_pct')} %  power {mean('power_w')} W  "
          f"mem_used {mean('mem_used_bytes')} B")  # fmt: skip


def main() -> None:
    with NvmlSampler() as sampler:
        print("GPUs:", ", ".join(f"{g.index}:{g.name}" for g in sampler.gpus))
        sampler.sample(0.5)  # opens the GPM interval
        phase(sampler, "idle", 5)
        try:
            busy = subprocess.Popen([sys.executable, "-c", BUSY, "12"])
            time.sleep(4)  # let the CUDA context and the first kernels start
            phase(sampler, "busy", 6)
            busy.wait()
        except OSError as e:
            print("busy phase skipped:", e)
        phase(sampler, "after", 3)
        runs = 200
        start = cpu_seconds()
        wall = time.perf_counter()
        for _ in range(runs):
            sampler.sample(15.0)
        per_sample = (cpu_seconds() - start) / runs
        wall_per = (time.perf_counter() - wall) / runs
        refused = sorted({m for g in sampler.gpus for m in g.refused})
    print(
        f"sampler: {per_sample * 1000:.2f} ms CPU and {wall_per * 1000:.2f} ms wall per sample of all GPUs; "
        f"at the default 15 s interval that is {per_sample / 15 * 100:.3f}% of one core (target < 1%)"
    )
    print("metrics this GPU refused (stored as NULL):", ", ".join(refused) or "none")


if __name__ == "__main__":
    main()
