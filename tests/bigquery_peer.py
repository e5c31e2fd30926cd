"""A local server that speaks the parts of the BigQuery REST API (v2) that google-cloud-bigquery uses for a query:
`jobs.query`, `jobs.getQueryResults` with page tokens, `tables.get`; and Google's OAuth token endpoint, so the
client authenticates through Application Default Credentials exactly as in production.

It cannot run SQL. It answers the two queries finops sends (marked `-- finops: plan` and `-- finops: rows`) from
rows kept in the standard export's shape, and it refuses a query without the partition filter: a full scan of a
billing export is a bug this project promised not to have."""

from __future__ import annotations

import http.server
import json
import re
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

from http_server import send_json

TOKEN = "test-access-token"
PAGE = 3  # small pages, so paging is exercised


def _fields(names: list[str]) -> dict[str, Any]:
    return {"fields": [{"name": n, "type": "STRING", "mode": "NULLABLE"} for n in names]}


class BigQueryPeer(http.server.BaseHTTPRequestHandler):
    export: ClassVar[list[dict[str, Any]]] = []  # rows in the export's own schema
    focus: ClassVar[list[dict[str, Any]]] = []  # rows of Google's FOCUS view
    detailed: ClassVar[bool] = True
    queries: ClassVar[list[dict[str, Any]]] = []
    results: ClassVar[dict[str, tuple[list[str], list[list[str | None]]]]] = {}
    rows_lost: ClassVar[int] = 0  # a fault: the rows query leaves out this many of its first rows

    def do_POST(self) -> None:
        url = urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/token":  # OAuth refresh: the authorized_user credentials of ADC
            return self._send(200, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"})
        if not self._authorised():
            return None
        match = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/queries", url.path)
        if not match:
            return self._send(404, {"error": {"code": 404, "message": url.path}})
        request = json.loads(body)
        BigQueryPeer.queries.append(request)
        sql = request["query"]
        params = {p["name"]: p["parameterValue"]["value"] for p in request.get("queryParameters", [])}
        if "-- finops: focus" in sql:
            return self._focus(match[1], sql, params)
        if "_PARTITIONTIME >= @partition_from" not in sql or "invoice.month = @month" not in sql:
            return self._send(400, {"error": {"code": 400, "message": "a billing export query needs the partition "
                                              "filter", "status": "INVALID_ARGUMENT"}})  # fmt: skip
        month = params["month"]
        rows = [r for r in self.export if r["invoice"]["month"] == month
                and r["_partition"] >= params["partition_from"][:10]]  # fmt: skip
        if "-- finops: plan" in sql:
            names, values = self._plan(rows)
        else:
            names, values = self._rows(rows[BigQueryPeer.rows_lost :])
        job = f"job_{len(BigQueryPeer.queries)}"
        BigQueryPeer.results[job] = (names, values)
        return self._send(200, {**self._page(job, 0), "kind": "bigquery#queryResponse", "jobComplete": True,
                                "schema": _fields(names), "totalBytesProcessed": str(len(json.dumps(rows))),
                                "jobReference": {"projectId": match[1], "jobId": job, "location": "US"}})  # fmt: skip

    def _focus(self, project: str, sql: str, params: dict[str, str]) -> None:
        """The FOCUS view: queried on ChargePeriodStart (partition pruning) and BillingPeriodStart."""
        if "ChargePeriodStart >= @charge_from" not in sql or "BillingPeriodStart = @period_start" not in sql:
            return self._send(400, {"error": {"code": 400, "message": "query the view by ChargePeriodStart"}})
        period = params["period_start"][:10]
        rows = [r for r in self.focus if r["BillingPeriodStart"][:10] == period
                and params["charge_from"][:10] <= r["ChargePeriodStart"][:10] < params["charge_to"][:10]]  # fmt: skip
        if "-- finops: focus-plan" in sql:
            total = sum((Decimal(r["BilledCost"]) for r in rows), Decimal(0))
            names, values = ["n", "newest", "cost"], [[str(len(rows)), max((r["ChargePeriodEnd"] for r in rows),
                                                                           default=None), str(total)]]  # fmt: skip
        else:
            names, values = ["row"], [[json.dumps(r)] for r in rows]
        job = f"job_{len(BigQueryPeer.queries)}"
        BigQueryPeer.results[job] = (names, values)
        return self._send(200, {**self._page(job, 0), "kind": "bigquery#queryResponse", "jobComplete": True,
                                "schema": _fields(names), "totalBytesProcessed": "1",
                                "jobReference": {"projectId": project, "jobId": job, "location": "US"}})  # fmt: skip

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if not self._authorised():
            return None
        results = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/queries/([^/]+)", url.path)
        if results:
            token = parse_qs(url.query).get("pageToken", ["0"])[0]
            names, _ = BigQueryPeer.results[results[2]]
            return self._send(200, {**self._page(results[2], int(token)), "kind": "bigquery#getQueryResultsResponse",
                                    "jobComplete": True, "schema": _fields(names),
                                    "jobReference": {"projectId": results[1], "jobId": results[2]}})  # fmt: skip
        job = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/jobs/([^/]+)", url.path)
        if job and job[2] in BigQueryPeer.results:  # jobs.get: the client looks the job up before paging on
            return self._send(200, {"kind": "bigquery#job", "status": {"state": "DONE"},
                                    "jobReference": {"projectId": job[1], "jobId": job[2], "location": "US"},
                                    "configuration": {"query": {"query": "-- finops", "useLegacySql": False}},
                                    "statistics": {"query": {"totalBytesProcessed": "0"}}})  # fmt: skip
        table = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)", url.path)
        if table:
            fields = [{"name": n, "type": "STRING"} for n in ("billing_account_id", "cost", "currency")]
            if self.detailed:
                fields.append({"name": "resource", "type": "RECORD", "fields": [{"name": "name", "type": "STRING"}]})
            return self._send(200, {"kind": "bigquery#table", "schema": {"fields": fields},
                                    "tableReference": {"projectId": table[1], "datasetId": table[2],
                                                       "tableId": table[3]}})  # fmt: skip
        return self._send(404, {"error": {"code": 404, "message": url.path}})

    def _page(self, job: str, start: int) -> dict[str, Any]:
        _, values = BigQueryPeer.results[job]
        chunk = values[start : start + PAGE]
        page: dict[str, Any] = {
            "totalRows": str(len(values)),
            "rows": [{"f": [{"v": v} for v in row]} for row in chunk],
        }
        if start + PAGE < len(values):
            page["pageToken"] = str(start + PAGE)
        return page

    def _plan(self, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str | None]]]:
        total = sum((Decimal(r["cost"]) for r in rows), Decimal(0))
        credits = sum((Decimal(c["amount"]) for r in rows for c in r["credits"]), Decimal(0))
        newest = max((r["export_time"] for r in rows), default=None)
        billed = str(total + credits) if rows else None
        return ["n", "newest", "cost", "billed"], [[str(len(rows)), newest, str(total) if rows else None, billed]]

    def _rows(self, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str | None]]]:
        names = ["billing_account_id", "service", "sku_id", "sku", "start", "end_time", "project_id", "project_name",
                 "labels", "project_labels", "system_labels", "region", "zone", "resource_name", "resource_id", "cost",
                 "cost_at_list", "currency", "credits", "credit_total", "quantity", "unit", "invoice_month",
                 "cost_type"]  # fmt: skip
        values = []
        for r in rows:
            credits = [{"name": c["name"], "amount": c["amount"], "type": c["type"]} for c in r["credits"]]
            total = sum((Decimal(c["amount"]) for c in r["credits"]), Decimal(0))
            resource = r.get("resource") if self.detailed else None
            values.append([
                r["billing_account_id"], r["service"]["description"], r["sku"]["id"], r["sku"]["description"],
                r["usage_start_time"], r["usage_end_time"], r["project"]["id"], r["project"]["name"],
                json.dumps(r["labels"]), json.dumps(r["project"]["labels"]), json.dumps(r["system_labels"]),
                r["location"]["region"], r["location"].get("zone"), resource and resource["name"],
                resource and resource["global_name"], r["cost"], r["cost_at_list"], r["currency"], json.dumps(credits),
                str(total) if credits else None, r["usage"]["amount_in_pricing_units"], r["usage"]["pricing_unit"],
                r["invoice"]["month"], r["cost_type"],
            ])  # fmt: skip
        return names, values

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        self._send(401, {"error": {"code": 401, "message": "no valid token", "status": "UNAUTHENTICATED"}})
        return False

    def _send(self, status: int, document: dict[str, Any]) -> None:
        send_json(self, status, document)

    def log_message(self, *args: object) -> None:
        pass
