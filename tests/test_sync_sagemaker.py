"""SageMaker endpoint metrics from CloudWatch (a moto server) into usage_metrics, hourly per endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import duckdb
import pytest
from aws_server import moto_server, point_boto3_at

DAY = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    with moto_server() as url:
        point_boto3_at(monkeypatch, url)
        yield boto3.client("cloudwatch")


def put(cloudwatch: object, endpoint: str, metric: str, hour: int, values: list[float]) -> None:
    cloudwatch.put_metric_data(  # type: ignore[attr-defined]
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Timestamp": DAY + timedelta(hours=hour, minutes=5 + i),
                "Value": value,
            }
            for i, value in enumerate(values)
        ],
    )


def test_invocations_errors_and_latency_per_endpoint_hour(cloudwatch: object, cli, tmp_path: Path) -> None:
    for hour, invocations in ((9, [600.0, 400.0]), (10, [250.0])):
        put(cloudwatch, "chat-llama-70b", "Invocations", hour, invocations)
    put(cloudwatch, "chat-llama-70b", "Invocation5XXErrors", 9, [3.0])
    put(cloudwatch, "chat-llama-70b", "ModelLatency", 9, [400_000.0, 600_000.0])  # microseconds
    put(cloudwatch, "embed-small", "Invocations", 9, [42.0])
    config = tmp_path / "finops.toml"
    # moto serves Sum and Average but not percentiles; p95 is checked against recorded responses below.
    config.write_text(
        f'[store]\ndb = "{tmp_path / "s.duckdb"}"\n\n[sources.sm]\ntype = "aws-sagemaker"\nlatency_p95 = false\n'
    )

    result = cli("--config", config, "sync", "sm", "--period", "2026-11-20")
    assert result.code == 0, result.err
    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        rows = con.execute(
            """SELECT endpoint, model, strftime(ts, '%H'), requests, requests_failed, latency_mean_s, x_Day
               FROM usage_metrics ORDER BY endpoint, ts"""
        ).fetchall()
    assert [r[:5] for r in rows] == [
        ("chat-llama-70b", "AllTraffic", "09", 1000, 3),
        ("chat-llama-70b", "AllTraffic", "10", 250, 0),
        ("embed-small", "AllTraffic", "09", 42, 0),
    ]
    assert rows[0][5] == pytest.approx(0.5) and str(rows[0][6]) == "2026-11-20"
    again = cli("--config", config, "sync", "sm", "--period", "2026-11-20")
    assert again.code == 0 and "nothing new" in again.err


def test_p95_latency_from_cloudwatch_statistics() -> None:
    """Percentiles, which moto does not serve, against a recorded GetMetricData answer (botocore's Stubber)."""
    from botocore.stub import Stubber

    from finops.connectors.aws_sagemaker import METRICS, _day_rows

    client = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    hour = DAY + timedelta(hours=9)
    values = {"requests": 1000.0, "errors_4xx": 2.0, "errors_5xx": 1.0, "latency_p95_us": 1_450_000.0,
              "latency_mean_us": 500_000.0}  # fmt: skip
    results = [
        {"Id": f"q0_{m}", "Label": metric, "Timestamps": [hour], "Values": [values[field]], "StatusCode": "Complete"}
        for m, (metric, (_, field)) in enumerate(METRICS.items())
    ]
    with Stubber(client) as stub:
        stub.add_response("get_metric_data", {"MetricDataResults": results}, None)
        rows = _day_rows(client, [("chat-llama-70b", "AllTraffic")], DAY.date(), True)
    assert len(rows) == 1
    row = rows[0]
    assert (row["requests"], row["requests_failed"]) == (1000, 3)
    assert row["latency_p95_s"] == pytest.approx(1.45) and row["latency_mean_s"] == pytest.approx(0.5)
    assert row["latency_sum_s"] == pytest.approx(500.0)


def test_doctor_lists_the_endpoints_reporting(cloudwatch: object, cli, tmp_path: Path) -> None:
    put(cloudwatch, "chat-llama-70b", "Invocations", 9, [5.0])
    config = tmp_path / "finops.toml"
    config.write_text(f'[store]\ndb = "{tmp_path / "s.duckdb"}"\n\n[sources.sm]\ntype = "aws-sagemaker"\n')
    result = cli("--config", config, "doctor", "sm")
    assert "ok   sm: metrics: endpoints reporting Invocations: chat-llama-70b" in result.out
    assert result.code == 3  # nothing loaded yet: the freshness check fails, and says so
