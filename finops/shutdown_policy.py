"""The shutdown rails as configured (`[shutdown]` in finops.toml). Off unless `enabled = true`.

```toml
[shutdown]
enabled = false                 # apply does nothing at all (no cloud call that changes anything) until true
idle_minutes = 60               # idle at least this long, by SM activity and processes (not util alone)
idle_pct = 5.0                  # activity under this is idle
stale_minutes = 15              # telemetry older than this is missing, and missing data is never idleness
grace_minutes = 60              # the first run marks and notifies; a run after this long stops
max_instances = 3               # per run
max_per_hour = 500.0            # money per hour stopped per run
allow_local_disk_loss = false   # instance store / local SSD / ephemeral OS disk: skipped unless true
include_reserved = false        # a GPU whose memory a process holds counts as busy unless true
keep_alive_tag = "finops:keep-alive"
snooze_tag = "finops:snooze-until"      # value: an ISO date or time; skipped until then
mark_tag = "finops:stop-after"          # set by finops: when the instance may be stopped
aws_region = "us-east-1"        # for bare i-... ids (ARNs carry their region)
```
On Google Cloud, tag names are label keys: `finops-keep-alive`, `finops-snooze-until`, `finops-stop-after`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from finops.errors import UsageError, did_you_mean


@dataclass(frozen=True)
class ShutdownPolicy:
    enabled: bool = False
    idle_minutes: int = 60
    idle_pct: float = 5.0
    stale_minutes: int = 15
    grace_minutes: int = 60
    max_instances: int = 3
    max_per_hour: float = 500.0
    allow_local_disk_loss: bool = False
    include_reserved: bool = False
    keep_alive_tag: str = "finops:keep-alive"
    snooze_tag: str = "finops:snooze-until"
    mark_tag: str = "finops:stop-after"
    aws_region: str | None = None
    origin: str = "defaults"


def parse_shutdown(raw: Any, path: Path | str) -> ShutdownPolicy:
    if raw is None:
        return ShutdownPolicy()
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: shutdown must be a table ([shutdown])")
    known = {f.name: f for f in fields(ShutdownPolicy) if f.name != "origin"}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise UsageError(f"{path}: unknown key shutdown.{key}", hint=did_you_mean(key, sorted(known)))
        kind: type = {"bool": bool, "int": int, "float": float}.get(str(known[key].type).split(" ")[0], str)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise UsageError(f"{path}: shutdown.{key} must be a {kind.__name__}, not {value!r}")
        if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
            raise UsageError(f"{path}: shutdown.{key} must be above 0")
        values[key] = value
    return ShutdownPolicy(**values, origin=str(path))
