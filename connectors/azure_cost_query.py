"""Azure Cost Management's Query API, the light option where no export is set up: daily cost by service and
resource group (and by one tag key, when configured), as coarse FOCUS rows without resource ids.

One query asks for ActualCost (BilledCost) and one for AmortizedCost (EffectiveCost), each followed through every
`nextLink`; rows are matched on day, service, resource group and tag. The API throttles hard (a few queries a
minute per scope): a 429 is waited out for as long as its `x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after`
or `Retry-After` header says, then retried. Amounts arrive as JSON numbers; they are read as exact decimals from the
response text, never through a float. Credentials: `DefaultAzureCredential` only.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.config import Option
from finops.errors import SourceError
from finops.periods import billing_periods_back, month_so_far
from finops.schema import COSTS

if TYPE_CHECKING:
    import polars as pl

    from finops.doctor import Check

API_VERSION = "2023-11-01"
DATASETS = {"ActualCost": "BilledCost", "AmortizedCost": "EffectiveCost"}
RETRIES = 5
WAIT_HEADERS = ("x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after", "Retry-After")


@dataclass(frozen=True)
class QueryPeriod:
    period: str
    origin: str
    fingerprint: str
    rows: tuple[dict[str, str | None], ...]


@dataclass(frozen=True)
class AzureCostQuery:
    name: str = "azure-cost-query"
    credential: Any = None  # None: DefaultAzureCredential (tests give a token credential of their own)
    client_options: dict[str, Any] = field(default_factory=dict)
    table = COSTS
    options = (
        Option("scope", str, "/subscriptions/ID, /providers/Microsoft.Billing/billingAccounts/ID, ...", required=True),
        Option("tag_key", str, "a tag to break costs down by (e.g. team)"),
        Option("endpoint", str, "Resource Manager for a sovereign cloud (default: management.azure.com)"),
        Option("months", int, "billing periods to look at each run: the current one and those before it", default=2),
    )

    def plan(self, settings: dict[str, Any], today: date, periods: list[str] | None = None) -> list[QueryPeriod]:
        """The Query API has no manifest: each period's answer is fetched here and its hash is the fingerprint."""
        client = _client(settings, self.credential, self.client_options)
        plans = []
        for period in periods or billing_periods_back(today, int(settings["months"])):
            start, end = month_so_far(period, today)
            rows = _period_rows(client, settings, start, end)
            digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
            plans.append(QueryPeriod(period, f"azure-query:{settings['scope']}:{period}", digest, tuple(rows)))
        return plans

    def fetch(self, settings: dict[str, Any], unit: QueryPeriod, source: str, workdir: Path,
              progress: Any = None) -> Iterator[pl.DataFrame]:  # fmt: skip
        import polars as pl

        from finops.coerce import ROW
        from finops.connectors.focus_files import normalise_focus_frame

        if not unit.rows:
            return iter(())
        raw = pl.DataFrame(list(unit.rows), infer_schema_length=None).with_row_index(ROW, offset=1)
        return iter([normalise_focus_frame(raw, Path(unit.origin), source, "azure-cost-query")])

    def checks(self, source: str, settings: dict[str, Any], today: date) -> list[Check]:
        from finops.doctor import plan_checks

        return plan_checks(source, "query", lambda: self.plan(settings, today, [billing_periods_back(today, 1)[0]]),
                           lambda p: f"{len(p.rows)} daily row(s)", ("no data", "check the scope"))  # fmt: skip


CONNECTOR = AzureCostQuery()


def _client(settings: dict[str, Any], credential: Any, client_options: dict[str, Any]) -> Any:
    try:
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.costmanagement import CostManagementClient
    except ImportError as e:
        hint = "pip install 'gpu-finops[azure]'"
        raise SourceError("the Azure query connector needs azure-mgmt-costmanagement", hint=hint) from e
    options = {"base_url": settings["endpoint"]} if settings.get("endpoint") else {}
    return CostManagementClient(credential or DefaultAzureCredential(), **options, **client_options)


def _period_rows(client: Any, settings: dict[str, Any], start: date, end: date) -> list[dict[str, str | None]]:
    merged: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for dataset, column in DATASETS.items():
        for record in _query(client, settings, dataset, start, end):
            key = (record["day"], record["service"], record["group"], record["tag"])
            row = merged.setdefault(key, {**record, "BilledCost": Decimal(0), "EffectiveCost": Decimal(0)})
            row[column] += record["cost"]
    return [_row(settings, start, key, row) for key, row in sorted(merged.items())]


