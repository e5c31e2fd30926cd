"""The Cost Management Query API connector through azure-mgmt-costmanagement against a local Resource Manager peer
over TLS (bearer token checked): ActualCost and AmortizedCost merged, `nextLink` followed, a 429 waited out for as
long as its header says, amounts kept exact."""

from __future__ import annotations

import http.server
import json
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import polars as pl
from http_server import send_json, serve_tls

from finops.connectors.azure_cost_query import AzureCostQuery

SCOPE = "/subscriptions/3b9d2f61-4c8e-4a7b-9f1e-2d6c8a0b5e47"
COLUMNS = [{"name": n, "type": t} for n, t in (("Cost", "Number"), ("UsageDate", "Number"), ("ServiceName", "String"),
                                               ("ResourceGroupName", "String"), ("TagKey", "String"),
                                               ("TagValue", "String"), ("Currency", "String"))]  # fmt: skip
ACTUAL = [[12.3456789012345678, 20261103, "Virtual Machines", "ml", "team", "research", "USD"],
          [0.000001234, 20261103, "Storage", "data", "", "", "USD"],
          [2359.68, 20261104, "Virtual Machines", "ml", "team", "research", "USD"]]  # fmt: skip
AMORTIZED = [[14.2, 20261103, "Virtual Machines", "ml", "team", "research", "USD"],
             [2359.68, 20261104, "Virtual Machines", "ml", "team", "research", "USD"]]  # fmt: skip


class CostManagement(http.server.BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[str, dict[str, Any], int]]] = []
    throttled: ClassVar[bool] = False

    def do_POST(self) -> None:
        url = urlparse(self.path)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.headers.get("Authorization") != "Bearer query-token":
            return self._send(401, {"error": {"code": "AuthenticationFailed"}})
        assert url.path == f"{SCOPE}/providers/Microsoft.CostManagement/query"
        assert parse_qs(url.query)["api-version"] == ["2023-11-01"]
        if body["type"] == "ActualCost" and not CostManagement.throttled:
            CostManagement.throttled = True
            CostManagement.calls.append((body["type"], body, 429))
            return self._send(429, {"error": {"code": "429"}},
                              {"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "1"})  # fmt: skip
        CostManagement.calls.append((body["type"], body, 200))
        skip = parse_qs(url.query).get("$skiptoken", ["0"])[0]
        rows = ACTUAL if body["type"] == "ActualCost" else AMORTIZED
        page, next_link = (rows[:2], f"https://{self.headers['Host']}{url.path}?api-version=2023-11-01&$skiptoken=2")
        if skip == "2" or body["type"] == "AmortizedCost":
            page, next_link = rows[int(skip) :], None
        # Written by hand so the amounts go out with every digit, as Azure writes them
        text = json.dumps({"properties": {"columns": COLUMNS, "rows": page, "nextLink": next_link}})
        for value in (12.3456789012345678,):
            text = text.replace(repr(value), "12.3456789012345678")
        return self._send(200, text)

    def _send(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        send_json(self, status, document, headers)

    def log_message(self, *args: object) -> None:
        pass


class Token:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("query-token", int(time.time()) + 3600)


def test_query_api(tmp_path: Path) -> None:
    ca = str(tmp_path / "ca.pem")
    CostManagement.calls, CostManagement.throttled = [], False
    with serve_tls(CostManagement, ca) as url:
        connector = AzureCostQuery(credential=Token(), client_options={"connection_verify": ca})
        settings = {"scope": SCOPE, "tag_key": "team", "endpoint": url, "months": 2}
        started = time.monotonic()
        (plan,) = connector.plan(settings, date(2026, 11, 22), ["2026-11"])
        waited = time.monotonic() - started
        frame = pl.concat(list(connector.fetch(settings, plan, "azure-query", tmp_path)))
    statuses = [(kind, status) for kind, _, status in CostManagement.calls]
    assert statuses == [("ActualCost", 429), ("ActualCost", 200), ("ActualCost", 200), ("AmortizedCost", 200)]
    assert waited >= 1.0  # the 429's own header said one second
    grouping = CostManagement.calls[1][1]["dataset"]["grouping"]
    assert {"type": "TagKey", "name": "team"} in grouping
    assert frame.height == 3  # (Nov 3 VMs), (Nov 3 storage), (Nov 4 VMs): actual and amortized matched
    billed = sum(frame.get_column("BilledCost").to_list(), Decimal(0))
    effective = sum(frame.get_column("EffectiveCost").to_list(), Decimal(0))
    assert billed == Decimal("12.3456789012345678").quantize(Decimal("1e-15")) + Decimal("0.000001234") + Decimal(
        "2359.68")  # exact decimals, never through a float  # fmt: skip
    assert effective == Decimal("14.2") + Decimal("2359.68")
    vms = frame.filter(pl.col("ChargePeriodStart").dt.day() == 3, pl.col("ServiceName") == "Virtual Machines")
    assert vms.get_column("Tags").to_list() == ['{"team":"research"}']  # the tag breakdown became a tag
