"""Azure VMs for the shutdown rails (azure-mgmt-compute, `DefaultAzureCredential`): get, tag, deallocate.

Deallocate, never power off: a VM that is only "stopped" keeps its hardware and keeps billing for it. Such VMs
are reported as a finding of their own (`still_billed_when_stopped`). A VM in a scale set would be brought back by
the set; a VM with an ephemeral OS disk loses it on deallocation: both are skipped and said so.
"""

from __future__ import annotations

import logging
from typing import Any

from finops.connectors.compute_common import AZURE_ID, InstanceFacts
from finops.errors import SourceError, UsageError

PROVIDER = "Microsoft Azure"


class AzureCompute:
    provider = PROVIDER

    def __init__(self, endpoint: str | None = None, credential: Any = None, **client_options: Any) -> None:
        try:
            from azure.mgmt.compute import ComputeManagementClient
        except ImportError as e:
            raise SourceError(
                "stopping Azure VMs needs azure-mgmt-compute", hint="pip install 'gpu-finops[azure]'"
            ) from e
        # azure-identity logs every credential it tried as a warning; finops reports the failure itself, once.
        logging.getLogger("azure").setLevel(logging.ERROR)
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        if endpoint:  # a sovereign cloud's or a test peer's Resource Manager
            client_options["base_url"] = endpoint

        def make(subscription: str) -> Any:
            return ComputeManagementClient(credential, subscription, **client_options)

        self._make = make
        self._clients: dict[str, Any] = {}

    def _where(self, instance: str) -> tuple[Any, str, str]:
        match = AZURE_ID.match(instance)
        if not match:
            raise UsageError(f"{instance}: not an Azure VM id", hint="/subscriptions/S/resourceGroups/G/providers/"
                             "Microsoft.Compute/virtualMachines/N")  # fmt: skip
        subscription = match["subscription"]
        if subscription not in self._clients:
            self._clients[subscription] = self._make(subscription)
        return self._clients[subscription], match["group"], match["name"]

    def _call(self, what: str, call: Any) -> Any:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

        try:
            return call()
        except ResourceNotFoundError:
            raise
        except ClientAuthenticationError as e:
            hint = "DefaultAzureCredential: az login, a managed identity, or AZURE_* settings"
            raise SourceError(f"Azure Compute {what}: the credential was refused", hint=hint) from e
        except HttpResponseError as e:
            if e.status_code == 403:
                raise SourceError(f"Azure Compute {what}: permission denied",
                                  hint="the identity needs Microsoft.Compute/virtualMachines read, write and "
                                  "deallocate/action") from e  # fmt: skip
            raise SourceError(f"Azure Compute {what}: HTTP {e.status_code}: {e.reason}") from e

    def describe(self, instances: list[str]) -> dict[str, InstanceFacts]:
        from azure.core.exceptions import ResourceNotFoundError

        facts = {}
        for instance in instances:
            client, group, name = self._where(instance)
            try:
                vm = self._call(f"get {name}", lambda c=client, g=group, n=name: c.virtual_machines.get(
                    g, n, expand="instanceView"))  # fmt: skip
            except ResourceNotFoundError:
                facts[instance] = InstanceFacts(instance, PROVIDER, "missing")
                continue
            statuses = [s.code for s in (vm.instance_view.statuses if vm.instance_view else []) or []]
            power = next((c.split("/", 1)[1] for c in statuses if c and c.startswith("PowerState/")), "unknown")
            os_disk = vm.storage_profile.os_disk if vm.storage_profile else None
            facts[instance] = InstanceFacts(
                instance, PROVIDER, power, dict(vm.tags or {}),
                managed_by=vm.virtual_machine_scale_set.id.rsplit("/", 1)[-1] if vm.virtual_machine_scale_set else None,
                local_disks=bool(os_disk and os_disk.diff_disk_settings),
                spot=(vm.priority or "").lower() == "spot",
                still_billed_when_stopped=power == "stopped",
            )  # fmt: skip
        return facts

    def _set_tags(self, instance: str, change: Any) -> None:
        client, group, name = self._where(instance)
        vm = self._call(f"get {name}", lambda: client.virtual_machines.get(group, name))
        tags = change(dict(vm.tags or {}))
        # A PATCH replaces the whole tag set: the current tags are read and merged first.
        self._call(f"update {name}", lambda: client.virtual_machines.begin_update(group, name, {"tags": tags}).result())

    def tag(self, instance: str, tags: dict[str, str]) -> None:
        self._set_tags(instance, lambda current: {**current, **tags})

    def untag(self, instance: str, keys: list[str]) -> None:
        self._set_tags(instance, lambda current: {k: v for k, v in current.items() if k not in keys})

    def stop(self, instance: str, *, discard_local_disks: bool) -> None:
        client, group, name = self._where(instance)
        self._call(f"deallocate {name}", lambda: client.virtual_machines.begin_deallocate(group, name).result())
