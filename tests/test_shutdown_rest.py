"""The GCE and Azure compute clients against local servers that speak the Compute Engine v1 and Azure Resource
Manager REST protocols, through the real SDKs (google-cloud-compute over REST; azure-mgmt-compute over TLS with a
bearer token). What the rails read (labels and tags, state, managed groups, local disks, spot) and what they send
(label and tag updates, `stop` with `discardLocalSsd`, `deallocate` and never `powerOff`)."""

from __future__ import annotations

import http.server
import json
import time
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
from http_server import send_json, serve, serve_tls

from finops.connectors.compute_azure import AzureCompute
from finops.connectors.compute_common import provider_of
from finops.connectors.compute_gcp import GcpCompute

GCE = "//compute.googleapis.com/projects/lumen-research-4721/zones/us-central1-a/instances/{}"
SUBSCRIPTION = "/subscriptions/3b9d2f61-4c8e-4a7b-9f1e-2d6c8a0b5e47/resourceGroups/ml/providers/Microsoft.Compute/"
AZ = SUBSCRIPTION + "virtualMachines/{}"


class Recorder(http.server.BaseHTTPRequestHandler):
    """A REST peer: answers from `resources` (path -> JSON), records (method, path, query, body)."""

    resources: ClassVar[dict[str, dict[str, Any]]] = {}
    calls: ClassVar[list[tuple[str, str, dict[str, list[str]], Any]]] = []
    token: ClassVar[str | None] = None

    def _answer(self, method: str) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        Recorder.calls.append((method, url.path, parse_qs(url.query), body))
        if Recorder.token and self.headers.get("Authorization") != f"Bearer {Recorder.token}":
            return self._send(401, {"error": {"code": "InvalidAuthenticationToken", "message": "no token"}})
        path = url.path.removeprefix("/compute/v1")
        for suffix in ("/setLabels", "/stop", "/deallocate", "/powerOff"):
            if path.endswith(suffix):
                target = Recorder.resources.get(path.removesuffix(suffix))
                if target is None:
                    return self._send(404, {"error": {"code": 404, "message": "not found"}})
                if suffix == "/setLabels":
                    target["labels"] = body["labels"]
                else:
                    target["status"] = "TERMINATED"
                    target.setdefault("properties", {})["instanceView"] = {"statuses": [
                        {"code": "PowerState/deallocated"}]}  # fmt: skip
                return self._send(200, {"kind": "compute#operation", "name": "op-1", "status": "DONE"})
        resource = Recorder.resources.get(path)
        if resource is None:
            return self._send(404, {"error": {"code": 404, "message": f"{path} not found", "status": "NOT_FOUND"}})
        if method == "PATCH":
            resource["tags"] = body["tags"]
        return self._send(200, resource)

    def _send(self, status: int, document: dict[str, Any]) -> None:
        send_json(self, status, document)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PATCH(self) -> None:
        self._answer("PATCH")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def peer() -> Iterator[type[Recorder]]:
    Recorder.resources, Recorder.calls, Recorder.token = {}, [], None
    yield Recorder


def _gce(name: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "compute#instance", "name": name, "status": "RUNNING", "labels": {"team": "research"},
            "labelFingerprint": "42WmSpB8rSM=", "disks": [{"type": "PERSISTENT", "boot": True}],
            "scheduling": {"provisioningModel": "STANDARD"}, **extra}  # fmt: skip


