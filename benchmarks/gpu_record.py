"""Record finops's own NVML sampler on a real GPU through labelled phases, with nvidia-smi beside it.

Run on a GPU host (needs torch for the load, pyarrow and nvidia-ml-py for the sampler; no duckdb or polars):

    python benchmarks/gpu_record.py OUT_DIR [--phase-s 30]

Phases, each in a process of its own so "no process" is real: `idle` (nothing running), `held` (20 GiB allocated,
no kernels: the forgotten notebook), `busy` (bf16 matrix products back to back), `half` (products for 50 ms, then
50 ms asleep), `after` (the process has exited). Writes to OUT_DIR:
- `phases.json`: each phase's UTC start and end, as the load process saw them;
- `spool/`: `finops gpu watch --spool` files (1 s interval) over the whole run, to load with `finops gpu load`;
- `nvidia_smi_query.csv`: `nvidia-smi --query-gpu ... --format=csv -lms 1000` over the same window;
- `nvidia-smi-{table,q,L}-<phase>.txt`: the text outputs, captured mid-phase, for the nvidia-smi text reader.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

LOAD = r"""
import sys, time, torch
phase, seconds = sys.argv[1], float(sys.argv[2])
device = torch.device("cuda")
held = torch.empty(20 * 2**30, dtype=torch.uint8, device=device) if phase == "held" else None
a = torch.randn(8192, 8192, dtype=torch.bfloat16, device=device)
b = torch.randn(8192, 8192, dtype=torch.bfloat16, device=device)
torch.cuda.synchronize()
print("start", time.time(), flush=True)
end = time.time() + seconds
while time.time() < end:
    if phase == "held":
        time.sleep(0.2)
        continue
    burst = time.time() + (0.05 if phase == "half" else 0.5)
    while time.time() < burst:
        (a @ b).sum()
    torch.cuda.synchronize()
    if phase == "half":
        time.sleep(0.05)
print("end", time.time(), flush=True)
"""
QUERY = (
    "timestamp,index,uuid,name,utilization.gpu,utilization.memory,memory.used,memory.total,power.draw,"
    "clocks.sm,clocks.mem,temperature.gpu"
)


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _capture(out: Path, phase: str) -> None:
    for flag, name in (([], "table"), (["-q"], "q"), (["-L"], "L")):
        result = subprocess.run(["nvidia-smi", *flag], capture_output=True, text=True, check=False)
        (out / f"nvidia-smi-{name}-{phase}.txt").write_text(result.stdout)


def _package(root: Path, target: Path) -> None:
    """finops as installed (connectors/ and rules/ inside the package), without installing anything."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(root / "finops", target / "finops")
    shutil.copytree(root / "connectors", target / "finops" / "connectors")
    shutil.copytree(root / "rules", target / "finops" / "rules")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--phase-s", type=float, default=30.0)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parent.parent
    _package(root, Path("/tmp/finops-pkg"))
    env = {**os.environ, "PYTHONPATH": "/tmp/finops-pkg", "PYTHONUNBUFFERED": "1"}
    phases = [("idle", args.phase_s), ("held", args.phase_s), ("busy", args.phase_s), ("half", args.phase_s),
              ("after", args.phase_s)]  # fmt: skip
    total = sum(s for _, s in phases) + 90  # torch start-up in four load processes
    watcher = subprocess.Popen(
        [sys.executable, "-c",
         "from pathlib import Path; from finops.gpu_watch import WatchOptions, watch; "
         f"print(watch(WatchOptions(interval_s=1.0, flush_s=20, spool=Path({str(out / 'spool')!r}), "
         f"duration_s={total})))"],
        env=env,
        cwd="/tmp",  # not the checkout, whose finops/ lacks connectors/
    )  # fmt: skip
    smi = subprocess.Popen(
        ["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv", "-lms", "1000"],
        stdout=(out / "nvidia_smi_query.csv").open("w"),
    )
    time.sleep(3)  # the sampler's first samples
    record = []
    for phase, seconds in phases:
        if phase in ("idle", "after"):
            start = time.time()
            time.sleep(seconds / 2)
            _capture(out, phase)
            time.sleep(seconds - (time.time() - start))
            record.append({"phase": phase, "start": _stamp(start), "end": _stamp(time.time())})
            print(phase, "done", flush=True)
            continue
        load = subprocess.Popen([sys.executable, "-c", LOAD, phase, str(seconds)], stdout=subprocess.PIPE, text=True)
        assert load.stdout is not None
        start = float(load.stdout.readline().split()[1])
        time.sleep(seconds / 2)
        _capture(out, phase)
        end = float(load.stdout.readline().split()[1])
        load.wait()
        record.append({"phase": phase, "start": _stamp(start), "end": _stamp(end)})
        print(phase, "done", _stamp(start), _stamp(end), flush=True)
    (out / "phases.json").write_text(json.dumps(record, indent=1) + "\n")
    watcher.send_signal(2)  # SIGINT: the sampler flushes and exits 0
    watcher.wait(timeout=60)
    smi.terminate()
    print("recorded into", out, flush=True)


if __name__ == "__main__":
    main()
