"""Compute Engine for the shutdown rails (google-cloud-compute, Application Default Credentials): get, label,
stop. `instances.stop` keeps local SSD data only where asked to discard it explicitly (`discard_local_ssd`), so a
VM with local SSD is skipped unless the policy allows losing it. A VM created by a managed instance group (its
`created-by` metadata) would be recreated by the group: the rails skip it and say so."""

from __future__ import annotations

from typing import Any

from finops.connectors.compute_common import GCP_PATH, InstanceFacts
from finops.errors import SourceError, UsageError

PROVIDER = "Google Cloud"
STATES = {"RUNNING": "running", "TERMINATED": "stopped", "STOPPED": "stopped", "SUSPENDED": "stopped"}


class GcpCompute:
    provider = PROVIDER

    def __init__(self, endpoint: str | None = None, credentials: Any = None) -> None:
        try:
            from google.cloud import compute_v1
        except ImportError as e:
            raise SourceError(
                "stopping GCE VMs needs google-cloud-compute", hint="pip install 'gpu-finops[gcp]'"
            ) from e
        options = {"api_endpoint": endpoint} if endpoint else None
        # credentials None: the SDK's own chain (Application Default Credentials); tests pass anonymous ones.
        self._client = compute_v1.InstancesClient(credentials=credentials, client_options=options)
        self._types = compute_v1

    def _where(self, instance: str) -> tuple[str, str, str]:
        match = GCP_PATH.match(instance)
        if not match:
            raise UsageError(f"{instance}: not a Compute Engine instance path", hint="projects/P/zones/Z/instances/N")
        return match["project"], match["zone"], match["name"]

    def _call(self, what: str, call: Any) -> Any:
        from google.api_core import exceptions

        try:
            return call()
        except exceptions.NotFound:
            raise
        except exceptions.Forbidden as e:
            raise SourceError(f"Compute Engine {what}: permission denied",
                              hint="the credentials need compute.instances.get/setLabels/stop") from e  # fmt: skip
        except exceptions.GoogleAPICallError as e:
            raise SourceError(f"Compute Engine {what}: {e.message}") from e

    def describe(self, instances: list[str]) -> dict[str, InstanceFacts]:
        from google.api_core import exceptions

        facts = {}
        for instance in instances:
            project, zone, name = self._where(instance)
            try:
                vm = self._call(f"get {name}", lambda p=project, z=zone, n=name: self._client.get(
                    project=p, zone=z, instance=n))  # fmt: skip
            except exceptions.NotFound:
                facts[instance] = InstanceFacts(instance, PROVIDER, "missing")
                continue
            metadata = {item.key: item.value for item in vm.metadata.items} if vm.metadata else {}
            created_by = metadata.get("created-by", "")
            facts[instance] = InstanceFacts(
                instance, PROVIDER, STATES.get(vm.status, vm.status.lower()), dict(vm.labels),
                managed_by=created_by.rsplit("/", 1)[-1] if "instanceGroupManagers" in created_by else None,
                local_disks=any(disk.type_ == "SCRATCH" for disk in vm.disks),
                spot=vm.scheduling.provisioning_model == "SPOT" or bool(vm.scheduling.preemptible),
            )  # fmt: skip
        return facts

    def _set_labels(self, instance: str, change: Any) -> None:
        project, zone, name = self._where(instance)
        vm = self._call(f"get {name}", lambda: self._client.get(project=project, zone=zone, instance=name))
        labels = change(dict(vm.labels))
        body = self._types.InstancesSetLabelsRequest(labels=labels, label_fingerprint=vm.label_fingerprint)
        self._call(f"setLabels {name}", lambda: _wait(self._client.set_labels(
            project=project, zone=zone, instance=name, instances_set_labels_request_resource=body)))  # fmt: skip

    def tag(self, instance: str, tags: dict[str, str]) -> None:
        self._set_labels(instance, lambda labels: {**labels, **tags})

    def untag(self, instance: str, keys: list[str]) -> None:
        self._set_labels(instance, lambda labels: {k: v for k, v in labels.items() if k not in keys})

    def stop(self, instance: str, *, discard_local_disks: bool) -> None:
        project, zone, name = self._where(instance)
        request = self._types.StopInstanceRequest(project=project, zone=zone, instance=name,
                                                  discard_local_ssd=discard_local_disks)  # fmt: skip
        self._call(f"stop {name}", lambda: _wait(self._client.stop(request=request)))


def _wait(operation: Any) -> Any:
    """Block until a zonal operation is done (it raises if the operation failed)."""
    return operation.result()
