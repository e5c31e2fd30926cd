"""The Google Cloud Billing export to BigQuery (standard or detailed, resource-level) as FOCUS 1.2 `costs` rows,
through google-cloud-bigquery and Application Default Credentials only.

Every query filters on the partition (`_PARTITIONTIME`, from the day before the invoice month on) and on
`invoice.month`, so a sync never scans the whole table; bytes scanned are logged. A period's fingerprint is its row
count, newest `export_time` and cost sum: rows that arrive late for an open month change it, and the month is read
again and replaced.

Mapping, following the export's schema reference:
- `cost` is before credits; `credits` is a repeated record of negative amounts (sustained and committed use
  discounts, promotions, free tier). The invoice nets them, so BilledCost and EffectiveCost are `cost` plus all
  credits; ContractedCost is `cost` and ListCost `cost_at_list`; the credits stay visible, itemised, in x_Extras.
- `cost_type` regular, tax, adjustment, rounding_error to ChargeCategory Usage, Tax, Adjustment, Adjustment;
  commitment fees (SKUs named "Commitment ...") are Purchase.
- `labels` (resource) over `project.labels` to Tags; `invoice.month` to the billing period; money read as NUMERIC
  text, never FLOAT64; `system_labels` `compute.googleapis.com/machine_spec` to the instance type.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.config import Option
from finops.errors import SourceError
from finops.periods import billing_periods_back
from finops.schema import COSTS

if TYPE_CHECKING:
    import polars as pl

    from finops.doctor import Check

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
WINDOW = "invoice.month = @month AND _PARTITIONTIME >= @partition_from"  # the partition filter: never a full scan
# A table name cannot be a query parameter in BigQuery: it is checked against this before it goes into SQL.
TABLE = re.compile(r"[a-z][a-z0-9-]{4,61}[a-z0-9](?::[a-z0-9-]+)?\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_-]{1,1024}")


@dataclass(frozen=True)
class MonthExport:
    period: str  # YYYY-MM
    origin: str
    fingerprint: str
    rows: int
    billed_total: Decimal | None = None  # BigQuery's own SUM(cost) + credits: the store checks the load against it


@dataclass(frozen=True)
class GcpBillingExport:
    name: str = "gcp-billing-export"
    table = COSTS
    options = (
        Option(
            "table", str, "the export table: PROJECT.DATASET.gcp_billing_export_(resource_)v1_XXXXXX", required=True
        ),
        Option("project", str, "the project queries run and are billed in (default: the table's)"),
        Option("location", str, "the dataset's location, e.g. US or EU (default: BigQuery's)"),
        Option("endpoint", str, "a BigQuery API endpoint other than Google's (a private or test endpoint)"),
        Option("months", int, "invoice months to look at each run: the current one and those before it", default=2),
    )

    def validate(self, settings: dict[str, Any]) -> str | None:
        if not TABLE.fullmatch(str(settings.get("table", ""))):
            return "table must be PROJECT.DATASET.TABLE (letters, digits, '-' in the project, '_' elsewhere)"
        return None

    def plan(self, settings: dict[str, Any], today: date, periods: list[str] | None = None) -> list[MonthExport]:
        client = client_for(settings)
        plans = []
        for period in periods or billing_periods_back(today, int(settings["months"])):
            sql = f"""-- finops: plan
                SELECT CAST(COUNT(*) AS STRING) AS n, CAST(MAX(export_time) AS STRING) AS newest,
                       CAST(SUM(CAST(cost AS NUMERIC)) AS STRING) AS cost,
                       CAST(SUM(CAST(cost AS NUMERIC)) + SUM(IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC))
                                                                    FROM UNNEST(credits) c), 0)) AS STRING) AS billed
                FROM `{checked_table(settings)}` WHERE {WINDOW}"""  # noqa: S608 - a checked identifier; values are bound
            rows = list(_query(client, sql, period, settings))
            n, newest, total = (rows[0]["n"], rows[0]["newest"], rows[0]["cost"]) if rows else ("0", None, None)
            if int(n or 0) == 0:
                continue
            fingerprint = hashlib.sha256(f"{n}|{newest}|{total}".encode()).hexdigest()
            billed = rows[0].get("billed") if rows else None
            plans.append(MonthExport(period, f"bigquery://{settings['table']}?invoice.month={period}", fingerprint,
                                     int(n), Decimal(billed) if billed is not None else None))  # fmt: skip
        return plans

    def fetch(self, settings: dict[str, Any], unit: MonthExport, source: str, workdir: Path,
              progress: Progress | None = None) -> Iterator[pl.DataFrame]:  # fmt: skip
        """Read the month now (the rows land in workdir as JSON lines), then map them."""
        client = client_for(settings)
        detailed = _is_detailed(client, settings["table"])
        resource = "resource.name AS resource_name, resource.global_name AS resource_id,"
        if not detailed:
            resource = "CAST(NULL AS STRING) AS resource_name, CAST(NULL AS STRING) AS resource_id,"
        sql = f"""-- finops: rows
            SELECT billing_account_id, service.description AS service, sku.id AS sku_id,
                   sku.description AS sku, FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E6SZ', usage_start_time) AS start,
                   FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E6SZ', usage_end_time) AS end_time, project.id AS project_id,
                   project.name AS project_name, TO_JSON_STRING(labels) AS labels,
                   TO_JSON_STRING(project.labels) AS project_labels, TO_JSON_STRING(system_labels) AS system_labels,
                   location.region AS region, location.zone AS zone, {resource}
                   CAST(CAST(cost AS NUMERIC) AS STRING) AS cost, CAST(CAST(cost_at_list AS NUMERIC) AS STRING)
                   AS cost_at_list, currency, TO_JSON_STRING(credits) AS credits,
                   CAST((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) c) AS STRING) AS credit_total,
                   CAST(usage.amount_in_pricing_units AS STRING) AS quantity, usage.pricing_unit AS unit,
                   invoice.month AS invoice_month, cost_type
            FROM `{checked_table(settings)}` WHERE {WINDOW}"""  # noqa: S608 - a checked identifier; values are bound
        path = workdir / f"{unit.period}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for done, row in enumerate(_query(client, sql, unit.period, settings), start=1):
                handle.write(json.dumps(dict(row.items())) + "\n")
                if progress and done % 10000 == 0:
                    progress(f"{unit.period} rows", done, unit.rows)
        if progress:
            progress(f"{unit.period} rows", unit.rows, unit.rows)
        from finops.connectors.gcp_billing_map import read_export_rows

        return read_export_rows(path, source)

    def checks(self, source: str, settings: dict[str, Any], today: date) -> list[Check]:
        from finops.doctor import plan_checks

        empty = (f"no rows in {settings['table']} for the last {settings['months']} invoice month(s)",
                 "check the table name and that the export is on")  # fmt: skip
        return plan_checks(source, "export", lambda: self.plan(settings, today), lambda p: f"{p.rows:,} rows", empty)


def client_for(settings: dict[str, Any]) -> Any:
    try:
        from google.cloud import bigquery
    except ImportError as e:
        raise SourceError(
            "the GCP billing connector needs google-cloud-bigquery", hint="pip install 'gpu-finops[gcp]'"
        ) from e
    project = settings.get("project") or settings["table"].split(".")[0]
    options = {"api_endpoint": settings["endpoint"]} if settings.get("endpoint") else None
    try:
        # Credentials: Application Default Credentials, found by the SDK itself (gcloud auth, workload identity).
        return bigquery.Client(project=project, client_options=options, location=settings.get("location"))
    except Exception as e:  # google.auth.exceptions.DefaultCredentialsError and its kin
        hint = "gcloud auth application-default login, or run where a service account is attached"
        raise SourceError(f"BigQuery: no credentials: {type(e).__name__}", hint=hint) from e


def checked_table(settings: dict[str, Any]) -> str:
    table = str(settings["table"])
    if not TABLE.fullmatch(table):
        raise SourceError(f"table {table!r} is not PROJECT.DATASET.TABLE")
    return table


def _query(client: Any, sql: str, period: str, settings: dict[str, Any]) -> Any:
    year, month = (int(p) for p in period.split("-"))
    partition_from = date(year, month, 1) - timedelta(days=1)
    params = [("month", "STRING", f"{year:04d}{month:02d}"),
              ("partition_from", "TIMESTAMP", f"{partition_from.isoformat()} 00:00:00+00")]  # fmt: skip
    return run_query(client, sql, params, f"{settings['table']} {period}")


def run_query(client: Any, sql: str, params: list[tuple[str, str, str]], what: str) -> Any:
    """One query with bound parameters; errors a user can act on; bytes scanned logged (`-v`)."""
    from google.api_core import exceptions
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter(*p) for p in params])
    try:
        rows = client.query_and_wait(sql, job_config=config)
    except exceptions.Forbidden as e:
        hint = "the identity needs bigquery.jobs.create on the project and read on the dataset"
        raise SourceError(f"BigQuery: access denied ({what})", hint=hint) from e
    except exceptions.GoogleAPICallError as e:
        raise SourceError(f"BigQuery: {e.message}") from e
    log.info("BigQuery %s: %s bytes scanned", what, getattr(rows, "total_bytes_processed", None))
    return rows


def _is_detailed(client: Any, table: str) -> bool:
    """The detailed (resource-level) export has a `resource` record; the standard one does not."""
    from google.api_core import exceptions

    try:
        schema = client.get_table(table).schema
    except exceptions.GoogleAPICallError as e:
        raise SourceError(f"BigQuery: cannot read the schema of {table}: {e.message}") from e
    return any(field.name == "resource" for field in schema)


CONNECTOR = GcpBillingExport()
