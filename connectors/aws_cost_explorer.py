"""AWS Cost Explorer, the light option for accounts without a Data Export: daily cost by account and service
(and by one tag key, when configured), mapped to FOCUS rows marked as coarse (no resource ids, no SKUs).

Cost Explorer allows two GROUP BY keys a query, so with a tag key finops first asks for account x service, then
per account for service x tag. AWS charges USD 0.01 a request; a two-month sync of three accounts with a tag
key is about 8 requests. UnblendedCost becomes BilledCost and AmortizedCost EffectiveCost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.config import Option
from finops.connectors.aws_common import aws_call, identity_check, session
from finops.periods import billing_periods_back, month_so_far
from finops.schema import COSTS

if TYPE_CHECKING:
    import polars as pl

    from finops.doctor import Check

METRICS = ("UnblendedCost", "AmortizedCost")


@dataclass(frozen=True)
class CostExplorerPeriod:
    period: str
    origin: str
    fingerprint: str
    rows: tuple[dict[str, str | None], ...]


@dataclass(frozen=True)
class AwsCostExplorer:
    name: str = "aws-cost-explorer"
    table = COSTS
    options = (
        Option("tag_key", str, "a cost allocation tag to break costs down by (e.g. team)"),
        Option("profile", str, "an AWS profile name from your AWS config (default: boto3's chain)"),
        Option("months", int, "billing periods to look at each run: the current one and those before it", default=2),
    )

    def plan(self, settings: dict[str, Any], today: date, periods: list[str] | None = None) -> list[CostExplorerPeriod]:
        """Cost Explorer has no manifest: each period's answer is fetched here and its hash is the fingerprint."""
        aws = session(settings)
        ce = aws.client("ce")
        payer = aws_call("STS", aws.client("sts").get_caller_identity, "sts:GetCallerIdentity")["Account"]
        plans = []
        for period in periods or billing_periods_back(today, int(settings["months"])):
            start, end = month_so_far(period, today)
            rows = _period_rows(ce, start, end, settings.get("tag_key"), payer)
            digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
            plans.append(CostExplorerPeriod(period, f"cost-explorer:{payer}:{period}", digest, tuple(rows)))
        return plans

    def checks(self, source: str, settings: dict[str, Any], today: date) -> list[Check]:
        """Read-only and free: the identity only (every Cost Explorer request costs USD 0.01)."""
        return [identity_check(source, settings)[0]]

    def fetch(
        self, settings: dict[str, Any], unit: CostExplorerPeriod, source: str, workdir: Path, progress: Any = None
    ) -> Iterator[pl.DataFrame]:
        import polars as pl

        from finops.coerce import ROW
        from finops.connectors.focus_files import normalise_focus_frame

        if not unit.rows:
            return iter(())
        raw = pl.DataFrame(list(unit.rows), infer_schema_length=None).with_row_index(ROW, offset=1)
        return iter([normalise_focus_frame(raw, Path(unit.origin), source, "cost-explorer")])


CONNECTOR = AwsCostExplorer()


def _period_rows(ce: Any, start: date, end: date, tag_key: str | None, payer: str) -> list[dict[str, str | None]]:
    by_service = [("LINKED_ACCOUNT", "DIMENSION"), ("SERVICE", "DIMENSION")]
    results, names = _query(ce, start, end, by_service, None)
    if not tag_key:
        return [_row(start, day, payer, keys[0], names.get(keys[0]), keys[1], None, None, amounts)
                for day, keys, amounts in results]  # fmt: skip
    rows = []
    for account in sorted({keys[0] for _, keys, _ in results}):
        tagged, _ = _query(ce, start, end, [("SERVICE", "DIMENSION"), (tag_key, "TAG")], account)
        for day, keys, amounts in tagged:
            value = keys[1].split("$", 1)[1] if "$" in keys[1] else keys[1]  # CE writes "team$ml"; "team$" = none
            rows.append(_row(start, day, payer, account, names.get(account), keys[0], tag_key, value or None, amounts))
    return rows


def _query(
    ce: Any, start: date, end: date, group_by: list[tuple[str, str]], account: str | None
) -> tuple[list[tuple[str, list[str], dict[str, dict[str, str]]]], dict[str, str]]:
    """Every page of one GetCostAndUsage query: (day, group keys, metrics) and account names."""
    request: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": list(METRICS),
        "GroupBy": [{"Type": kind, "Key": key} for key, kind in group_by],
    }
    if account:
        request["Filter"] = {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [account]}}
    out, names, token = [], {}, None
    while True:
        paged = {**request, **({"NextPageToken": token} if token else {})}
        page: dict[str, Any] = aws_call("Cost Explorer", partial(ce.get_cost_and_usage, **paged), "ce:GetCostAndUsage")
        for attribute in page.get("DimensionValueAttributes", []):
            names[attribute["Value"]] = attribute.get("Attributes", {}).get("description", "")
        for result in page.get("ResultsByTime", []):
            day = result["TimePeriod"]["Start"]
            for group in result.get("Groups", []):
                out.append((day, list(group["Keys"]), group["Metrics"]))
        token = page.get("NextPageToken")
        if not token:
            return out, names


def _row(
    start: date, day: str, payer: str, account: str, account_name: str | None, service: str,
    tag_key: str | None, tag_value: str | None, amounts: dict[str, dict[str, str]],
) -> dict[str, str | None]:  # fmt: skip
    end_day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    next_month = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return {
        "ProviderName": "AWS", "PublisherName": "AWS", "InvoiceIssuerName": "AWS",
        "BillingAccountId": payer, "SubAccountId": account, "SubAccountName": account_name or None,
        "BillingPeriodStart": start.isoformat(), "BillingPeriodEnd": next_month.isoformat(),
        "ChargePeriodStart": day, "ChargePeriodEnd": end_day,
        # Cost Explorer has no charge category; its "Tax" service is the one that is known.
        "ChargeCategory": "Tax" if service == "Tax" else "Usage",
        "ServiceName": service,
        "BilledCost": amounts["UnblendedCost"]["Amount"], "EffectiveCost": amounts["AmortizedCost"]["Amount"],
        "BillingCurrency": amounts["UnblendedCost"].get("Unit", "USD"),
        "Tags": json.dumps({tag_key: tag_value}) if tag_key and tag_value else None,
        "x_Granularity": "cost-explorer: daily by account and service, no resource ids",
    }  # fmt: skip
