"""The sampler's spool folder as a `finops sync` source: each spool file (one run, one day, one table) is a unit;
a file already loaded as it is is skipped, a file the sampler rewrote since is loaded again (it replaces that
run's day)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.config import Option
from finops.schema import CANONICAL_TABLES, GPU_SAMPLES, Table

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class SpoolFile:
    period: str  # the file's day
    origin: str
    fingerprint: str
    table: Table


@dataclass(frozen=True)
class GpuSpool:
    name: str = "gpu-spool"
    table = GPU_SAMPLES
    options = (Option("path", str, "the folder `finops gpu watch --spool` writes to", required=True),)

    def plan(self, settings: dict[str, Any], today: date, periods: list[str] | None = None) -> list[SpoolFile]:
        folder = Path(settings["path"]).expanduser()
        units = []
        for path in sorted(folder.glob("gpu_*--*--*.parquet")):
            table_name, _, day = path.stem.split("--")
            if periods and day not in periods and day[:7] not in periods:
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            units.append(SpoolFile(day, str(path), digest, CANONICAL_TABLES[table_name]))
        return units

    def fetch(
        self, settings: dict[str, Any], unit: SpoolFile, source: str, workdir: Path, progress: Any = None
    ) -> Iterator[pl.DataFrame]:
        import polars as pl

        from finops.coerce import coerce

        # The spool's own source names the sampler run, so runs never replace each other.
        return iter([coerce(pl.read_parquet(unit.origin), unit.table, file=unit.origin)])


CONNECTOR = GpuSpool()
