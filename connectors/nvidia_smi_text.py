"""GPU and MIG telemetry from `nvidia-smi`'s text outputs: `nvidia-smi -L`, the default table and `nvidia-smi -q`,
alone or concatenated in any order in one file. Every GPU host has the driver, far fewer run an exporter, so this is
what an operator can capture anywhere. Rows come out in the shape `gpu_exporters.parse_metrics` returns (the
`gpu_samples` table): one per physical GPU and one per MIG *GPU instance* (GI), whose `gpu_uuid` is the parent's, as
in dcgm-exporter. A GI with several compute instances shares one memory: it is one row, never counted twice.

The table and -q are measurements, each stamped with its own time line. -L measures nothing: it names GPUs (UUID
by index) and MIG devices (profile and MIG UUID by device index), and a file holding only -L gives no rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from finops.errors import InputError

_LIST_GPU = re.compile(r"^GPU (\d+): (.+) \(UUID: (GPU-[^)\s]+)\)$")
_LIST_MIG = re.compile(r"^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[^)\s]+)\)$")
_LEGACY_UUID = re.compile(r"^MIG-GPU-[^/]+/(\d+)/\d+$")  # driver 450: MIG-GPU-<gpu uuid>/<GI>/<CI>
_CI_PREFIX = re.compile(r"^\d+c\.")  # -L's `2c.3g.71gb`: a 2-slice compute instance of a 3g.71gb GPU instance
_STAMP = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$")
_BANNER = re.compile(r"^=+NVSMI LOG=+$")
_TABLE_HEAD = re.compile(r"^\|\s*NVIDIA-SMI \d")
_TABLE_GPU = re.compile(r"^(\d+)\s+(.+?)\s+\S+$")  # index, name, persistence mode (WDDM/TCC on Windows)
_TABLE_MIG = re.compile(r"^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$")  # GPU, GI ID, CI ID, MIG Dev
# GPU, [GI ID, CI ID (from driver 450)], PID, type, name, memory
_TABLE_PROCESS = re.compile(r"^(\d+)\s+(?:(N/A|\d+)\s+(?:N/A|\d+)\s+)?\d+\s+[CGM](?:\+[CGM])*\s+.+\s(?:\d+MiB|N/A)$")
_TABLE_NO_PROCESSES = re.compile(r"^(\d+)\s+Not Supported$")
_QUERY_GPU = re.compile(r"^GPU ([0-9A-Fa-f]+:[0-9A-Fa-f]+:[0-9A-Fa-f]+\.[0-9A-Fa-f]+)$")
_START = re.compile("|".join(r.pattern for r in (_LIST_GPU, _BANNER, _TABLE_HEAD)))
_KEY_VALUE = re.compile(r"^(\S.*?)\s+: ?(.*)$")
_READING = re.compile(r"^(\d+(?:\.\d+)?)\s*(MiB|MHz|W|%)$")
_MISSING = ("N/A", "[N/A]", "Not Supported", "[Not Supported]", "ERR!", "Unknown Error")
# -q power, best first: the one-second average (what power.draw means since driver 530), then older names
_QUERY_POWER: dict[tuple[str, ...], int] = {
    ("gpu power readings", "average power draw"): 0,
    ("gpu power readings", "power draw"): 1,
    ("power readings", "power draw"): 1,
    ("gpu power readings", "instantaneous power draw"): 2,
}
_HINT = "the file should hold nvidia-smi's own output (-L, the default table, -q), unedited"


@dataclass(frozen=True)
class ListedMig:
    """One MIG device (one compute instance) as `nvidia-smi -L` lists it under its GPU."""

    device: int  # "Device N": the table's "MIG Dev" column, not the GPU instance id
    profile: str  # as printed: `3g.40gb`, or `2c.3g.71gb` for a compute instance of a larger GI
    uuid: str
    gi: str | None  # only the legacy `MIG-GPU-<uuid>/<GI>/<CI>` UUID carries the GPU instance id


@dataclass(frozen=True)
class ListedGpu:
    """One GPU line of `nvidia-smi -L` and the MIG devices listed under it."""

    index: int
    model: str
    uuid: str
    migs: tuple[ListedMig, ...] = ()


@dataclass
class _Mig:  # one MIG device (compute instance) as a table or -q measured it
    device: int | None = None
    gi: str | None = None
    used: int | None = None
    total: int | None = None


@dataclass
class _Gpu:  # one GPU as a table or -q measured it
    ts: datetime | None = None  # the output's own time line
    index: int | None = None
    bus: str = ""
    uuid: str | None = None
    model: str | None = None
    util: float | None = None
    power: float | None = None
    power_rank: int = len(_QUERY_POWER)
    used: int | None = None
    total: int | None = None
    sm_clock: float | None = None  # -q's current clocks (the table prints none)
    mem_clock: float | None = None
    migs: list[_Mig] = field(default_factory=list)
    processes: list[str | None] | None = None  # each process's GI id; None where no process list was printed


def is_nvidia_smi_text(text: str) -> bool:
    """Whether the text holds any of -L, the default table or -q (the line each one starts with)."""
    return any(_START.match(line.rstrip()) for line in text.splitlines())


def parse_nvidia_smi_list(text: str, *, origin: str = "nvidia-smi") -> list[ListedGpu]:
    """What the `nvidia-smi -L` lines of the text name. -L alone measures nothing (parse_nvidia_smi_text gives no
    rows); this lets a caller say what such a file holds."""
    reader = _Reader(origin)
    reader.read(text)
    return list(reader.listed.values())


def parse_nvidia_smi_text(
    text: str, *, scraped_at: datetime, host: str | None = None, origin: str = "nvidia-smi"
) -> list[dict[str, Any]]:
    """One row per GPU and per MIG GPU instance of each table and -q in the text, named from any -L in it; [] for
    a text of -L alone. Times are the outputs' own lines, which nvidia-smi prints in local time without a zone:
    taken as UTC (capture with TZ=UTC), else `scraped_at`. The table prints no UUID: with no -L or -q naming the
    GPU, it is `<host>/gpu<index>`. A GI with several compute instances has one MIG UUID each: `labels.mig_uuid`
    lists them, comma-separated. Raises InputError naming `origin` and the line for what cannot be read, and for
    outputs that contradict each other (an -L of another moment)."""
    reader = _Reader(origin)
    reader.read(text)
    return reader.rows(scraped_at, host)


class _Reader:
    """One pass over the lines. The first line of each output (-L's GPU line, the table's NVIDIA-SMI header, -q's
    banner) switches the mode, so outputs can come in any order."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.listed: dict[int, ListedGpu] = {}
        self.gpus: list[_Gpu] = []  # every output's
        self.output: list[_Gpu] = []  # the current table's or -q's
        self.ts: datetime | None = None  # the current output's time line
        self.mode = ""  # "list", "table" or "query"
        self.list_index = 0  # the -L GPU whose MIG lines follow
        self.section = ""  # the table's: "gpus", "MIG" or "Pro(cesses)"
        self.in_rows = False  # past the table section's ==== line
        self.stamp: datetime | None = None  # the line above a table, for the table
        self.awaiting: _Gpu | None = None  # a table GPU whose second line (power, memory, util) comes next
        self.gpu: _Gpu | None = None  # the -q GPU block being read
        self.stack: list[tuple[int, str]] = []  # -q headings above the current line, with their indent
        self.process_gi: str | None = None
        self.number, self.line = 0, ""
        self.bus_uuid: dict[str, str] = {}  # a table and a -q of one host share the PCI bus id
        self.bus_index: dict[str, int] = {}
        self.listed_uuid: dict[str, ListedGpu] = {}

    def fail(self, what: str) -> InputError:
        return InputError(f"{self.origin}, line {self.number}: {what}: {self.line.strip()!r}", hint=_HINT)

    def read(self, text: str) -> None:
        seen = False
        for self.number, raw in enumerate(text.splitlines(), start=1):  # splitlines: CRLF too
            self.line = line = raw.rstrip()
            seen = seen or bool(_START.match(line))
            if not line:
                continue
            if m := _LIST_GPU.match(line):
                self.mode, self.list_index = "list", int(m[1])
                self.listed[self.list_index] = ListedGpu(self.list_index, m[2].strip(), m[3])
            elif _BANNER.match(line):
                self.mode, self.gpu, self.output, self.ts, self.stamp = "query", None, [], None, None
            elif _TABLE_HEAD.match(line):
                self.mode, self.section, self.in_rows, self.awaiting = "table", "gpus", False, None
                self.output, self.ts, self.stamp = [], self.stamp, None
            elif line.startswith(("+", "|")):
                if self.mode == "table":
                    self._table(line)  # else the border above a header, or another tool's table
            elif self.mode == "list" and line[0].isspace():
                self._list_mig(line)
            elif _STAMP.match(line):
                self.stamp = self._time(line)
            elif self.mode == "query" and (line[0].isspace() or _KEY_VALUE.match(line) or _QUERY_GPU.match(line)):
                self._query(line)
            else:  # a line that is not nvidia-smi's (a shell prompt, a title someone typed) ends the output
                self.mode = ""
        if not seen:
            raise InputError(f"{self.origin}: not nvidia-smi output (-L, the default table or -q)", hint=_HINT)

    def _list_mig(self, line: str) -> None:
        m = _LIST_MIG.match(line)
        if m is None:
            raise self.fail("not an `nvidia-smi -L` MIG line")
        legacy = _LEGACY_UUID.match(m[3])
        mig = ListedMig(int(m[2]), m[1], m[3], legacy[1] if legacy else None)
        gpu = self.listed[self.list_index]
        self.listed[self.list_index] = replace(gpu, migs=(*gpu.migs, mig))

    def _table(self, line: str) -> None:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0].startswith(("MIG devices:", "Processes:")):
            self.section, self.in_rows = cells[0][:3], False
            for gpu in self.output if self.section == "Pro" else ():
                gpu.processes = []  # a process list is printed: a GPU without a row in it runs nothing
        elif set(line) <= set("|+-="):
            self.in_rows = self.in_rows or "=" in line
            if self.in_rows and self.section == "Pro" and line.startswith("+"):
                self.mode = ""  # the process list closes the table
        elif not self.in_rows:
            return  # column headers
        elif self.section == "gpus":
            if self.awaiting is not None:
                self._gpu_readings(self.awaiting, cells)
                self.awaiting = None
            elif m := _TABLE_GPU.match(cells[0]):
                bus = cells[1].split()[0].upper() if len(cells) > 1 and cells[1] else ""
                self.awaiting = self._new_gpu(_Gpu(index=int(m[1]), model=m[2], bus=bus))
        elif self.section == "MIG":
            if not cells[0] or cells[0].startswith("No MIG devices"):
                return  # the BAR1 line under each device
            if not (m := _TABLE_MIG.match(cells[0])) or len(cells) < 2:
                raise self.fail("not a MIG device row")
            used, total = self._pair(cells[1])
            self._table_gpu(int(m[1])).migs.append(_Mig(int(m[4]), m[2], used, total))
        elif m := _TABLE_NO_PROCESSES.match(cells[0]):
            self._table_gpu(int(m[1])).processes = None  # processes of an old GeForce: not known, not none
        elif not cells[0].startswith("No running processes"):
            if not (m := _TABLE_PROCESS.match(cells[0])):
                raise self.fail("not a process row")
            gpu = self._table_gpu(int(m[1]))
            gpu.processes = [*(gpu.processes or []), m[2] if m[2] != "N/A" else None]

    def _gpu_readings(self, gpu: _Gpu, cells: list[str]) -> None:
        power = re.search(r"(\S+)\s*/\s*\S+$", cells[0])
        if power is None or len(cells) < 3:
            raise self.fail("not a GPU's power, memory and utilization")
        gpu.power = self._float(power[1], "W")
        gpu.used, gpu.total = self._pair(cells[1])
        gpu.util = self._float(cells[2].split()[0], "%") if cells[2] else None

    def _new_gpu(self, gpu: _Gpu) -> _Gpu:
        gpu.ts = self.ts
        self.output.append(gpu)
        self.gpus.append(gpu)
        return gpu

    def _table_gpu(self, index: int) -> _Gpu:
        found = next((gpu for gpu in self.output if gpu.index == index), None)
        if found is None:
            raise self.fail(f"GPU {index} is not in the table's GPU rows")
        return found

    def _query(self, line: str) -> None:
        indent, text = len(line) - len(line.lstrip()), line.strip()
        pair = _KEY_VALUE.match(text)
        name = (pair[1] if pair else text).lower()  # "GPU instance ID" (Processes) vs "GPU Instance ID" (MIG)
        if indent == 0:
            self.gpu, self.stack = None, []
            if pair and name == "timestamp":
                self.ts = self._time(pair[2])  # before the GPU blocks
            elif m := _QUERY_GPU.match(text):
                self.gpu = self._new_gpu(_Gpu(bus=m[1].upper()))
            return
        if self.gpu is None:
            return
        while self.stack and self.stack[-1][0] >= indent:
            self.stack.pop()
        path = (*(heading for _, heading in self.stack), name)
        if pair is None:
            self.stack.append((indent, name))
            if name == "mig device":
                self.gpu.migs.append(_Mig())
            elif path == ("processes",):
                self.gpu.processes = []
        else:
            self._query_value(self.gpu, path, pair[2].strip())

    def _query_value(self, gpu: _Gpu, path: tuple[str, ...], value: str) -> None:
        if "mig device" in path:
            mig, key = gpu.migs[-1], path[path.index("mig device") + 1 :]
            memory = key[-1] if key[:-1] in (("shared fb memory usage",), ("fb memory usage",)) else ""
            if key == ("index",):
                if not value.isdigit():
                    raise self.fail("not a MIG device index")
                mig.device = int(value)
            elif key == ("gpu instance id",):
                mig.gi = value
            elif memory in ("used", "total"):
                setattr(mig, memory, self._mib(value))
        elif path == ("product name",):
            gpu.model = value
        elif path == ("gpu uuid",):
            gpu.uuid = value
        elif path in (("fb memory usage", "used"), ("fb memory usage", "total")):
            setattr(gpu, path[1], self._mib(value))
        elif path == ("utilization", "gpu"):
            gpu.util = self._float(value, "%")
        elif path == ("clocks", "sm"):  # the current clocks, not "Max Clocks" or "Applications Clocks"
            gpu.sm_clock = self._float(value, "MHz")
        elif path == ("clocks", "memory"):
            gpu.mem_clock = self._float(value, "MHz")
        elif (
            _QUERY_POWER.get(path, len(_QUERY_POWER)) < gpu.power_rank
            and (watts := self._float(value, "W")) is not None
        ):
            gpu.power, gpu.power_rank = watts, _QUERY_POWER[path]
        elif path == ("processes",):
            gpu.processes = []  # "Processes : None"
        elif path == ("processes", "gpu instance id"):
            self.process_gi = None if value in _MISSING else value
        elif path == ("processes", "process id"):
            gpu.processes, self.process_gi = [*(gpu.processes or []), self.process_gi], None

    def _value(self, cell: str, unit: str) -> Decimal | None:
        if cell in _MISSING:
            return None
        m = _READING.match(cell)
        if m is None or m[2] != unit:
            raise self.fail(f"{cell!r} is not a reading in {unit}")
        return Decimal(m[1])

    def _float(self, cell: str, unit: str) -> float | None:
        value = self._value(cell, unit)
        return None if value is None else float(value)

    def _mib(self, cell: str) -> int | None:
        value = self._value(cell, "MiB")
        return None if value is None else int(value * 2**20)

    def _pair(self, cell: str) -> tuple[int | None, int | None]:
        if cell in _MISSING:
            return None, None
        used, slash, total = cell.partition("/")
        if not slash:
            raise self.fail(f"{cell!r} is not used / total memory")
        return self._mib(used.strip()), self._mib(total.strip())

    def _time(self, value: str) -> datetime:
        try:
            return datetime.strptime(" ".join(value.split()), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
        except ValueError as e:
            raise self.fail(f"{value.strip()!r} is not a time") from e

    def rows(self, scraped_at: datetime, host: str | None) -> list[dict[str, Any]]:
        self.bus_uuid = {gpu.bus: gpu.uuid for gpu in self.gpus if gpu.bus and gpu.uuid}
        self.bus_index = {gpu.bus: gpu.index for gpu in self.gpus if gpu.bus and gpu.index is not None}
        self.listed_uuid = {gpu.uuid: gpu for gpu in self.listed.values()}
        return [row for gpu in self.gpus for row in self._gpu_rows(gpu, gpu.ts or scraped_at, host)]

    def _identify(self, gpu: _Gpu, host: str | None) -> tuple[str, int | None, ListedGpu | None]:
        # from whichever output gives them: -L by index or UUID; a table and a -q of one host share the PCI bus id
        index = gpu.index if gpu.index is not None else self.bus_index.get(gpu.bus)
        uuid = gpu.uuid or self.bus_uuid.get(gpu.bus)
        listed = self.listed.get(index) if index is not None else self.listed_uuid.get(uuid or "")
        if listed is not None:
            if uuid not in (None, listed.uuid):
                raise InputError(f"{self.origin}: GPU {index} is {listed.uuid} in -L but {uuid} in -q",
                                 hint="one file must hold the outputs of one host")  # fmt: skip
            uuid, index = listed.uuid, listed.index
        if uuid is None:
            if host is None:
                raise InputError(f"{self.origin}: no UUID for GPU {index} (the table does not print UUIDs)",
                                 hint="add `nvidia-smi -L` output to the file, or give --host")  # fmt: skip
            uuid = f"{host}/gpu{index}" if index is not None else f"{host}/{gpu.bus}"
        return uuid, index, listed

    def _gpu_rows(self, gpu: _Gpu, ts: datetime, host: str | None) -> list[dict[str, Any]]:
        uuid, index, listed = self._identify(gpu, host)
        named = {mig.device: mig for mig in listed.migs} if listed else None
        measured = {mig.device for mig in gpu.migs}
        if named is not None and set(named) != measured:
            raise InputError(f"{self.origin}: -L lists MIG devices {sorted(named)} on GPU {index}, the measurements "
                             f"{sorted(d for d in measured if d is not None)}: not the same moment",
                             hint="capture -L with the table or -q: `nvidia-smi -L; nvidia-smi`")  # fmt: skip
        processes = gpu.processes
        base: dict[str, Any] = {"ts": ts, "host": host, "gpu_uuid": uuid, "gpu_index": index, "x_Day": ts.date(),
                                "gpu_model": (listed.model if listed else None) or gpu.model,
                                # a MIG instance runs at its GPU's clocks
                                "sm_clock_mhz": gpu.sm_clock, "mem_clock_mhz": gpu.mem_clock}  # fmt: skip
        rows = [{**base, "mig_instance_id": None, "mig_profile": None, "util_gpu_pct": gpu.util,
                 "mem_used_bytes": gpu.used, "mem_total_bytes": gpu.total, "power_w": gpu.power,
                 "process_count": None if processes is None else len(processes), "labels": None}]  # fmt: skip
        instances: dict[str, list[_Mig]] = {}
        for mig in gpu.migs:
            if mig.gi is None:
                raise InputError(f"{self.origin}: MIG device {mig.device} of GPU {index} has no GPU instance id")
            instances.setdefault(mig.gi, []).append(mig)
        for gi, migs in instances.items():  # the GI's shared memory is printed on each of its CIs: read once
            names = [named[mig.device] for mig in migs if mig.device is not None] if named else []
            if any(name.gi not in (None, gi) for name in names):
                raise InputError(f"{self.origin}: -L's MIG UUIDs put GPU {index}'s devices on other GPU instances "
                                 f"than the measurements do (GI {gi})", hint="capture -L with the table")  # fmt: skip
            rows.append({**base, "mig_instance_id": gi, "util_gpu_pct": None, "power_w": None,
                         "mig_profile": _CI_PREFIX.sub("", names[0].profile) if names else None,
                         "mem_used_bytes": migs[0].used, "mem_total_bytes": migs[0].total,
                         "process_count": None if processes is None else processes.count(gi),
                         # one MIG UUID per compute instance: a GI with several lists them all, in device order
                         "labels": {"mig_uuid": ",".join(name.uuid for name in names)} if names else None})  # fmt: skip
        return rows