def test_compute_engine(peer: type[Recorder]) -> None:
    from google.auth.credentials import AnonymousCredentials

    base = "/projects/lumen-research-4721/zones/us-central1-a/instances/"
    peer.resources[base + "a3-idle"] = _gce("a3-idle")
    peer.resources[base + "a3-scratch"] = _gce("a3-scratch", disks=[{"type": "PERSISTENT"}, {"type": "SCRATCH"}])
    peer.resources[base + "mig-member"] = _gce("mig-member", metadata={"items": [
        {"key": "created-by", "value": "projects/1/zones/us-central1-a/instanceGroupManagers/trainers"}]})  # fmt: skip
    peer.resources[base + "spot"] = _gce("spot", scheduling={"provisioningModel": "SPOT"})
    with serve(Recorder) as url:
        gce = GcpCompute(endpoint=url, credentials=AnonymousCredentials())
        names = ["a3-idle", "a3-scratch", "mig-member", "spot", "gone"]
        facts = gce.describe([GCE.format(n) for n in names])
        by_name = {k.rsplit("/", 1)[-1]: v for k, v in facts.items()}
        assert by_name["a3-idle"].state == "running" and by_name["a3-idle"].tags == {"team": "research"}
        assert by_name["a3-scratch"].local_disks and not by_name["a3-idle"].local_disks
        assert by_name["mig-member"].managed_by == "trainers"
        assert by_name["spot"].spot
        assert by_name["gone"].state == "missing"

        gce.tag(GCE.format("a3-idle"), {"finops-stop-after": "20261122t130000z"})
        gce.stop(GCE.format("a3-scratch"), discard_local_disks=True)
        gce.untag(GCE.format("a3-idle"), ["finops-stop-after"])
    set_labels = [c for c in peer.calls if c[1].endswith("/setLabels")]
    # the label fingerprint read with the labels goes back with the change: it guards against concurrent edits
    assert set_labels[0][3] == {"labels": {"team": "research", "finops-stop-after": "20261122t130000z"},
                                "labelFingerprint": "42WmSpB8rSM="}  # fmt: skip
    assert set_labels[1][3]["labels"] == {"team": "research"}
    (stop,) = [c for c in peer.calls if c[1].endswith("/stop")]
    assert stop[0] == "POST" and stop[2]["discardLocalSsd"] == ["true"]
    assert provider_of(GCE.format("x")) == "Google Cloud"


class StaticToken:
    """A credential as azure-core expects one; the peer checks the bearer token it sends."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        assert scopes == ("https://management.azure.com/.default",) or scopes
        return AccessToken("test-token", int(time.time()) + 3600)


def _vm(name: str, power: str = "running", **properties: Any) -> dict[str, Any]:
    return {"id": AZ.format(name), "name": name, "location": "eastus", "tags": {"team": "research"},
            "properties": {"instanceView": {"statuses": [{"code": "ProvisioningState/succeeded"},
                                                         {"code": f"PowerState/{power}"}]},
                           "priority": "Regular", **properties}}  # fmt: skip


def test_azure_virtual_machines(peer: type[Recorder], tmp_path: Any) -> None:
    peer.token = "test-token"
    base = SUBSCRIPTION
    peer.resources[base + "virtualMachines/nd-idle"] = _vm("nd-idle")
    peer.resources[base + "virtualMachines/nd-stopped"] = _vm("nd-stopped", power="stopped")
    peer.resources[base + "virtualMachines/in-vmss"] = _vm("in-vmss", virtualMachineScaleSet={
        "id": base + "virtualMachineScaleSets/trainers"})  # fmt: skip
    peer.resources[base + "virtualMachines/ephemeral"] = _vm("ephemeral", storageProfile={
        "osDisk": {"createOption": "FromImage", "diffDiskSettings": {"option": "Local"}}})  # fmt: skip
    ca = str(tmp_path / "ca.pem")
    with serve_tls(Recorder, ca) as url:
        azure = AzureCompute(endpoint=url, credential=StaticToken(), connection_verify=ca)
        facts = azure.describe([AZ.format(n) for n in ("nd-idle", "nd-stopped", "in-vmss", "ephemeral", "gone")])
        by_name = {k.rsplit("/", 1)[-1]: v for k, v in facts.items()}
        assert by_name["nd-idle"].state == "running" and not by_name["nd-idle"].still_billed_when_stopped
        assert by_name["nd-stopped"].still_billed_when_stopped  # stopped, not deallocated: still billed
        assert by_name["in-vmss"].managed_by == "trainers"
        assert by_name["ephemeral"].local_disks
        assert by_name["gone"].state == "missing"

        azure.tag(AZ.format("nd-idle"), {"finops:stop-after": "2026-11-22T13:00:00Z"})
        azure.stop(AZ.format("nd-idle"), discard_local_disks=False)
    (patch,) = [c for c in peer.calls if c[0] == "PATCH"]
    assert patch[3] == {"tags": {"team": "research", "finops:stop-after": "2026-11-22T13:00:00Z"}}  # merged
    posts = [c[1].rsplit("/", 1)[-1] for c in peer.calls if c[0] == "POST"]
    assert posts == ["deallocate"]  # never powerOff, which keeps billing
    assert all("api-version" in c[2] for c in peer.calls)
