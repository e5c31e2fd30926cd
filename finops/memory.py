"""`--memory-limit` (FINOPS_MEMORY_LIMIT): one budget for the whole process, split between DuckDB and the batches
in flight. DuckDB gets half and spills to disk past it; ingest reads batches small enough for the other half.
A FOCUS row in flight costs about 2.6 KB at peak (measured: a 1M-row batch of the 57-column file peaked at 2.9 GB
RSS), so a batch gets a row per 4 KB of its half, leaving room for the copies coercion makes."""

from __future__ import annotations

import os
import re

from finops.errors import UsageError

BYTES_PER_ROW = 4096
MIN_BATCH_ROWS = 10_000
UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
         "tib": 2**40}  # fmt: skip


def limit_bytes() -> int | None:
    text = os.environ.get("FINOPS_MEMORY_LIMIT", "").strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z%]+)", text)
    if match and match[2] == "%":
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return int(total * float(match[1]) / 100)
    if not match or match[2].lower() not in UNITS:
        raise UsageError(f"memory limit {text!r} is not a size", hint="e.g. 2GB, 512MiB or 50%")
    return int(float(match[1]) * UNITS[match[2].lower()])


def engine_limit() -> str | None:
    """DuckDB's share, as a setting value."""
    total = limit_bytes()
    return None if total is None else f"{max(total // 2 // 2**20, 64)}MiB"


def batch_rows(default: int) -> int:
    """Rows per ingest batch within the batches' share (the default when there is no limit)."""
    total = limit_bytes()
    if total is None:
        return default
    return max(MIN_BATCH_ROWS, min(default, total // 2 // BYTES_PER_ROW))
