"""Google's own FOCUS view over the Cloud Billing export (BigQuery), read as FOCUS: no mapping of ours in between.

Each billing period is asked for with a filter on ChargePeriodStart (the view's time column, which lets BigQuery
prune the export's partitions) and on BillingPeriodStart. Rows come back as JSON text (`TO_JSON_STRING`), so
NUMERIC money keeps every digit and nested columns (Tags) keep their shape, whatever the view's column types.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.config import Option
from finops.connectors.gcp_billing_export import TABLE, MonthExport, checked_table, client_for, run_query
from finops.periods import billing_periods_back, month_bounds
from finops.schema import COSTS

if TYPE_CHECKING:
    import polars as pl

    from finops.doctor import Check

Progress = Callable[[str, int, int], None]
WINDOW = ("ChargePeriodStart >= @charge_from AND ChargePeriodStart < @charge_to "
          "AND BillingPeriodStart = @period_start")  # fmt: skip


@dataclass(frozen=True)
class GcpFocusView:
    name: str = "gcp-focus-view"
    table = COSTS
    options = (
        Option("table", str, "the FOCUS view: PROJECT.DATASET.VIEW", required=True),
        Option("project", str, "the project queries run and are billed in (default: the view's)"),
        Option("location", str, "the dataset's location, e.g. US or EU (default: BigQuery's)"),
        Option("endpoint", str, "a BigQuery API endpoint other than Google's (a private or test endpoint)"),
        Option("months", int, "billing periods to look at each run: the current one and those before it", default=2),
    )

    def validate(self, settings: dict[str, Any]) -> str | None:
        if not TABLE.fullmatch(str(settings.get("table", ""))):
            return "table must be PROJECT.DATASET.VIEW (letters, digits, '-' in the project, '_' elsewhere)"
        return None

    def plan(self, settings: dict[str, Any], today: date, periods: list[str] | None = None) -> list[MonthExport]:
        client = client_for(settings)
        plans = []
        for period in periods or billing_periods_back(today, int(settings["months"])):
            sql = f"""-- finops: focus-plan
                SELECT CAST(COUNT(*) AS STRING) AS n, CAST(MAX(ChargePeriodEnd) AS STRING) AS newest,
                       CAST(SUM(CAST(BilledCost AS NUMERIC)) AS STRING) AS cost
                FROM `{checked_table(settings)}` WHERE {WINDOW}"""  # noqa: S608 - a checked identifier; values are bound
            (row,) = list(run_query(client, sql, _params(period), f"{settings['table']} {period}"))
            if int(row["n"] or 0) == 0:
                continue
            fingerprint = hashlib.sha256(f"{row['n']}|{row['newest']}|{row['cost']}".encode()).hexdigest()
            # The view's own SUM(BilledCost) for the period: the store checks the load against it.
            total = Decimal(row["cost"]) if row["cost"] is not None else None
            plans.append(MonthExport(period, f"bigquery://{settings['table']}?billing_period={period}", fingerprint,
                                     int(row["n"]), total))  # fmt: skip
        return plans

    def fetch(self, settings: dict[str, Any], unit: MonthExport, source: str, workdir: Path,
              progress: Progress | None = None) -> Iterator[pl.DataFrame]:  # fmt: skip
        sql = f"""-- finops: focus-rows
            SELECT TO_JSON_STRING(t) AS row FROM `{checked_table(settings)}` AS t WHERE {WINDOW}"""  # noqa: S608
        path = workdir / f"{unit.period}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for row in run_query(client_for(settings), sql, _params(unit.period), f"{settings['table']} {unit.period}"):
                handle.write(row["row"] + "\n")
        return _frames(path, source)

    def checks(self, source: str, settings: dict[str, Any], today: date) -> list[Check]:
        from finops.doctor import plan_checks

        empty = (f"no rows in {settings['table']} for the last {settings['months']} month(s)", "check the view name")
        return plan_checks(source, "view", lambda: self.plan(settings, today), lambda p: f"{p.rows:,} rows", empty)


def _params(period: str) -> list[tuple[str, str, str]]:
    start, end = month_bounds(period)
    # Charges of a period can start a little before it (late usage billed into the month): a week of margin.
    return [("charge_from", "TIMESTAMP", f"{date.fromordinal(start.toordinal() - 7)} 00:00:00+00"),
            ("charge_to", "TIMESTAMP", f"{end} 00:00:00+00"),
            ("period_start", "TIMESTAMP", f"{start} 00:00:00+00")]  # fmt: skip


def _frames(path: Path, source: str) -> Iterator[pl.DataFrame]:
    import polars as pl

    from finops.coerce import ROW
    from finops.connectors.focus_files import normalise_focus_frame

    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            record = {k: _text(v) for k, v in json.loads(line, parse_float=str).items()}
            records.append({ROW: number, **record})
    if not records:
        return iter(())
    names = list(dict.fromkeys(k for r in records for k in r))
    frame = pl.DataFrame(records, schema={n: pl.Int64 if n == ROW else pl.String for n in names})
    return iter([normalise_focus_frame(frame, path, source, "gcp-focus-view")])


def _text(value: Any) -> str | None:
    """JSON values as the text FOCUS columns are read from: numbers exactly as written, objects as JSON."""
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, dict) and set(v) == {"key", "value"} for v in value):
        value = {v["key"]: v["value"] for v in value}  # BigQuery's ARRAY<STRUCT<key, value>>: FOCUS's JSON object
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


CONNECTOR = GcpFocusView()
