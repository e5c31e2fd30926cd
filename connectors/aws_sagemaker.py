"""SageMaker endpoint traffic from CloudWatch (namespace AWS/SageMaker) into `usage_metrics`, hourly per
endpoint and variant: invocations, 4xx/5xx errors, and model latency (p95 and mean; CloudWatch keeps no
histogram). With the endpoint's instances from the bill, this gives cost per inference.

Endpoints are found from the metrics themselves (`ListMetrics`), so no SageMaker permission is needed:
cloudwatch:ListMetrics and cloudwatch:GetMetricData are. A sync unit is one UTC day; the last `days` days are
looked at each run, because CloudWatch fills in late data points.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.config import Option
from finops.connectors.aws_common import aws_call, identity_check, session
from finops.errors import SourceError
from finops.schema import USAGE_METRICS

if TYPE_CHECKING:
    import polars as pl

    from finops.doctor import Check

NAMESPACE = "AWS/SageMaker"
# metric -> (CloudWatch statistic, our field); ModelLatency is in microseconds.
METRICS = {
    "Invocations": ("Sum", "requests"),
    "Invocation4XXErrors": ("Sum", "errors_4xx"),
    "Invocation5XXErrors": ("Sum", "errors_5xx"),
    "ModelLatency": ("p95", "latency_p95_us"),
    "ModelLatency ": ("Average", "latency_mean_us"),  # the same metric, a second statistic
}


@dataclass(frozen=True)
class EndpointDay:
    period: str  # YYYY-MM-DD
    origin: str
    fingerprint: str
    rows: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class AwsSageMaker:
    name: str = "aws-sagemaker"
    table = USAGE_METRICS
    options = (
        Option("region", str, "the region the endpoints run in (default: boto3's)"),
        Option("profile", str, "an AWS profile name from your AWS config (default: boto3's chain)"),
        Option("days", int, "days looked at each run, today included", default=3),
        Option(
            "latency_p95",
            bool,
            "ask CloudWatch for p95 latency (false where an endpoint serves no percentiles, "
            "e.g. a CloudWatch emulator)",
            default=True,
        ),
    )

    def plan(self, settings: dict[str, Any], today: date, periods: list[str] | None = None) -> list[EndpointDay]:
        cloudwatch = _client(settings)
        endpoints = _endpoints(cloudwatch)
        days = [date.fromisoformat(p) for p in periods] if periods else [
            today - timedelta(days=n) for n in range(int(settings["days"]) - 1, -1, -1)]  # fmt: skip
        plans = []
        for day in days:
            rows = _day_rows(cloudwatch, endpoints, day, bool(settings["latency_p95"])) if endpoints else []
            digest = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()
            plans.append(EndpointDay(day.isoformat(), f"cloudwatch:{NAMESPACE}:{day}", digest, tuple(rows)))
        return plans

    def checks(self, source: str, settings: dict[str, Any], today: date) -> list[Check]:
        """Read-only: the identity, and which endpoints report to CloudWatch."""
        from finops.doctor import Check

        identity, account = identity_check(source, settings)
        if account is None:
            return [identity]
        try:
            endpoints = _endpoints(_client(settings))
        except SourceError as e:
            return [identity, Check(source, "metrics", False, e.message, e.hint)]
        names = ", ".join(sorted({endpoint for endpoint, _ in endpoints})) or "none"
        return [identity, Check(source, "metrics", bool(endpoints), f"endpoints reporting Invocations: {names}",
                                "no SageMaker endpoint has reported Invocations in this region")]  # fmt: skip

    def fetch(
        self, settings: dict[str, Any], unit: EndpointDay, source: str, workdir: Path, progress: Any = None
    ) -> Iterator[pl.DataFrame]:
        import polars as pl

        from finops.coerce import coerce

        if not unit.rows:
            return iter(())
        frame = pl.DataFrame(list(unit.rows))
        frame = coerce(frame, USAGE_METRICS, file=unit.origin).with_columns(x_Source=pl.lit(source))
        return iter([frame])


CONNECTOR = AwsSageMaker()


def _endpoints(cloudwatch: Any) -> list[tuple[str, str]]:
    """(endpoint, variant) pairs that have reported Invocations."""
    found = set()
    for page in _call(lambda: list(cloudwatch.get_paginator("list_metrics").paginate(
            Namespace=NAMESPACE, MetricName="Invocations"))):  # fmt: skip
        for metric in page.get("Metrics", []):
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            if "EndpointName" in dims:
                found.add((dims["EndpointName"], dims.get("VariantName", "")))
    return sorted(found)


def _day_rows(cloudwatch: Any, endpoints: list[tuple[str, str]], day: date, p95: bool) -> list[dict[str, Any]]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    metrics = {name: spec for name, spec in METRICS.items() if p95 or spec[0] != "p95"}
    queries, index = [], {}
    for e, (endpoint, variant) in enumerate(endpoints):
        dims = [{"Name": "EndpointName", "Value": endpoint}] + (
            [{"Name": "VariantName", "Value": variant}] if variant else [])  # fmt: skip
        for m, (metric, (stat, field)) in enumerate(metrics.items()):
            query_id = f"q{e}_{m}"
            index[query_id] = (endpoint, variant, field)
            queries.append({"Id": query_id, "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": metric.strip(), "Dimensions": dims},
                "Period": 3600, "Stat": stat}})  # fmt: skip
    values: dict[tuple[str, str, datetime], dict[str, float]] = {}
    for batch in range(0, len(queries), 500):  # GetMetricData takes at most 500 queries
        pages = _call(lambda b=batch: list(cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries[b: b + 500], StartTime=start, EndTime=start + timedelta(days=1))))  # fmt: skip
        for page in pages:
            for result in page.get("MetricDataResults", []):
                endpoint, variant, field = index[result["Id"]]
                for ts, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    values.setdefault((endpoint, variant, ts.astimezone(UTC)), {})[field] = value
    rows = []
    for (endpoint, variant, ts), fields in sorted(values.items()):
        requests = int(fields.get("requests", 0))
        mean_s = fields["latency_mean_us"] / 1e6 if "latency_mean_us" in fields else None
        rows.append({
            "ts": ts, "interval_s": 3600.0, "endpoint": endpoint, "model": variant or None, "provider": "AWS",
            "requests": requests,
            "requests_failed": int(fields.get("errors_4xx", 0) + fields.get("errors_5xx", 0)),
            "latency_p95_s": fields["latency_p95_us"] / 1e6 if "latency_p95_us" in fields else None,
            "latency_mean_s": mean_s,
            "latency_sum_s": mean_s * requests if mean_s is not None else None,
            "labels": json.dumps({"variant": variant}) if variant else None,
            "x_Day": day,
        })  # fmt: skip
    return rows


def _client(settings: dict[str, Any]) -> Any:
    return session(settings).client("cloudwatch")


def _call(call: Any) -> Any:
    return aws_call("CloudWatch", call, "cloudwatch:ListMetrics and cloudwatch:GetMetricData")
