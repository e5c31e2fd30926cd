"""What `finops shutdown` wires together: the clouds' clients (made on first use, through their SDKs' own
credential chains), notices through the alert sinks, and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from finops.config import Config
from finops.connectors.compute_common import ComputeClient
from finops.errors import UsageError
from finops.shutdown_policy import ShutdownPolicy
from finops.store import open_store


def cloud_clients(policy: ShutdownPolicy) -> Callable[[str], ComputeClient]:
    made: dict[str, ComputeClient] = {}

    def client(provider: str) -> ComputeClient:
        if provider not in made:
            if provider == "AWS":
                from finops.connectors.compute_aws import AwsCompute

                made[provider] = AwsCompute(policy.aws_region)
            elif provider == "Google Cloud":
                from finops.connectors.compute_gcp import GcpCompute

                made[provider] = GcpCompute()
            elif provider == "Microsoft Azure":
                from finops.connectors.compute_azure import AzureCompute

                made[provider] = AzureCompute()
            else:
                raise UsageError(f"no compute client for provider {provider!r}")
        return made[provider]

    return client


def notifier(config: Config) -> Callable[[list[dict[str, Any]]], list[str]] | None:
    """Notices go to the [alerts] sinks; with none configured they go to stderr through the decisions shown."""
    if not config.alerts.get("sinks"):
        return None
    from finops.alerts import alerts_config, deliver_notices

    sinks = alerts_config(config.alerts, str(config.path))
    return lambda notices: deliver_notices(sinks, notices)


def read_log(db: Path, limit: int) -> list[tuple[Any, ...]]:
    with open_store(db, read_only=True) as store:
        return store.fetch(
            """SELECT decided_at, run_id, actor, instance, provider, action, reason, per_hour, evidence
               FROM shutdown_log ORDER BY decided_at DESC, run_id, instance LIMIT ?""",
            [limit],
        )
