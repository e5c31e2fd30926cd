"""`finops export focus`: the `costs` table as FOCUS 1.2 (default) or 1.3 files for other tools, one folder per
billing period (`billing_period=YYYY-MM/`), parquet or CSV, written by DuckDB's own COPY (streaming: the table is
never in memory).

FOCUS columns keep their names and types; Tags become the spec's JSON object text; times are UTC ISO 8601 with a
`Z`; money keeps every digit. The `x_` columns stay, so nothing finops learned is lost (the spec allows custom
columns with the `x_` prefix). 1.3 adds its eight columns (finops.schema.FOCUS_1_3_COLUMNS) and keeps the
deprecated ProviderName/PublisherName, which 1.3 still requires. Rows loaded from a 1.0-1.2 file have no
ServiceProviderName: it is written from ProviderName, which 1.3 names as the column it replaces. HostProviderName
is left empty there (the spec allows null; no older column says which infrastructure hosted a charge).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from finops.errors import UsageError
from finops.schema import COST_EXTRAS, FOCUS_1_3_COLUMNS, FOCUS_COLUMNS, TIMESTAMP
from finops.store import open_store

FORMATS = ("parquet", "csv")
VERSIONS = {"1.2": FOCUS_COLUMNS, "1.3": FOCUS_COLUMNS + FOCUS_1_3_COLUMNS}
# A 1.3 column written from an older one where a row has none (the spec names it the replacement).
_FILLED_FROM = {"ServiceProviderName": "ProviderName"}


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    files: tuple[Path, ...]
    rows: int


def export_focus(db: Path, output: Path, fmt: str = "parquet", version: str = "1.2") -> ExportResult:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is unknown", hint="parquet or csv")
    if version not in VERSIONS:
        raise UsageError(f"--version {version!r} is not a FOCUS version finops writes", hint=" or ".join(VERSIONS))
    if output.exists() and any(output.iterdir()):
        raise UsageError(f"{output} is not empty", hint="export into a new or empty folder: nothing is overwritten")
    output.mkdir(parents=True, exist_ok=True)
    columns = []
    for name, kind in (*VERSIONS[version], *COST_EXTRAS):
        if name in ("x_LoadId",):
            continue  # finops' own bookkeeping, meaningless elsewhere
        if name in _FILLED_FROM:
            columns.append(f'coalesce("{name}", "{_FILLED_FROM[name]}") AS "{name}"')
        elif name == "Tags":
            columns.append('CASE WHEN "Tags" IS NULL THEN NULL ELSE to_json("Tags")::VARCHAR END AS "Tags"')
        elif kind == TIMESTAMP:
            columns.append(f"strftime(\"{name}\" AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS \"{name}\"")
        else:
            columns.append(f'"{name}"')
    # Column names and expressions come from finops' own schema, never from input: nothing here is a value.
    select = (f"SELECT {', '.join(columns)}, strftime(\"BillingPeriodStart\" AT TIME ZONE 'UTC', '%Y-%m') "  # noqa: S608
              'AS billing_period FROM costs ORDER BY "BillingPeriodStart", "ChargePeriodStart"')  # fmt: skip
    with open_store(db, read_only=True) as store:
        rows = store.fetch("SELECT count(*) FROM costs")[0][0]
        if not rows:
            raise UsageError("the store has no cost data to export", hint="load some: finops ingest PATH")
        store.copy_to(select, output, fmt, partition_by="billing_period")
    files = tuple(sorted(p for p in output.rglob(f"*.{fmt}")))
    return ExportResult(output, files, int(rows))
