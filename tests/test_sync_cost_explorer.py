"""Cost Explorer through a moto server: answers queued on moto's API, paginated, broken down by a tag key."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from aws_server import moto_server, point_boto3_at

EC2, S3 = "Amazon Elastic Compute Cloud - Compute", "Amazon Simple Storage Service"


def money(amount: str) -> dict[str, str]:
    return {"Amount": amount, "Unit": "USD"}


def group(keys: list[str], unblended: str, amortized: str) -> dict[str, object]:
    return {"Keys": keys, "Metrics": {"UnblendedCost": money(unblended), "AmortizedCost": money(amortized)}}


def day(start: str, end: str, groups: list[dict[str, object]]) -> dict[str, object]:
    return {"TimePeriod": {"Start": start, "End": end}, "Total": {}, "Groups": groups, "Estimated": False}


# In the order finops asks: account x service (two pages), then service x tag for each account.
ANSWERS = [
    {
        "ResultsByTime": [day("2026-05-01", "2026-05-02", [group(["111111111111", EC2], "100.50", "90.25")])],
        "DimensionValueAttributes": [{"Value": "111111111111", "Attributes": {"description": "ml-prod"}}],
        "NextPageToken": "page-2",
    },
    {
        "ResultsByTime": [day("2026-05-02", "2026-05-03", [group(["222222222222", S3], "7.125", "7.125")])],
        "DimensionValueAttributes": [{"Value": "222222222222", "Attributes": {"description": "data"}}],
    },
    {
        "ResultsByTime": [
            day(
                "2026-05-01",
                "2026-05-02",
                [group([EC2, "team$ml"], "60.50", "50.25"), group([EC2, "team$"], "40", "40")],
            )
        ]
    },
    {"ResultsByTime": [day("2026-05-02", "2026-05-03", [group([S3, "team$data"], "7.125", "7.125")])]},
]


@pytest.fixture
def ce_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh server per test: moto remembers the answer for each distinct request body."""
    with moto_server() as url:
        point_boto3_at(monkeypatch, url)
        body = json.dumps({"results": ANSWERS}).encode()
        request = urllib.request.Request(f"{url}/moto-api/static/ce/cost-and-usage-results", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        assert urllib.request.urlopen(request).status == 201
        yield url


def test_cost_explorer_sync_is_coarse_tagged_and_idempotent(ce_server: str, cli, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(
        f'[store]\ndb = "{tmp_path / "s.duckdb"}"\n\n[sources.ce]\ntype = "aws-cost-explorer"\ntag_key = "team"\n'
    )
    first = cli("--config", config, "sync", "--period", "2026-05")
    assert first.code == 0, first.err
    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        rows = con.execute(
            """SELECT "SubAccountId", "SubAccountName", "ServiceName", "Tags"['team'], "BilledCost", "EffectiveCost",
                      "ResourceId", json_extract_string("x_Extras", '$.x_Granularity') IS NOT NULL, "BillingAccountId"
               FROM costs ORDER BY "BilledCost" DESC"""
        ).fetchall()
    assert rows == [
        ("111111111111", "ml-prod", EC2, "ml", Decimal("60.5"), Decimal("50.25"), None, True, "123456789012"),
        ("111111111111", "ml-prod", EC2, None, Decimal("40"), Decimal("40"), None, True, "123456789012"),
        ("222222222222", "data", S3, "data", Decimal("7.125"), Decimal("7.125"), None, True, "123456789012"),
    ]
    again = cli("--config", config, "sync", "--period", "2026-05")
    assert again.code == 0 and "nothing new" in again.err
