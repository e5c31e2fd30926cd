"""EC2 for the shutdown rails, through boto3's own credential chain: describe, tag, stop (never terminate).

A stop is preceded by the same call with `DryRun=True`, so a missing permission fails before anything changes.
Auto-scaling membership comes from Auto Scaling itself (not only the `aws:autoscaling:groupName` tag, which a
person can remove); instance-store support from `describe_instance_types`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from finops.connectors.aws_common import aws_call, aws_error, session
from finops.connectors.compute_common import AWS_ARN, InstanceFacts
from finops.errors import UsageError

PROVIDER = "AWS"


class AwsCompute:
    provider = PROVIDER

    def __init__(self, default_region: str | None = None, profile: str | None = None) -> None:
        self._session = session({"profile": profile} if profile else {})
        self._default_region = default_region
        self._clients: dict[tuple[str, str], Any] = {}

    def _client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self._session.client(service, region_name=region)
        return self._clients[key]

    def _where(self, instance: str) -> tuple[str, str]:
        match = AWS_ARN.match(instance)
        if match:
            return match["region"], match["id"]
        region = self._default_region or self._session.region_name
        if not region:
            raise UsageError(f"{instance}: which region?", hint="name instances by ARN, or set shutdown.aws_region")
        return region, instance

    def describe(self, instances: list[str]) -> dict[str, InstanceFacts]:
        by_region: dict[str, dict[str, str]] = defaultdict(dict)
        for instance in instances:
            region, ec2_id = self._where(instance)
            by_region[region][ec2_id] = instance
        facts: dict[str, InstanceFacts] = {}
        for region, ids in by_region.items():
            ec2 = self._client("ec2", region)
            found: dict[str, dict[str, Any]] = {}
            pages = self._instances(ec2, list(ids))
            for reservation in pages.get("Reservations", []):
                for item in reservation["Instances"]:
                    found[item["InstanceId"]] = item
            groups = self._groups(region, [i for i in ids if i in found])
            local = self._instance_store(region, {item["InstanceType"] for item in found.values()})
            for ec2_id, instance in ids.items():
                item = found.get(ec2_id)
                if item is None:
                    facts[instance] = InstanceFacts(instance, PROVIDER, "missing")
                    continue
                tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
                facts[instance] = InstanceFacts(
                    instance, PROVIDER, item["State"]["Name"], tags,
                    managed_by=groups.get(ec2_id) or tags.get("aws:autoscaling:groupName"),
                    local_disks=local.get(item["InstanceType"], False),
                    spot=item.get("InstanceLifecycle") == "spot",
                )  # fmt: skip
        return facts

    def _instances(self, ec2: Any, ids: list[str]) -> dict[str, Any]:
        paginator = ec2.get_paginator("describe_instances")
        filters = [{"Name": "instance-id", "Values": ids}]  # a filter: an unknown id is absent, not an error
        result: dict[str, Any] = aws_call("EC2 describe_instances",
                                          lambda: paginator.paginate(Filters=filters).build_full_result(),
                                          "ec2:DescribeInstances")  # fmt: skip
        return result

    def _groups(self, region: str, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        autoscaling = self._client("autoscaling", region)
        answer = aws_call("Auto Scaling", lambda: autoscaling.describe_auto_scaling_instances(InstanceIds=ids),
                          "autoscaling:DescribeAutoScalingInstances")  # fmt: skip
        return {i["InstanceId"]: i["AutoScalingGroupName"] for i in answer.get("AutoScalingInstances", [])}

    def _instance_store(self, region: str, types: set[str]) -> dict[str, bool]:
        if not types:
            return {}
        ec2 = self._client("ec2", region)
        answer = aws_call("EC2 instance types", lambda: ec2.describe_instance_types(InstanceTypes=sorted(types)),
                          "ec2:DescribeInstanceTypes")  # fmt: skip
        return {t["InstanceType"]: bool(t.get("InstanceStorageSupported")) for t in answer.get("InstanceTypes", [])}

    def tag(self, instance: str, tags: dict[str, str]) -> None:
        region, ec2_id = self._where(instance)
        ec2 = self._client("ec2", region)
        pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
        aws_call("EC2 create_tags", lambda: ec2.create_tags(Resources=[ec2_id], Tags=pairs), "ec2:CreateTags")

    def untag(self, instance: str, keys: list[str]) -> None:
        region, ec2_id = self._where(instance)
        ec2 = self._client("ec2", region)
        aws_call("EC2 delete_tags", lambda: ec2.delete_tags(Resources=[ec2_id], Tags=[{"Key": k} for k in keys]),
                 "ec2:DeleteTags")  # fmt: skip

    def stop(self, instance: str, *, discard_local_disks: bool) -> None:
        from botocore.exceptions import ClientError

        region, ec2_id = self._where(instance)
        ec2 = self._client("ec2", region)
        try:
            ec2.stop_instances(InstanceIds=[ec2_id], DryRun=True)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code != "DryRunOperation":  # DryRunOperation means: allowed, and it would succeed
                raise aws_error(f"EC2 stop_instances {ec2_id} (dry run)", code, e, "ec2:StopInstances") from e
        aws_call(f"EC2 stop_instances {ec2_id}", lambda: ec2.stop_instances(InstanceIds=[ec2_id]), "ec2:StopInstances")
