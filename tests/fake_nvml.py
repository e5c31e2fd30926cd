"""A stand-in for the pynvml module, for the sampler's error paths (refused metrics, a GPU that is lost) and the
shape of its MIG rows (function names and return shapes as nvidia-ml-py 12 has them). What real GPUs report is
checked on real hardware (tests/test_gpu_real.py); MIG has not been: no MIG-capable GPU was at hand."""

from __future__ import annotations

from types import SimpleNamespace


class NVMLError_NotSupported(Exception):
    pass


class NVMLError_GpuIsLost(Exception):
    pass


class NVMLError_NotFound(Exception):
    pass


class FakeNvml:
    NVML_CLOCK_SM, NVML_CLOCK_MEM = 1, 2

    def __init__(self, lose_gpu_1_after: int = 1_000_000, with_processes: bool = True, mig: bool = False) -> None:
        self.with_processes = with_processes
        self.mig = mig  # GPU 0 split into instance 1 (named by its profile) and instance 2 (named like its GPU)
        self.calls: dict[str, int] = {}
        self.samples_of_gpu_1 = 0
        self.lose_gpu_1_after = lose_gpu_1_after
        self.energy = {0: 1_000_000, 1: 2_000_000}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        if handle >= 100:
            return f"MIG-0000000{handle - 99}-aaaa-bbbb-cccc-dddddddddddd"
        return f"GPU-0000000{handle}-aaaa-bbbb-cccc-dddddddddddd"

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        if handle == 100:
            return b"NVIDIA A100-SXM4-40GB MIG 1g.5gb"
        return b"NVIDIA A100-SXM4-40GB" if self.mig else b"NVIDIA A10G"

    def nvmlDeviceGetMigMode(self, handle: int) -> tuple[int, int]:
        if self.mig and handle == 0:
            return (1, 1)
        raise NVMLError_NotSupported()

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: int) -> int:
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: int, slot: int) -> int:
        if slot >= 2:
            raise NVMLError_NotFound()
        return 100 + slot

    def nvmlDeviceGetGpuInstanceId(self, handle: int) -> int:
        return handle - 99

    def nvmlDeviceGetAttributes(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpuInstanceSliceCount=3, memorySizeMB=19968)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        if handle == 1:
            self.samples_of_gpu_1 += 1
            if self.samples_of_gpu_1 > self.lose_gpu_1_after:
                raise NVMLError_GpuIsLost()
        return SimpleNamespace(gpu=0, memory=0)

    nvmlMemory_v2 = 0x02000028

    def nvmlDeviceGetMemoryInfo(self, handle: int, version: int | None = None) -> SimpleNamespace:
        # As a real H200 answers (recorded, tests/data/gpu/h200-phases): v1 counts the driver's reserved memory as
        # used, v2 reports it apart.
        reserved = 616 * 2**20
        if version == self.nvmlMemory_v2:
            return SimpleNamespace(used=20 * 2**30, reserved=reserved, total=24 * 2**30)
        return SimpleNamespace(used=20 * 2**30 + reserved, total=24 * 2**30)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        self._count("power")
        raise NVMLError_NotSupported()

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        self.energy[handle] = self.energy.get(handle, 0) + 500_000
        return self.energy[handle]

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        return 1410 if clock == self.NVML_CLOCK_SM else 6251

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
        return [SimpleNamespace(pid=1, usedGpuMemory=20 * 2**30)] if handle == 0 and self.with_processes else []

    def nvmlDeviceGetProcessUtilization(self, handle: int, since: int) -> list[SimpleNamespace]:
        self._count("process_util")
        raise NVMLError_NotSupported()

    def nvmlGpmQueryDeviceSupport(self, handle: int) -> SimpleNamespace:
        self._count("gpm")
        return SimpleNamespace(isSupportedDevice=0)