def _query(client: Any, settings: dict[str, Any], dataset: str, start: date, end: date) -> Iterator[dict[str, Any]]:
    from azure.core.rest import HttpRequest

    grouping = [{"type": "Dimension", "name": "ServiceName"}, {"type": "Dimension", "name": "ResourceGroupName"}]
    if settings.get("tag_key"):
        grouping.append({"type": "TagKey", "name": settings["tag_key"]})
    body = {"type": dataset, "timeframe": "Custom",
            "timePeriod": {"from": f"{start}T00:00:00Z", "to": f"{end - timedelta(days=1)}T23:59:59Z"},
            "dataset": {"granularity": "Daily", "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
                        "grouping": grouping}}  # fmt: skip
    scope = settings["scope"].rstrip("/")
    url: str | None = f"{scope}/providers/Microsoft.CostManagement/query?api-version={API_VERSION}"
    while url:
        document = _send(client, HttpRequest("POST", url, json=body), dataset)
        properties = document.get("properties", {})
        names = [c["name"] for c in properties.get("columns", [])]
        for values in properties.get("rows", []):
            record = dict(zip(names, values, strict=True))
            day = str(record.get("UsageDate"))
            tag = record.get("TagValue") if record.get("TagKey") else None
            yield {"day": f"{day[:4]}-{day[4:6]}-{day[6:8]}", "service": record.get("ServiceName") or "",
                   "group": record.get("ResourceGroupName") or "", "tag": tag or "",
                   "cost": record["Cost"], "currency": record.get("Currency") or "USD"}  # fmt: skip
        url = properties.get("nextLink") or None


def _send(client: Any, request: Any, dataset: str) -> dict[str, Any]:
    from azure.core.exceptions import ClientAuthenticationError

    for attempt in range(RETRIES):
        try:
            response = client.send_request(request)
        except ClientAuthenticationError as e:
            hint = "DefaultAzureCredential: az login, a managed identity, or AZURE_* settings"
            raise SourceError("Azure Cost Management: the credential was refused", hint=hint) from e
        if response.status_code == 429 and attempt + 1 < RETRIES:
            wait = next((response.headers[h] for h in WAIT_HEADERS if response.headers.get(h)), "5")
            time.sleep(min(float(wait), 120.0))
            continue
        if response.status_code == 403:
            raise SourceError(f"Azure Cost Management {dataset}: access denied",
                              hint="the identity needs Cost Management Reader on the scope")  # fmt: skip
        if response.status_code >= 400:
            raise SourceError(f"Azure Cost Management {dataset}: HTTP {response.status_code}: {response.text()[:300]}")
        # parse_float=Decimal: the amounts are read exactly as written, never rounded through a float
        document: dict[str, Any] = json.loads(response.text(), parse_float=Decimal)
        return document
    hint = "the Query API allows few queries a minute per scope; run again later, or use an export"
    raise SourceError(f"Azure Cost Management {dataset}: still throttled after {RETRIES} tries", hint=hint)


def _row(settings: dict[str, Any], start: date, key: tuple[str, str, str, str],
         row: dict[str, Any]) -> dict[str, str | None]:  # fmt: skip
    day, service, group, tag = key
    end_day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    next_month = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    scope = settings["scope"]
    subscription = scope.split("/")[2] if scope.lower().startswith("/subscriptions/") else None
    tag_key = settings.get("tag_key")
    return {
        "ProviderName": "Microsoft", "PublisherName": "Microsoft", "InvoiceIssuerName": "Microsoft",
        "BillingAccountId": scope, "SubAccountId": subscription,
        "BillingPeriodStart": start.isoformat(), "BillingPeriodEnd": next_month.isoformat(),
        "ChargePeriodStart": day, "ChargePeriodEnd": end_day, "ChargeCategory": "Usage",
        "ServiceName": service or None,
        "BilledCost": str(row["BilledCost"]), "EffectiveCost": str(row["EffectiveCost"]),
        "BillingCurrency": row["currency"], "Tags": json.dumps({tag_key: tag}) if tag_key and tag else None,
        "x_ResourceGroup": group or None,
        "x_Granularity": "azure cost query: daily by service and resource group, no resource ids",
    }  # fmt: skip
