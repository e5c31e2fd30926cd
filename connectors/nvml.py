"""GPU telemetry straight from the driver through NVML (`nvidia-ml-py`, module `pynvml`).

One `NvmlSampler.sample()` reads every GPU (and every MIG instance) once and returns plain rows for
`gpu_samples` and `gpu_processes`; nothing here needs polars or DuckDB, so the agent stays light on GPU hosts.
Rules that keep the numbers honest:
- a metric the GPU refuses (NotSupported, NoPermission) is None, never 0, and is not asked for again;
- a GPU that is lost or unreadable yields no row at all: missing data is never read as idle;
- on Hopper and newer, GPM gives SM activity, occupancy, tensor and DRAM activity over the interval between two
  samples: the honest busy signal (util_gpu reads 100% for a one-thread kernel).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# GPM metric ids (NVML): graphics, SM activity, SM occupancy, any tensor pipe, DRAM bandwidth.
GPM_FIELDS = {2: "sm_active_pct", 3: "sm_occupancy_pct", 5: "tensor_active_pct", 10: "dram_active_pct"}
REFUSED = ("NVMLError_NotSupported", "NVMLError_NoPermission", "NVMLError_FunctionNotFound")
LOST = ("NVMLError_GpuIsLost", "NVMLError_GpuNotFound")


@dataclass
class _Gpu:
    handle: Any
    uuid: str
    index: int
    name: str
    mig_instance_id: str | None = None
    parent_uuid: str | None = None
    mig_profile: str | None = None
    parent_handle: Any = None
    refused: set[str] = field(default_factory=set)
    gpm_sample: Any = None  # the previous GPM sample, for metrics over the interval
    last_process_ts: int = 0


def _error_name(error: BaseException) -> str:
    return type(error).__name__


def host_metadata() -> dict[str, str | None]:
    """Host name and, where the machine says so without a network call, the cloud instance id: EC2 Nitro
    instances carry it in the DMI board asset tag."""
    tag = Path("/sys/devices/virtual/dmi/id/board_asset_tag")
    instance_id = None
    try:
        value = tag.read_text().strip()
        instance_id = value if value.startswith("i-") else None
    except OSError:
        pass
    return {"host": socket.gethostname(), "instance_id": instance_id}


class NvmlSampler:
    """Reads every GPU on this host. Use as a context manager (it initialises and shuts NVML down)."""

    def __init__(self, nvml: Any = None) -> None:
        if nvml is None:
            try:
                import pynvml
            except ImportError as e:
                from finops.errors import SourceError

                raise SourceError("GPU sampling needs nvidia-ml-py", hint="pip install 'gpu-finops[gpu]'") from e
            nvml = pynvml
        self.nvml = nvml
        self.gpus: list[_Gpu] = []
        self.lost: set[str] = set()

    def __enter__(self) -> NvmlSampler:
        try:
            self.nvml.nvmlInit()
        except Exception as e:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            from finops.errors import SourceError

            raise SourceError(f"NVML could not start: {_error_name(e)}", hint="is the NVIDIA driver loaded?") from e
        self.gpus = self._discover()
        return self

    def __exit__(self, *exc: object) -> None:
        for gpu in self.gpus:
            if gpu.gpm_sample is not None:
                self.nvml.nvmlGpmSampleFree(gpu.gpm_sample)
        self.nvml.nvmlShutdown()

    def _discover(self) -> list[_Gpu]:
        n = self.nvml
        gpus = []
        for index in range(n.nvmlDeviceGetCount()):
            handle = n.nvmlDeviceGetHandleByIndex(index)
            gpu = _Gpu(handle, _text(n.nvmlDeviceGetUUID(handle)), index, _text(n.nvmlDeviceGetName(handle)))
            gpus.append(gpu)
            if self._read(gpu, "mig_mode", lambda h=handle: n.nvmlDeviceGetMigMode(h)[0]) == 1:
                gpus.extend(self._mig_devices(gpu))
        return gpus

    def _mig_devices(self, parent: _Gpu) -> list[_Gpu]:
        n = self.nvml
        found = []
        for slot in range(n.nvmlDeviceGetMaxMigDeviceCount(parent.handle)):
            try:
                handle = n.nvmlDeviceGetMigDeviceHandleByIndex(parent.handle, slot)
            except Exception:  # an empty MIG slot answers NotFound
                continue
            instance = str(n.nvmlDeviceGetGpuInstanceId(handle))
            found.append(_Gpu(handle, _text(n.nvmlDeviceGetUUID(handle)), parent.index, parent.name,
                              mig_instance_id=instance, parent_uuid=parent.uuid,
                              mig_profile=self._mig_profile(handle), parent_handle=parent.handle))  # fmt: skip
        return found

    def _mig_profile(self, handle: Any) -> str | None:
        """`3g.40gb`: from the MIG device's name where it says it, else from its attributes (the slice count is
        what prices the instance as its share of the GPU)."""
        n = self.nvml
        try:
            named = re.search(r"\bMIG\s+(\S+)", _text(n.nvmlDeviceGetName(handle)))
            if named:
                return named.group(1)
            attributes = n.nvmlDeviceGetAttributes(handle)
            return f"{attributes.gpuInstanceSliceCount}g.{round(attributes.memorySizeMB / 1024)}gb"
        except Exception as e:  # an older driver without the call: the instance is still sampled
            log.info("MIG device profile unreadable (%s); it counts as one slice", _error_name(e))
            return None

    def _read(self, gpu: _Gpu, metric: str, call: Any) -> Any:
        """One NVML read: None if the GPU refuses it (and it is not asked again); a lost GPU is raised."""
        if metric in gpu.refused:
            return None
        try:
            return call()
        except Exception as e:
            name = _error_name(e)
            if name in REFUSED:
                gpu.refused.add(metric)
                log.info("GPU %s does not report %s (%s); stored as NULL from now on", gpu.uuid, metric, name)
                return None
            raise

    def _memory(self, gpu: _Gpu) -> Any:
        """Memory in use as nvidia-smi shows it. The v1 call counts the driver's reserved memory as used (616 MiB
        on an idle H200, 480 MiB on an H100, seen on both), so an idle GPU never looked empty; v2 reports reserved
        apart. v1 stands in where the driver or nvidia-ml-py lacks v2."""
        n, h = self.nvml, gpu.handle
        version = getattr(n, "nvmlMemory_v2", None)
        if version is not None and "memory_v2" not in gpu.refused:
            try:
                memory = self._read(gpu, "memory_v2", lambda: n.nvmlDeviceGetMemoryInfo(h, version=version))
            except TypeError:  # an nvidia-ml-py whose call takes no version
                gpu.refused.add("memory_v2")
                memory = None
            if memory is not None:
                return memory
        return self._read(gpu, "memory", lambda: n.nvmlDeviceGetMemoryInfo(h))

    def sample(self, interval_s: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """One reading of every GPU: (gpu_samples rows, gpu_processes rows). A row is complete or absent."""
        ts = datetime.now(UTC)
        samples, processes = [], []
        for gpu in self.gpus:
            if gpu.uuid in self.lost:
                continue
            try:
                row, procs = self._sample_gpu(gpu, ts, interval_s)
            except Exception as e:
                # No row either way, so the gap shows as missing data, never as idle. A lost GPU is not asked
                # again; any other failure skips this sample only.
                if _error_name(e) in LOST:
                    self.lost.add(gpu.uuid)
                    log.warning("GPU %s (index %d) is lost (%s): no more samples from it",
                                gpu.uuid, gpu.index, _error_name(e))  # fmt: skip
                else:
                    log.warning("GPU %s: sample skipped (%s: %s)", gpu.uuid, _error_name(e), e)
                continue
            samples.append(row)
            processes.extend(procs)
        return samples, processes

    def _sample_gpu(self, gpu: _Gpu, ts: datetime, interval_s: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        n, h = self.nvml, gpu.handle
        util = self._read(gpu, "utilization", lambda: n.nvmlDeviceGetUtilizationRates(h))
        memory = self._memory(gpu)
        power_mw = self._read(gpu, "power", lambda: n.nvmlDeviceGetPowerUsage(h))
        energy_mj = self._read(gpu, "energy", lambda: n.nvmlDeviceGetTotalEnergyConsumption(h))
        sm_clock = self._read(gpu, "sm_clock", lambda: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM))
        mem_clock = self._read(gpu, "mem_clock", lambda: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM))
        procs = self._processes(gpu, ts)
        row: dict[str, Any] = {
            # A MIG instance is stored under its GPU's UUID and its instance id, as dcgm-exporter reports it.
            "ts": ts, "gpu_uuid": gpu.parent_uuid or gpu.uuid, "gpu_index": gpu.index, "gpu_model": gpu.name,
            "mig_instance_id": gpu.mig_instance_id, "mig_profile": gpu.mig_profile, "interval_s": interval_s,
            "util_gpu_pct": None if util is None else float(util.gpu),
            "util_mem_pct": None if util is None else float(util.memory),
            "mem_used_bytes": None if memory is None else int(memory.used),
            "mem_total_bytes": None if memory is None else int(memory.total),
            "power_w": None if power_mw is None else power_mw / 1000.0,
            "energy_j": None if energy_mj is None else energy_mj / 1000.0,
            "sm_clock_mhz": None if sm_clock is None else float(sm_clock),
            "mem_clock_mhz": None if mem_clock is None else float(mem_clock),
            "process_count": len(procs) if "processes" not in gpu.refused else None,
            "labels": {"mig_uuid": gpu.uuid} if gpu.parent_uuid else None,
        }  # fmt: skip
        row.update(self._gpm(gpu))
        return row, procs

    def _gpm(self, gpu: _Gpu) -> dict[str, float | None]:
        """SM/tensor/DRAM activity over the interval since the previous sample (Hopper and newer)."""
        empty: dict[str, float | None] = dict.fromkeys(GPM_FIELDS.values())
        n = self.nvml
        if "gpm" in gpu.refused:
            return empty
        # A MIG instance is sampled through its GPU's handle and its GPU instance id (nvmlGpmMigSampleGet).
        device = gpu.parent_handle if gpu.mig_instance_id is not None else gpu.handle

        def take(sample: Any) -> None:
            if gpu.mig_instance_id is None:
                n.nvmlGpmSampleGet(device, sample)
            else:
                n.nvmlGpmMigSampleGet(device, int(gpu.mig_instance_id), sample)

        if gpu.gpm_sample is None:
            supported = self._read(gpu, "gpm", lambda: n.nvmlGpmQueryDeviceSupport(device).isSupportedDevice)
            if not supported:
                gpu.refused.add("gpm")
                return empty
            gpu.gpm_sample = n.nvmlGpmSampleAlloc()
            take(gpu.gpm_sample)
            return empty  # the first sample only opens the interval
        current = n.nvmlGpmSampleAlloc()
        take(current)
        request = n.c_nvmlGpmMetricsGet_t()
        request.version = n.NVML_GPM_METRICS_GET_VERSION
        request.numMetrics = len(GPM_FIELDS)
        request.sample1, request.sample2 = gpu.gpm_sample, current
        for slot, metric_id in enumerate(GPM_FIELDS):
            request.metrics[slot].metricId = metric_id
        n.nvmlGpmMetricsGet(request)
        n.nvmlGpmSampleFree(gpu.gpm_sample)
        gpu.gpm_sample = current
        values = dict(empty)
        for slot, name in enumerate(GPM_FIELDS.values()):
            metric = request.metrics[slot]
            values[name] = float(metric.value) if metric.nvmlReturn == 0 else None
        return values

    def _processes(self, gpu: _Gpu, ts: datetime) -> list[dict[str, Any]]:
        n, h = self.nvml, gpu.handle
        running = self._read(gpu, "processes", lambda: n.nvmlDeviceGetComputeRunningProcesses(h)) or []
        shares: dict[int, float] = {}
        utilisation = self._read(gpu, "process_util", lambda: _or_empty(
            lambda: n.nvmlDeviceGetProcessUtilization(h, gpu.last_process_ts)))  # fmt: skip
        for entry in utilisation or []:
            shares[int(entry.pid)] = float(entry.smUtil)
            gpu.last_process_ts = max(gpu.last_process_ts, int(entry.timeStamp))
        rows = []
        for proc in running:
            pid = int(proc.pid)
            owner = process_owner(pid)
            memory = getattr(proc, "usedGpuMemory", None)
            rows.append({
                "ts": ts, "gpu_uuid": gpu.parent_uuid or gpu.uuid, "pid": pid,
                "used_mem_bytes": int(memory) if memory else None, "sm_util_pct": shares.get(pid), **owner,
            })  # fmt: skip
        return rows


def process_owner(pid: int) -> dict[str, str | None]:
    """Who a GPU process belongs to, for chargeback: user, command, cgroup, and Kubernetes pod where the cgroup
    path names one. Unreadable (another PID namespace, a process gone) is None."""
    base = Path("/proc") / str(pid)
    owner: dict[str, str | None] = {"process_name": None, "user_name": None, "cgroup": None, "pod": None,
                                    "container": None, "namespace": None}  # fmt: skip
    try:
        owner["process_name"] = (base / "comm").read_text().strip()
        uid = next(line.split()[1] for line in (base / "status").read_text().splitlines() if line.startswith("Uid:"))
        import pwd

        owner["user_name"] = pwd.getpwuid(int(uid)).pw_name
    except (OSError, KeyError, StopIteration, ValueError):
        pass
    try:
        cgroup = (base / "cgroup").read_text().strip().splitlines()[-1].split(":", 2)[-1]
        owner["cgroup"] = cgroup
        if "kubepods" in cgroup:
            parts = [p for p in cgroup.split("/") if p]
            pod = next((p for p in parts if "pod" in p and p != "kubepods"), None)
            owner["pod"] = pod.replace("kubepods-", "").removesuffix(".slice") if pod else None
            owner["container"] = parts[-1].removesuffix(".scope") if parts else None
    except (OSError, IndexError):
        pass
    return owner


def _or_empty(call: Any) -> Any:
    """Per-process utilisation answers NotFound when no process ran since the last read: that is no data."""
    try:
        return call()
    except Exception as e:
        if _error_name(e) == "NVMLError_NotFound":
            return []
        raise


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def cpu_seconds() -> float:
    """CPU time this process has used, for the sampler's own overhead figure."""
    return time.process_time() + sum(os.times()[2:4])
