"""What the shutdown rails need to know about a GPU instance, from its cloud's own API, and the three calls it
may make: read, tag, stop. Every provider's client has the same shape (`ComputeClient`).

Instances are named as the bill and the telemetry name them: an EC2 ARN (or a bare `i-...` with a region), a GCE
`//compute.googleapis.com/projects/P/zones/Z/instances/N` path, an Azure `/subscriptions/S/resourceGroups/G/
providers/Microsoft.Compute/virtualMachines/N` id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

AWS_ARN = re.compile(r"^arn:aws[\w-]*:ec2:(?P<region>[\w-]+):(?P<account>\d*):instance/(?P<id>i-[0-9a-f]+)$")
GCP_PATH = re.compile(r"^(?://compute\.googleapis\.com/)?projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)/"
                      r"instances/(?P<name>[^/]+)$")  # fmt: skip
AZURE_ID = re.compile(r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/"
                      r"Microsoft\.Compute/virtualMachines/(?P<name>[^/]+)$", re.IGNORECASE)  # fmt: skip


@dataclass(frozen=True)
class InstanceFacts:
    instance: str  # as the bill and telemetry name it
    provider: str  # AWS, Google Cloud, Microsoft Azure
    state: str  # running, stopped, deallocated, terminated, missing, ...
    tags: dict[str, str] = field(default_factory=dict)
    managed_by: str | None = None  # the auto-scaling group / managed instance group / scale set that owns it
    local_disks: bool = False  # instance-store or local SSD whose data a stop loses
    spot: bool = False
    still_billed_when_stopped: bool = False  # Azure "stopped" (not deallocated): compute keeps billing


class ComputeClient(Protocol):
    provider: str

    def describe(self, instances: list[str]) -> dict[str, InstanceFacts]: ...

    def tag(self, instance: str, tags: dict[str, str]) -> None: ...

    def untag(self, instance: str, keys: list[str]) -> None: ...

    def stop(self, instance: str, *, discard_local_disks: bool) -> None: ...


def provider_of(instance: str) -> str | None:
    if AWS_ARN.match(instance) or instance.startswith("i-"):
        return "AWS"
    if GCP_PATH.match(instance):
        return "Google Cloud"
    if AZURE_ID.match(instance):
        return "Microsoft Azure"
    return None


def label_key(tag: str, provider: str) -> str:
    """GCP labels allow lowercase letters, digits, `_` and `-` only: `finops:keep-alive` is `finops-keep-alive`."""
    return re.sub(r"[^a-z0-9_-]", "-", tag.lower()) if provider == "Google Cloud" else tag
