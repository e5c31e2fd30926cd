"""Deterministic demo data for finops: 90 days of Lumen Labs, a fictional AI company on three clouds.

Run `python sample_data/generate.py [--out DIR]`. The same code writes the same bytes: a fixed seed per purpose
(never global random state), no wall clock, and money built with Decimal, never floats. README.md beside this
file tells the story and the figures a report on this data should show. Data tables are laid out by hand.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

SEED = 20261120
START, DAYS = datetime(2026, 8, 23, tzinfo=UTC), 90  # 2026-08-23 .. 2026-11-20
HOURS, END = DAYS * 24, START + timedelta(days=DAYS)
ANOMALY_START, ANOMALY_HOURS = datetime(2026, 11, 12, 6, tzinfo=UTC), 30  # 4 extra p5.48xlarge
AZURE_IDLE_FROM = datetime(2026, 10, 31, tzinfo=UTC)  # the ND H100 job ended; nobody stopped the VM
SP_RATE = Decimal("21.00")  # Savings Plan commitment per hour, all of it spent on the p4d (list $32.77)
TAX_RATE, CENT, TEN = Decimal("0.06"), Decimal("0.01"), Decimal("1e-10")

# FOCUS 1.2 columns as finops/schema.py lists them (the generator needs only the stdlib and polars).
FOCUS = """AvailabilityZone BilledCost BillingAccountId BillingAccountName BillingAccountType BillingCurrency
BillingPeriodEnd BillingPeriodStart CapacityReservationId CapacityReservationStatus ChargeCategory ChargeClass
ChargeDescription ChargeFrequency ChargePeriodEnd ChargePeriodStart CommitmentDiscountCategory CommitmentDiscountId
CommitmentDiscountName CommitmentDiscountQuantity CommitmentDiscountStatus CommitmentDiscountType
CommitmentDiscountUnit ConsumedQuantity ConsumedUnit ContractedCost ContractedUnitPrice EffectiveCost InvoiceId
InvoiceIssuerName ListCost ListUnitPrice PricingCategory PricingCurrency PricingCurrencyContractedUnitPrice
PricingCurrencyEffectiveCost PricingCurrencyListUnitPrice PricingQuantity PricingUnit ProviderName PublisherName
RegionId RegionName ResourceId ResourceName ResourceType ServiceCategory ServiceName ServiceSubcategory SkuId
SkuMeter SkuPriceDetails SkuPriceId SubAccountId SubAccountName SubAccountType Tags""".split()  # noqa: SIM905
DECIMALS = {name for name in FOCUS if name.endswith(("Cost", "Price", "Quantity"))}  # money and quantities
TIMES = {name for name in FOCUS if name.endswith(("Start", "End"))}

Row = dict[str, Any]  # one output row
Qty = Callable[[int, random.Random], Decimal]  # day index -> quantity consumed that day


@dataclass(frozen=True)
class Cloud:
    name: str
    publisher: str
    issuer: str
    account: tuple[str, str, str]  # BillingAccountId, BillingAccountName, BillingAccountType
    sub_type: str
    region: tuple[str, str, str]  # RegionId, RegionName, AvailabilityZone
    invoice: str  # prefix of its invoice numbers


@dataclass(frozen=True)
class Resource:
    cloud: Cloud
    sub: tuple[str, str]  # SubAccountId, SubAccountName
    kind: str  # key of KINDS
    name: str
    price: Decimal
    tags: dict[str, str]
    qty: Qty
    instance_type: str | None = None
    gpus: int = 0
    committed: bool = False  # covered by the AWS Savings Plan

    @property
    def rid(self) -> str:
        fields = {"sub": self.sub[0], "rg": f"rg-{self.sub[1]}", "name": self.name, "hex": hexid(16, self.name)}
        return KINDS[self.kind][6].format(**fields)


# fmt: off
AWS = Cloud("AWS", "AWS", "Amazon Web Services, Inc.", ("012345678901", "Lumen Labs", "Payer Account"),
            "Linked Account", ("us-east-1", "US East (N. Virginia)", "us-east-1a"), "2491")
GCP = Cloud("Google Cloud", "Google Cloud", "Google LLC", ("01A2B3-C4D5E6-F70819", "Lumen Labs", "Billing Account"),
            "Project", ("us-central1", "Iowa", "us-central1-a"), "5218")
AZURE = Cloud("Microsoft Azure", "Microsoft", "Microsoft Corporation",
              ("7c1e4f2a-9b3d-4e8f-a6c5-2d0b1e9f8a37", "Lumen Labs MCA", "Microsoft Customer Agreement"),
              "Subscription", ("eastus", "East US", "eastus-1"), "G0")
AZ = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft."
# kind: ServiceName, ServiceCategory, ServiceSubcategory, ResourceType, SkuMeter, unit, ResourceId, ChargeDescription
KINDS = {
    "ec2": ("Amazon Elastic Compute Cloud", "Compute", "Virtual Machines", "Instance", "Compute", "Hours",
            "arn:aws:ec2:us-east-1:{sub}:instance/i-0{hex}", "${price} per On Demand Linux {type} Instance Hour"),
    "eks": ("Amazon Elastic Kubernetes Service", "Compute", "Containers", "Cluster", "Compute", "Hours",
            "arn:aws:eks:us-east-1:{sub}:cluster/{name}", "${price} per hour per EKS cluster"),
    "s3": ("Amazon Simple Storage Service", "Storage", "Object Storage", "Bucket", "Storage", "GB-Months",
           "arn:aws:s3:::{name}", "${price} per GB-Month of storage used"),
    "athena": ("Amazon Athena", "Analytics", "Data Processing", "Workgroup", "Data Scanned", "TB",
               "arn:aws:athena:us-east-1:{sub}:workgroup/{name}", "${price} per TB for Standard Data Scanned"),
    "transfer": ("AWS Data Transfer", "Networking", "Network Connectivity", "Internet Gateway", "Data Transfer", "GB",
                 "arn:aws:ec2:us-east-1:{sub}:internet-gateway/igw-0{hex}",
                 "${price} per GB - US East (N. Virginia) data transfer to Internet (over 150 TB)"),
    "nat": ("Amazon Virtual Private Cloud", "Networking", "Network Connectivity", "NAT Gateway", "NAT Gateway", "GB",
            "arn:aws:ec2:us-east-1:{sub}:natgateway/nat-0{hex}", "${price} per GB Data Processed by NAT Gateways"),
    "gce": ("Compute Engine", "Compute", "Virtual Machines", "Instance", "Compute", "Hours",
            "//compute.googleapis.com/projects/{sub}/zones/us-central1-a/instances/{name}",
            "{type} instance running in Americas"),
    "gcs": ("Cloud Storage", "Storage", "Object Storage", "Bucket", "Storage", "GB-Months",
            "//storage.googleapis.com/projects/_/buckets/{name}", "Standard Storage Iowa"),
    "bigquery": ("BigQuery", "Databases", "Data Warehouses", "Project", "Analysis", "TiB",
                 "//bigquery.googleapis.com/projects/{sub}", "Analysis (on-demand) in US multi-region"),
    "gke": ("Kubernetes Engine", "Compute", "Containers", "Cluster", "Cluster Management", "Hours",
            "//container.googleapis.com/projects/{sub}/locations/us-central1/clusters/{name}",
            "Regional Kubernetes Clusters"),
    # FOCUS: one ServiceCategory per ServiceName. Google bills VM egress under Compute Engine, whose purpose is Compute.
    "egress": ("Compute Engine", "Compute", "Virtual Machines", "Network", "Network Egress", "GB",
               "//compute.googleapis.com/projects/{sub}/global/networks/{name}",
               "Network Internet Data Transfer Out from Americas to Americas"),
    "azvm": ("Virtual Machines", "Compute", "Virtual Machines", "Virtual machine", "Compute", "Hours",
             AZ + "Compute/virtualMachines/{name}", "Virtual Machines {short} - US East"),
    "aks": ("Azure Kubernetes Service", "Compute", "Containers", "Managed cluster", "Standard Uptime SLA", "Hours",
            AZ + "ContainerService/managedClusters/{name}", "Azure Kubernetes Service - Standard - Uptime SLA"),
    "blob": ("Azure Blob Storage", "Storage", "Object Storage", "Storage account", "Hot LRS Data Stored", "GB-Months",
             AZ + "Storage/storageAccounts/{name}", "Hot LRS Data Stored - US East"),
    "bandwidth": ("Bandwidth", "Networking", "Network Connectivity", "Virtual network", "Standard Data Transfer Out",
                  "GB", AZ + "Network/virtualNetworks/{name}", "Standard Data Transfer Out - Zone 1"),
}
# The services of charges that are not metered usage, and the Savings Plan that every p4d usage row points at.
SP_SERVICE = ("Savings Plans for AWS Compute usage", "Compute", "Other (Compute)")
SUPPORT = ("AWS Support (Business)", "Management and Governance", "Support")
SP_ID = "arn:aws:savingsplans::012345678901:savingsplan/3f2a7c1e-5b8d-4e6a-9c0f-1d2e3f4a5b6c"
COMMITMENT = {"CommitmentDiscountId": SP_ID, "CommitmentDiscountName": "ComputeSavingsPlan-3yr-NoUpfront",
              "CommitmentDiscountCategory": "Spend", "CommitmentDiscountType": "Savings Plan",
              "CommitmentDiscountUnit": "USD"}
# fmt: on


def hexid(n: int, *seed: str) -> str:
    """Random-looking hex fixed by what it names, so ids do not shift when resources are added."""
    rng = random.Random(":".join((str(SEED), *seed)))
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def hours(count: int = 24) -> Qty:
    return lambda day, rng: Decimal(count)


def daily(base: float, spread: float, weekend: float = 1.0, spikes: dict[int, int] | None = None) -> Qty:
    """Usage that varies day to day (people-driven work is quieter at weekends); spikes are extra units."""

    def qty(day: int, rng: random.Random) -> Decimal:
        factor = weekend if (START + timedelta(days=day)).weekday() >= 5 else 1.0
        return Decimal(f"{base * factor * rng.uniform(1 - spread, 1 + spread) + (spikes or {}).get(day, 0):.3f}")

    return qty


def storage(start_gb: int, end_gb: int) -> Qty:
    """GB-months billed per day: the stored size (growing linearly) over the number of days in that month."""

    def qty(day: int, rng: random.Random) -> Decimal:
        first, after = month_of(START + timedelta(days=day))
        size = start_gb + (end_gb - start_gb) * day // (DAYS - 1)
        return (Decimal(size) / (after - first).days).quantize(Decimal("0.0001"))

    return qty


def anomaly_hours(day: int, rng: random.Random) -> Decimal:
    """Hours of that day inside the anomaly: someone's 30-hour sweep on 4 extra p5.48xlarge."""
    start, stop = START + timedelta(days=day), ANOMALY_START + timedelta(hours=ANOMALY_HOURS)
    overlap = min(start + timedelta(days=1), stop) - max(start, ANOMALY_START)
    return Decimal(max(0, int(overlap.total_seconds()) // 3600))


def resources() -> list[Resource]:
    """Everything Lumen Labs pays for. Tag keys are messy on purpose: team, Team, user:team, cost-center."""
    # fmt: off
    ml, data, plat = ("012345678901", "lumen-ml"), ("048213570926", "lumen-data"), ("220548613977", "lumen-platform")
    g_res, g_srv, g_data = ("lumen-research-4721", "lumen-research"), ("lumen-serving-8812", "lumen-serving"), \
        ("lumen-data-2291", "lumen-data")
    a_res, a_shr = ("3b9d2f61-4c8e-4a7b-9e15-6f0a2c7d8e41", "lumen-research"), \
        ("8e4a1c97-2d6b-4f3e-b0a8-5c9f1e7d2a63", "lumen-shared")
    pretrain = {"user:team": "research", "user:project": "llm-pretrain"}
    sweep = {"user:team": "research", "user:owner": "mkim", "user:project": "ablation-sweep"}
    chat, cc_data = {"user:team": "inference", "user:service": "chat-llama-70b"}, {"user:cost-center": "cc-data"}
    dev = {"user:owner": "dana", "user:Name": "dana-dev"}  # an owner, but no team
    R, D = Resource, Decimal
    return [
        R(AWS, ml, "ec2", "p5-train-01", D("98.32"), pretrain, hours(), "p5.48xlarge", 8),
        R(AWS, ml, "ec2", "p5-train-02", D("98.32"), pretrain, hours(), "p5.48xlarge", 8),
        R(AWS, ml, "ec2", "p4d-ft-01", D("32.77"), {}, hours(), "p4d.24xlarge", 8, committed=True),  # untagged
        R(AWS, ml, "ec2", "g5-chat-01", D("5.672"), chat, hours(), "g5.12xlarge", 4),
        R(AWS, ml, "ec2", "g5-chat-02", D("5.672"), chat, hours(), "g5.12xlarge", 4),
        R(AWS, ml, "ec2", "dana-dev", D("1.006"), dev, hours(), "g5.xlarge", 1),
        *(R(AWS, ml, "ec2", f"p5-sweep-0{i}", D("98.32"), sweep, anomaly_hours, "p5.48xlarge", 8) for i in range(1, 5)),
        *(R(AWS, plat, "ec2", f"eks-node-0{i}", D("0.8064"), {"user:Team": "platform"}, hours(), "m7i.4xlarge")
          for i in range(1, 4)),
        *(R(AWS, data, "ec2", f"etl-worker-0{i}", D("0.357"), {}, hours(), "c7i.2xlarge") for i in (1, 2)),
        R(AWS, plat, "eks", "lumen-prod", D("0.10"), {"user:team": "platform"}, hours()),
        R(AWS, data, "s3", "lumen-datasets", D("0.021"), cc_data, storage(420_000, 480_000)),
        R(AWS, ml, "s3", "lumen-checkpoints", D("0.022"), {"user:team": "research"}, storage(150_000, 260_000)),
        R(AWS, plat, "s3", "lumen-logs", D("0.023"), {}, storage(28_000, 41_000)),
        R(AWS, data, "athena", "analytics", D("5.00"), cc_data, daily(11, 0.3, weekend=0.25)),
        # The anomaly's checkpoint uploads: +26 TB and +7 TB out on 2026-11-12 and -13 (days 81 and 82).
        R(AWS, ml, "transfer", "igw-main", D("0.05"), {}, daily(4200, 0.25, spikes={81: 26_000, 82: 7_000})),
        R(AWS, ml, "nat", "nat-main", D("0.045"), {}, daily(1900, 0.2)),
        R(GCP, g_res, "gce", "lumen-a3-train-01", D("88.25"), {"team": "research"}, hours(), "a3-highgpu-8g", 8),
        R(GCP, g_srv, "gce", "lumen-embed-01", D("3.9985"), {"cost-center": "cc-inference"}, hours(),
          "g2-standard-48", 4),
        *(R(GCP, g_data, "gce", f"lumen-pipeline-0{i}", D("0.7769"), {}, hours(), "n2-standard-16") for i in (1, 2)),
        R(GCP, g_data, "gcs", "lumen-training-data", D("0.020"), {"team": "data"}, storage(260_000, 310_000)),
        R(GCP, g_data, "bigquery", "lumen-data-2291", D("6.25"), {"team": "data"}, daily(7, 0.35, weekend=0.3)),
        R(GCP, g_srv, "gke", "serving", D("0.10"), {"team": "platform"}, hours()),
        R(GCP, g_srv, "egress", "default", D("0.08"), {}, daily(1100, 0.25)),
        R(AZURE, a_res, "azvm", "lumen-nd-h100-01", D("98.32"), {"Team": "research"}, hours(),
          "Standard_ND96isr_H100_v5", 8),
        *(R(AZURE, a_shr, "azvm", f"lumen-app-0{i}", D("0.768"), {"cost-center": "cc-platform"}, hours(),
            "Standard_D16s_v5") for i in (1, 2)),
        R(AZURE, a_shr, "aks", "aks-shared", D("0.10"), {"Team": "platform"}, hours()),
        R(AZURE, a_res, "blob", "lumenresearchdata", D("0.0184"), {"cost-center": "cc-research"},
          storage(85_000, 95_000)),
        R(AZURE, a_res, "bandwidth", "vnet-research", D("0.083"), {}, daily(350, 0.3)),
    ]
    # fmt: on


def month_of(when: datetime) -> tuple[datetime, datetime]:
    first = when.replace(day=1, hour=0)
    return first, (first + timedelta(days=32)).replace(day=1)


def base_row(cloud: Cloud, start: datetime, end: datetime, **fields: Any) -> Row:
    """Every FOCUS column: what all of a provider's rows share, then `fields`."""
    period = month_of(start)
    invoice = f"{cloud.invoice}{start:%y%m}01" if period[1] <= END else None  # the open month has none yet
    return dict.fromkeys(FOCUS) | {
        "ProviderName": cloud.name, "PublisherName": cloud.publisher, "InvoiceIssuerName": cloud.issuer,
        "BillingAccountId": cloud.account[0], "BillingAccountName": cloud.account[1],
        "BillingAccountType": cloud.account[2], "BillingCurrency": "USD", "PricingCurrency": "USD",
        "BillingPeriodStart": period[0], "BillingPeriodEnd": period[1], "ChargePeriodStart": start,
        "ChargePeriodEnd": end, "InvoiceId": invoice, "RegionId": cloud.region[0], "RegionName": cloud.region[1],
        "ChargeFrequency": "Recurring", "Tags": "{}", **fields,
    }  # fmt: skip


def usage_rows(res: Resource) -> list[Row]:
    """One row per day the resource was used, priced at its list price (or the Savings Plan rate)."""
    service, category, subcategory, rtype, meter, unit, _, text = KINDS[res.kind]
    short = (res.instance_type or "").removeprefix("Standard_").replace("_", " ")
    text = text.format(price=res.price, type=res.instance_type, short=short)
    details = {"InstanceType": res.instance_type, "GpuCount": res.gpus, "OperatingSystem": "Linux"}
    rng, rows = random.Random(f"{SEED}:cost:{res.name}"), []
    sku = "".join(rng.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(16))
    for day in range(DAYS):
        if (qty := res.qty(day, rng)) <= 0:
            continue
        start, cost = START + timedelta(days=day), qty * res.price
        billed, effective = (Decimal(0), qty * SP_RATE) if res.committed else (cost, cost)
        rows.append(base_row(
            res.cloud, start, start + timedelta(days=1), ChargeCategory="Usage", ChargeFrequency="Usage-Based",
            ChargeDescription=text, BilledCost=billed, EffectiveCost=effective, ListCost=cost, ContractedCost=cost,
            ListUnitPrice=res.price, ContractedUnitPrice=res.price, PricingCurrencyListUnitPrice=res.price,
            PricingCurrencyContractedUnitPrice=res.price, PricingCurrencyEffectiveCost=effective,
            PricingQuantity=qty, PricingUnit=unit, ConsumedQuantity=qty, ConsumedUnit=unit,
            PricingCategory="Committed" if res.committed else "Standard", AvailabilityZone=res.cloud.region[2],
            ResourceId=res.rid, ResourceName=res.name, ResourceType=rtype, ServiceName=service,
            ServiceCategory=category, ServiceSubcategory=subcategory, SkuId=sku, SkuMeter=meter,
            SkuPriceId=f"{sku}.{unit}", SkuPriceDetails=json.dumps(details) if res.instance_type else None,
            SubAccountId=res.sub[0], SubAccountName=res.sub[1], SubAccountType=res.cloud.sub_type,
            Tags=json.dumps(res.tags),
            **(COMMITMENT | {"CommitmentDiscountStatus": "Used", "CommitmentDiscountQuantity": effective}
               if res.committed else {}),
        ))  # fmt: skip
    return rows


def charge(cloud: Cloud, span: tuple[datetime, datetime], service: tuple[str, ...], **fields: Any) -> Row:
    """A row that is not metered usage (a purchase, a credit, tax): List, Contracted and Effective cost default
    to BilledCost."""
    named = {"ServiceName": service[0], "ServiceCategory": service[1], "ServiceSubcategory": service[2]}
    row = base_row(cloud, span[0], span[1], **named, **fields)
    effective = row["EffectiveCost"] if "EffectiveCost" in fields else row["BilledCost"]
    same = {"ListCost": row["BilledCost"], "ContractedCost": row["BilledCost"], "EffectiveCost": effective}
    return row | same | {"PricingCurrencyEffectiveCost": effective}


def monthly_rows(cloud: Cloud, usage: list[Row]) -> list[Row]:
    """Once-a-month charges: the Savings Plan fee, support, credits, and AWS's tax on each service."""
    rows: list[Row] = []
    for first in sorted({month_of(r["ChargePeriodStart"])[0] for r in usage}):
        after = month_of(first)[1]
        span = (max(first, START), min(after, END))  # the month's days inside the window
        if cloud is GCP:  # a fixed monthly credit, accrued day by day
            credit = (-6000 * Decimal((span[1] - span[0]).days) / (after - first).days).quantize(CENT)
            text = "Google for Startups Cloud Program credit"
            rows.append(
                charge(cloud, span, KINDS["gce"], ChargeCategory="Credit", ChargeDescription=text, BilledCost=credit)
            )
        if cloud is not AWS:
            continue
        # The plan started on 2026-08-23 and bills each month ahead, on its first day. Its EffectiveCost is 0:
        # the p4d usage rows carry that cost, amortised.
        committed = SP_RATE * (after - span[0]).days * 24
        fee = charge(
            cloud, (span[0], after), SP_SERVICE, **COMMITMENT, ChargeCategory="Purchase", BilledCost=committed,
            ChargeDescription="3 year No Upfront Compute Savings Plan, $21.00/hour", EffectiveCost=Decimal(0),
            CommitmentDiscountQuantity=committed, PricingCategory="Standard", PricingQuantity=committed,
            PricingUnit="USD", ListUnitPrice=Decimal(1), ContractedUnitPrice=Decimal(1), ResourceId=SP_ID,
            ResourceName="lumen-p4d-sp", ResourceType="Savings Plan",
        )  # fmt: skip
        month = [r for r in usage if month_of(r["ChargePeriodStart"])[0] == first]
        spend = sum((r["BilledCost"] for r in month), Decimal(0))
        # AWS Business Support: a falling percentage of the month's spend.
        tiers = ((0, 10_000, "0.10"), (10_000, 80_000, "0.07"), (80_000, 250_000, "0.05"), (250_000, 10**9, "0.03"))
        support = sum((Decimal(rate) * max(0, min(spend, top) - low) for low, top, rate in tiers), Decimal(0))
        text, billed = SUPPORT[0], support.quantize(CENT)
        help_row = charge(cloud, span, SUPPORT, ChargeCategory="Purchase", ChargeDescription=text, BilledCost=billed)
        taxable: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
        for r in [*month, fee, help_row]:
            taxable[(r["ServiceName"], r["ServiceCategory"], r["ServiceSubcategory"])] += r["BilledCost"]
        rows += [fee, help_row]
        for service, amount in sorted(taxable.items()):
            text, tax = f"Tax for {service[0]}", (amount * TAX_RATE).quantize(CENT)
            rows.append(charge(cloud, span, service, ChargeCategory="Tax", ChargeDescription=text, BilledCost=tax))
        if first.month == 10:  # a one-off promotional credit
            rows.append(charge(cloud, span, KINDS["ec2"], ChargeCategory="Credit", ChargeFrequency="One-Time",
                               ChargeDescription="AWS Activate Credits", BilledCost=Decimal(-15000)))  # fmt: skip
    return rows


@dataclass(frozen=True)
class Gpu:
    model: str  # as NVML names it
    mem_mib: int
    watts: tuple[float, float]  # idle, flat out
    clocks: tuple[float, float, float]  # idle SM, busy SM, memory (MHz)
    profiled: bool  # reports DCGM profiling metrics (SM, tensor, DRAM activity); A10G and L4 here do not


# fmt: off
GPUS = {
    "H100": Gpu("NVIDIA H100 80GB HBM3", 81559, (70.0, 690.0), (345.0, 1980.0, 2619.0), True),
    "A100": Gpu("NVIDIA A100-SXM4-40GB", 40960, (55.0, 380.0), (210.0, 1410.0, 1215.0), True),
    "A10G": Gpu("NVIDIA A10G", 23028, (58.0, 290.0), (210.0, 1710.0, 6251.0), False),
    "L4": Gpu("NVIDIA L4", 23034, (16.0, 70.0), (210.0, 2040.0, 6251.0), False),
}
GPU_OF = {"p5.48xlarge": "H100", "p4d.24xlarge": "A100", "g5.12xlarge": "A10G", "g5.xlarge": "A10G",
          "a3-highgpu-8g": "H100", "g2-standard-48": "L4", "Standard_ND96isr_H100_v5": "H100"}
# What each GPU instance did hour by hour, and the labels its collector attached. Telemetry knows the team even
# where billing does not: the p4d has no tags in billing.
ACTIVITY = {
    "p5-train-01": ("train", {"team": "research", "job": "llm-pretrain"}),
    "p5-train-02": ("train", {"team": "research", "job": "llm-pretrain"}),
    "p4d-ft-01": ("finetune", {"team": "research", "job": "sft"}),
    "g5-chat-01": ("serve", {"team": "inference", "endpoint": "chat-llama-70b"}),
    "g5-chat-02": ("serve", {"team": "inference", "endpoint": "chat-llama-70b"}),
    "dana-dev": ("held", {"user": "dana"}),
    "lumen-a3-train-01": ("bursty", {"team": "research", "job": "rl-experiments"}),
    "lumen-embed-01": ("serve", {"team": "inference", "endpoint": "embed-small,rerank-v2"}),
    "lumen-nd-h100-01": ("train_then_empty", {"team": "research", "job": "vision-pretrain"}),
    **{f"p5-sweep-0{i}": ("sweep", {"team": "research", "job": "ablation-sweep"}) for i in range(1, 5)},
}
# endpoint, model, serving instance, requests/hour at full load, input and output tokens per request,
# median latency idle and at full load (s), lognormal sigma of latency
ENDPOINTS = [
    ("chat-llama-70b", "meta-llama/Llama-3.1-70B-Instruct-AWQ", "g5-chat-01", 5200, 850, 230, (0.4, 0.8), 0.45),
    ("chat-llama-70b", "meta-llama/Llama-3.1-70B-Instruct-AWQ", "g5-chat-02", 5200, 850, 230, (0.4, 0.8), 0.45),
    ("embed-small", "BAAI/bge-small-en-v1.5", "lumen-embed-01", 14000, 180, 0, (0.035, 0.07), 0.5),
    ("rerank-v2", "BAAI/bge-reranker-v2-m3", "lumen-embed-01", 3800, 1200, 0, (0.12, 0.25), 0.4),
]
BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, math.inf]  # Prometheus-style `le` bounds
# fmt: on


def traffic() -> list[float]:
    """Inference load per hour, 0..1: US working hours, quieter weekends, ~30% growth over the quarter."""
    rng, load = random.Random(f"{SEED}:traffic"), []
    for hour in range(HOURS):
        when = START + timedelta(hours=hour)
        diurnal = 0.5 - 0.5 * math.cos(2 * math.pi * (when.hour - 3) / 24)  # trough 03:00Z, peak 15:00Z
        weekly, growth = 0.65 if when.weekday() >= 5 else 1.0, 1 + 0.3 * hour / HOURS
        load.append(min(1.0, (0.12 + 0.68 * diurnal) * weekly * growth * rng.uniform(0.93, 1.07)))
    return load


def activity(profile: str, load: list[float], rng: random.Random) -> list[float | None]:
    """Busy level per hour (0..1): 0.0 is a process holding memory and doing nothing, None no process at all."""
    levels: list[float | None] = []
    while len(levels) < HOURS:
        when = START + timedelta(hours=len(levels))
        if profile in ("train", "train_then_empty"):  # long jobs back to back, short gaps between
            levels += [rng.uniform(0.9, 0.98)] * rng.randint(30, 150) + [None] * rng.randint(2, 10)
        elif profile == "finetune":  # shorter jobs, longer gaps
            levels += [rng.uniform(0.88, 0.96)] * rng.randint(8, 40) + [None] * rng.randint(4, 30)
        elif profile == "bursty":  # experiments on weekdays from 14:00Z to 02:00Z; idle nights and weekends
            busy = when.weekday() < 5 and (when.hour >= 14 or when.hour < 2)
            levels.append(rng.uniform(0.75, 0.97) if busy else None)
        elif profile == "serve":
            levels.append(load[len(levels)])
        else:  # "held": a notebook kernel keeps ~20 GiB allocated and computes nothing; "sweep": flat out
            levels.append(0.0 if profile == "held" else 0.97)
    if profile == "train_then_empty":
        idle_from = int((AZURE_IDLE_FROM - START).total_seconds()) // 3600
        levels[idle_from:] = [None] * (HOURS - idle_from)
    return levels[:HOURS]


def gpu_samples(res: list[Resource], load: list[float]) -> pl.DataFrame:
    """One row per GPU per hour. Metrics a GPU does not report are NULL, never 0."""
    rows: list[Row] = []
    sweep = range(int((ANOMALY_START - START).total_seconds()) // 3600, HOURS)[:ANOMALY_HOURS]
    for r in (r for r in res if r.name in ACTIVITY):
        (profile, labels), rid, rng = ACTIVITY[r.name], r.rid, random.Random(f"{SEED}:gpu:{r.name}")
        gpu, levels, tags = GPUS[GPU_OF[str(r.instance_type)]], activity(profile, load, rng), list(labels.items())
        host = f"ip-10-20-{rng.randint(0, 63)}-{rng.randint(2, 254)}.ec2.internal" if r.cloud is AWS else r.name
        for index in range(r.gpus):
            raw = hexid(32, r.name, str(index))
            uuid = f"GPU-{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
            allocated = rng.uniform(0.86, 0.93)  # share of memory the training job or inference server took
            energy = 1e9  # the driver's counter: joules since it loaded, read at each sample (NVML, DCGM)
            for hour in sweep if profile == "sweep" else range(HOURS):
                level, ts = levels[hour], START + timedelta(hours=hour)
                util = min(100.0, max(1.0, rng.gauss(level * 100, 2))) if level else 0.0
                sm = util * rng.uniform(0.78, 0.86)
                mem = 0 if level is None else 20_480 if profile == "held" else int(gpu.mem_mib * allocated)
                busy = (util / 100) ** 1.2 * rng.uniform(0.95, 1.03)
                power = round(gpu.watts[0] + (gpu.watts[1] - gpu.watts[0]) * busy + rng.uniform(-2, 2), 1)
                profiled = {"sm_active_pct": sm, "sm_occupancy_pct": sm * 0.6,
                            "tensor_active_pct": sm * rng.uniform(0.6, 0.75),
                            "dram_active_pct": util * rng.uniform(0.45, 0.6)}  # fmt: skip
                rows.append({
                    "ts": ts, "host": host, "instance_id": rid, "provider": r.cloud.name,
                    "instance_type": r.instance_type, "gpu_uuid": uuid, "gpu_index": index, "mig_instance_id": None,
                    "gpu_model": gpu.model, "interval_s": 3600.0, "util_gpu_pct": round(util, 1),
                    "util_mem_pct": round(util * rng.uniform(0.4, 0.6), 1),
                    **{k: round(v, 1) if gpu.profiled else None for k, v in profiled.items()},
                    "mem_used_bytes": (mem + (rng.randint(-64, 64) if mem else 0)) * 2**20,
                    "mem_total_bytes": gpu.mem_mib * 2**20, "power_w": power, "energy_j": round(energy, 1),
                    "sm_clock_mhz": gpu.clocks[1] if util else gpu.clocks[0], "mem_clock_mhz": gpu.clocks[2],
                    "process_count": 0 if level is None else 1,
                    "labels": [{"key": k, "value": v} for k, v in tags], "x_Day": ts.date(),
                })  # fmt: skip
                energy += power * 3600  # the hour this sample stands for
    types = {"gpu_index": pl.Int32, "process_count": pl.Int32, "mig_instance_id": pl.String}
    return pl.DataFrame(rows, schema_overrides=types | dict.fromkeys(profiled, pl.Float64), infer_schema_length=None)


def usage_metrics(res: list[Resource], load: list[float]) -> pl.DataFrame:
    """Hourly counters per endpoint and serving instance, with a cumulative latency histogram."""
    serving, rows = {r.name: r for r in res}, []
    for endpoint, model, name, peak, tokens_in, tokens_out, (fast, slow), sigma in ENDPOINTS:
        rng, rid, provider = random.Random(f"{SEED}:usage:{endpoint}:{name}"), serving[name].rid, serving[name].cloud
        for hour in range(HOURS):
            ts, requests = START + timedelta(hours=hour), int(peak * load[hour] * rng.uniform(0.97, 1.03))
            median = fast + (slow - fast) * load[hour]  # queueing: slower when busy
            below = [0.5 * (1 + math.erf(math.log(le / median) / (sigma * math.sqrt(2)))) for le in BUCKETS[:-1]]
            rows.append({
                "ts": ts, "interval_s": 3600.0, "endpoint": endpoint, "model": model, "provider": provider.name,
                "resource_id": rid, "requests": requests,
                "requests_failed": round(requests * rng.uniform(0.001, 0.008)),
                "input_tokens": round(requests * tokens_in * rng.uniform(0.9, 1.1)),
                "output_tokens": round(requests * tokens_out * rng.uniform(0.9, 1.1)),
                "latency_le_s": BUCKETS, "latency_counts": [round(requests * p) for p in below] + [requests],
                "latency_sum_s": round(requests * median * math.exp(sigma**2 / 2), 3),  # the lognormal's mean
                "labels": [{"key": "team", "value": "inference"}, {"key": "env", "value": "prod"}], "x_Day": ts.date(),
            })  # fmt: skip
    return pl.DataFrame(rows, schema_overrides={"latency_counts": pl.List(pl.Int64)})


def text_cell(value: Any) -> str | None:
    """A cell as CSV exports write it: plain decimals, ISO 8601 UTC times."""
    if isinstance(value, Decimal):
        return f"{value.quantize(TEN).normalize():f}"
    return f"{value:%Y-%m-%dT%H:%M:%SZ}" if isinstance(value, datetime) else value


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the Lumen Labs demo data (deterministic).")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    res, load = resources(), traffic()
    typed = {n: pl.Decimal(38, 10) for n in DECIMALS} | {n: pl.Datetime("us", "UTC") for n in TIMES}
    for cloud, file in ((AWS, "costs_aws.parquet"), (GCP, "costs_gcp.parquet"), (AZURE, "costs_azure.csv")):
        usage = [row for r in res if r.cloud is cloud for row in usage_rows(r)]
        rows = sorted(usage + monthly_rows(cloud, usage), key=lambda r: (r["ChargePeriodStart"], r["ResourceId"] or ""))
        if file.endswith(".csv"):  # every column as text, as provider exports write it
            text = [{n: text_cell(r[n]) for n in FOCUS} for r in rows]
            pl.DataFrame(text, schema=dict.fromkeys(FOCUS, pl.String)).write_csv(out / file)
        else:  # money as Decimal(38, 10), times as UTC timestamps
            exact = [{n: v.quantize(TEN) if isinstance(v, Decimal) else v for n, v in r.items()} for r in rows]
            frame = pl.DataFrame(exact, schema={n: typed.get(n, pl.String()) for n in FOCUS})
            frame.write_parquet(out / file, compression="zstd", statistics=False)
    for name, frame in (("gpu_samples", gpu_samples(res, load)), ("usage_metrics", usage_metrics(res, load))):
        frame.write_parquet(out / f"{name}.parquet", compression="zstd", statistics=False)


if __name__ == "__main__":
    main()
