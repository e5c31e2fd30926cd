"""Deterministic demo data for finops: 90 days of Lumen Labs, a fictional AI company on three clouds.

Run `python sample_data/generate.py [--out DIR]`. The same code writes the same bytes: a fixed seed per
purpose (never global random state), no wall clock, and money built with Decimal, never floats.
README.md beside this file tells the story and the figures a report on this data should show.
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

import polars as pl

SEED = 20261120
START = datetime(2026, 8, 23, tzinfo=UTC)
DAYS = 90  # 2026-08-23 .. 2026-11-20
HOURS = DAYS * 24
ANOMALY_START, ANOMALY_HOURS = datetime(2026, 11, 12, 6, tzinfo=UTC), 30  # 4 extra p5.48xlarge
AZURE_IDLE_FROM = datetime(2026, 10, 31, tzinfo=UTC)  # the ND H100 job ended; nobody stopped the VM
SP_RATE = Decimal("21.00")  # Savings Plan $/hour commitment, spent entirely on the p4d (list $32.77)
TAX_RATE = Decimal("0.06")
TEN = Decimal("1e-10")
TAG = pl.Struct({"key": pl.String, "value": pl.String})
TS = pl.Datetime("us", "UTC")

# FOCUS 1.2 columns, as finops/schema.py lists them (the generator needs only the stdlib and polars).
FOCUS = """AvailabilityZone BilledCost BillingAccountId BillingAccountName BillingAccountType BillingCurrency
BillingPeriodEnd BillingPeriodStart CapacityReservationId CapacityReservationStatus ChargeCategory ChargeClass
ChargeDescription ChargeFrequency ChargePeriodEnd ChargePeriodStart CommitmentDiscountCategory
CommitmentDiscountId CommitmentDiscountName CommitmentDiscountQuantity CommitmentDiscountStatus
CommitmentDiscountType CommitmentDiscountUnit ConsumedQuantity ConsumedUnit ContractedCost ContractedUnitPrice
EffectiveCost InvoiceId InvoiceIssuerName ListCost ListUnitPrice PricingCategory PricingCurrency
PricingCurrencyContractedUnitPrice PricingCurrencyEffectiveCost PricingCurrencyListUnitPrice PricingQuantity
PricingUnit ProviderName PublisherName RegionId RegionName ResourceId ResourceName ResourceType ServiceCategory
ServiceName ServiceSubcategory SkuId SkuMeter SkuPriceDetails SkuPriceId SubAccountId SubAccountName
SubAccountType Tags""".split()
DECIMALS = {name for name in FOCUS if name.endswith(("Cost", "Price", "Quantity"))}
TIMES = {name for name in FOCUS if name.endswith(("Start", "End"))}

Row = dict[str, object]
Qty = Callable[[int, random.Random], Decimal]  # day index -> quantity consumed that day


@dataclass(frozen=True)
class Cloud:
    name: str
    publisher: str
    issuer: str
    account: tuple[str, str, str]  # BillingAccountId, BillingAccountName, BillingAccountType
    sub_type: str
    region: tuple[str, str, str]  # RegionId, RegionName, AvailabilityZone
    invoices: dict[str, str]  # closed months only: the open month has no invoice yet


@dataclass(frozen=True)
class Resource:
    cloud: Cloud
    sub: tuple[str, str]  # SubAccountId, SubAccountName
    rid: str
    name: str
    rtype: str
    service: tuple[str, str, str]  # ServiceName, ServiceCategory, ServiceSubcategory
    meter: str
    unit: str
    price: Decimal
    description: str
    tags: dict[str, str]
    qty: Qty
    instance_type: str | None = None
    gpus: int = 0
    committed: bool = False  # covered by the AWS Savings Plan


AWS = Cloud("AWS", "AWS", "Amazon Web Services, Inc.", ("012345678901", "Lumen Labs", "Payer Account"),
            "Linked Account", ("us-east-1", "US East (N. Virginia)", "us-east-1a"),
            {"2026-08": "2391578164", "2026-09": "2414630775", "2026-10": "2437702293"})
GCP = Cloud("Google Cloud", "Google Cloud", "Google LLC", ("01A2B3-C4D5E6-F70819", "Lumen Labs", "Billing Account"),
            "Project", ("us-central1", "Iowa", "us-central1-a"),
            {"2026-08": "5218830671", "2026-09": "5224107382", "2026-10": "5229391045"})
AZURE = Cloud("Microsoft Azure", "Microsoft", "Microsoft Corporation",
              ("7c1e4f2a-9b3d-4e8f-a6c5-2d0b1e9f8a37", "Lumen Labs MCA", "Microsoft Customer Agreement"),
              "Subscription", ("eastus", "East US", "eastus-1"),
              {"2026-08": "G047219385", "2026-09": "G051873320", "2026-10": "G056402917"})
VM_SERVICE = {"AWS": ("Amazon Elastic Compute Cloud", "Instance"), "Google Cloud": ("Compute Engine", "Instance"),
              "Microsoft Azure": ("Virtual Machines", "Virtual machine")}
SP_ID = "arn:aws:savingsplans::012345678901:savingsplan/3f2a7c1e-5b8d-4e6a-9c0f-1d2e3f4a5b6c"


def per_hour(hours: int = 24) -> Qty:
    return lambda day, rng: Decimal(hours)


def daily(base: float, spread: float, weekend: float = 1.0, spikes: dict[int, int] | None = None) -> Qty:
    """Usage that varies day to day (weekends quieter for people-driven work); spikes are extra units."""

    def qty(day: int, rng: random.Random) -> Decimal:
        factor = weekend if (START + timedelta(days=day)).weekday() >= 5 else 1.0
        value = base * factor * rng.uniform(1 - spread, 1 + spread) + (spikes or {}).get(day, 0)
        return Decimal(f"{value:.3f}")

    return qty


def storage(start_gb: int, end_gb: int) -> Qty:
    """GB-months billed per day: the stored size (growing linearly) over the days in that month."""

    def qty(day: int, rng: random.Random) -> Decimal:
        size = start_gb + (end_gb - start_gb) * day // (DAYS - 1)
        when = START + timedelta(days=day)
        month_days = ((when.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day
        return (Decimal(size) / month_days).quantize(Decimal("0.0001"))

    return qty


def anomaly_hours(day: int, rng: random.Random) -> Decimal:
    start, end = START + timedelta(days=day), START + timedelta(days=day + 1)
    stop = ANOMALY_START + timedelta(hours=ANOMALY_HOURS)
    overlap = (min(end, stop) - max(start, ANOMALY_START)).total_seconds() // 3600
    return Decimal(max(0, int(overlap)))


IDS = random.Random(f"{SEED}:ids")


def hexid(n: int) -> str:
    return "".join(IDS.choice("0123456789abcdef") for _ in range(n))


def vm(cloud: Cloud, sub: tuple[str, str], name: str, itype: str, price: str, tags: dict[str, str],
       gpus: int = 0, qty: Qty | None = None, committed: bool = False) -> Resource:
    """A virtual machine billed per hour, with ids and descriptions in its provider's own style."""
    if cloud is AWS:
        rid = f"arn:aws:ec2:us-east-1:{sub[0]}:instance/i-0{hexid(16)}"
        text = f"${price} per On Demand Linux {itype} Instance Hour"
    elif cloud is GCP:
        rid = f"//compute.googleapis.com/projects/{sub[0]}/zones/us-central1-a/instances/{name}"
        text = f"{itype} instance running in Americas"
    else:
        rid = f"/subscriptions/{sub[0]}/resourceGroups/rg-{sub[1]}/providers/Microsoft.Compute/virtualMachines/{name}"
        text = f"Virtual Machines {itype.removeprefix('Standard_').replace('_', ' ')} - US East"
    service, rtype = VM_SERVICE[cloud.name]
    return Resource(cloud, sub, rid, name, rtype, (service, "Compute", "Virtual Machines"), "Compute", "Hours",
                    Decimal(price), text, tags, qty or per_hour(), itype, gpus, committed)


def resources() -> list[Resource]:
    """Everything Lumen Labs pays for. Tag keys are messy on purpose: team, Team, user:team, cost-center."""
    ml, data, plat = ("012345678901", "lumen-ml"), ("048213570926", "lumen-data"), ("220548613977", "lumen-platform")
    g_res, g_srv, g_data = ("lumen-research-4721", "lumen-research"), ("lumen-serving-8812", "lumen-serving"), (
        "lumen-data-2291", "lumen-data")
    a_res, a_shr = ("3b9d2f61-4c8e-4a7b-9e15-6f0a2c7d8e41", "lumen-research"), (
        "8e4a1c97-2d6b-4f3e-b0a8-5c9f1e7d2a63", "lumen-shared")
    pretrain = {"user:team": "research", "user:project": "llm-pretrain"}
    sweep = {"user:team": "research", "user:owner": "mkim", "user:project": "ablation-sweep"}
    chat = {"user:team": "inference", "user:service": "chat-llama-70b"}
    s3, net = ("Amazon Simple Storage Service", "Storage", "Object Storage"), "Network Connectivity"

    def svc(cloud: Cloud, sub: tuple[str, str], rid: str, name: str, rtype: str, service: tuple[str, str, str],
            meter: str, unit: str, price: str, text: str, tags: dict[str, str], qty: Qty) -> Resource:
        return Resource(cloud, sub, rid, name, rtype, service, meter, unit, Decimal(price), text, tags, qty)

    return [
        vm(AWS, ml, "p5-train-01", "p5.48xlarge", "98.32", pretrain, 8),
        vm(AWS, ml, "p5-train-02", "p5.48xlarge", "98.32", pretrain, 8),
        vm(AWS, ml, "p4d-ft-01", "p4d.24xlarge", "32.77", {}, 8, committed=True),  # launched by a script, no tags
        vm(AWS, ml, "g5-chat-01", "g5.12xlarge", "5.672", chat, 4),
        vm(AWS, ml, "g5-chat-02", "g5.12xlarge", "5.672", chat, 4),
        vm(AWS, ml, "dana-dev", "g5.xlarge", "1.006", {"user:owner": "dana", "user:Name": "dana-dev"}, 1),
        *(vm(AWS, ml, f"p5-sweep-0{i}", "p5.48xlarge", "98.32", sweep, 8, anomaly_hours) for i in range(1, 5)),
        *(vm(AWS, plat, f"eks-node-0{i}", "m7i.4xlarge", "0.8064", {"user:Team": "platform"}) for i in range(1, 4)),
        *(vm(AWS, data, f"etl-worker-0{i}", "c7i.2xlarge", "0.357", {}) for i in range(1, 3)),
        svc(AWS, plat, "arn:aws:eks:us-east-1:220548613977:cluster/lumen-prod", "lumen-prod", "Cluster",
            ("Amazon Elastic Kubernetes Service", "Compute", "Containers"), "Compute", "Hours", "0.10",
            "$0.10 per hour per EKS cluster", {"user:team": "platform"}, per_hour()),
        svc(AWS, data, "arn:aws:s3:::lumen-datasets", "lumen-datasets", "Bucket", s3, "Storage", "GB-Months",
            "0.021", "$0.021 per GB-Month of storage used in excess of 500 TB", {"user:cost-center": "cc-data"},
            storage(420_000, 480_000)),
        svc(AWS, ml, "arn:aws:s3:::lumen-checkpoints", "lumen-checkpoints", "Bucket", s3, "Storage", "GB-Months",
            "0.022", "$0.022 per GB-Month of storage used", {"user:team": "research"}, storage(150_000, 260_000)),
        svc(AWS, plat, "arn:aws:s3:::lumen-logs", "lumen-logs", "Bucket", s3, "Storage", "GB-Months", "0.023",
            "$0.023 per GB-Month of storage used", {}, storage(28_000, 41_000)),
        svc(AWS, data, "arn:aws:athena:us-east-1:048213570926:workgroup/analytics", "analytics", "Workgroup",
            ("Amazon Athena", "Analytics", "Data Processing"), "Data Scanned", "TB", "5.00",
            "$5.00 per TB for Standard Data Scanned", {"user:cost-center": "cc-data"}, daily(11, 0.3, 0.25)),
        svc(AWS, ml, f"arn:aws:ec2:us-east-1:012345678901:internet-gateway/igw-0{hexid(16)}", "igw-main",
            "Internet Gateway", ("AWS Data Transfer", "Networking", net), "Data Transfer", "GB", "0.05",
            "$0.050 per GB - US East (N. Virginia) data transfer to Internet (over 150 TB)", {},
            daily(4200, 0.25, spikes={81: 26_000, 82: 7_000})),  # the anomaly's checkpoint uploads
        svc(AWS, ml, f"arn:aws:ec2:us-east-1:012345678901:natgateway/nat-0{hexid(16)}", "nat-main", "NAT Gateway",
            ("Amazon Virtual Private Cloud", "Networking", net), "NAT Gateway", "GB", "0.045",
            "$0.045 per GB Data Processed by NAT Gateways", {}, daily(1900, 0.2)),
        vm(GCP, g_res, "lumen-a3-train-01", "a3-highgpu-8g", "88.25", {"team": "research"}, 8),
        vm(GCP, g_srv, "lumen-embed-01", "g2-standard-48", "3.9985", {"cost-center": "cc-inference"}, 4),
        *(vm(GCP, g_data, f"lumen-pipeline-0{i}", "n2-standard-16", "0.7769", {}) for i in range(1, 3)),
        svc(GCP, g_data, "//storage.googleapis.com/projects/_/buckets/lumen-training-data", "lumen-training-data",
            "Bucket", ("Cloud Storage", "Storage", "Object Storage"), "Storage", "GB-Months", "0.020",
            "Standard Storage Iowa", {"team": "data"}, storage(260_000, 310_000)),
        svc(GCP, g_data, "//bigquery.googleapis.com/projects/lumen-data-2291", "lumen-data-2291", "Project",
            ("BigQuery", "Databases", "Data Warehouses"), "Analysis", "TiB", "6.25", "Analysis (on-demand)",
            {"team": "data"}, daily(7, 0.35, 0.3)),
        svc(GCP, g_srv, "//container.googleapis.com/projects/lumen-serving-8812/locations/us-central1/clusters/serving",
            "serving", "Cluster", ("Kubernetes Engine", "Compute", "Containers"), "Cluster Management", "Hours",
            "0.10", "Regional Kubernetes Clusters", {"team": "platform"}, per_hour()),
        svc(GCP, g_srv, "//compute.googleapis.com/projects/lumen-serving-8812/global/networks/default", "default",
            "Network", ("Compute Engine", "Networking", net), "Network Egress", "GB", "0.08",
            "Network Internet Data Transfer Out from Americas to Americas", {}, daily(1100, 0.25)),
        vm(AZURE, a_res, "lumen-nd-h100-01", "Standard_ND96isr_H100_v5", "98.32", {"Team": "research"}, 8),
        *(vm(AZURE, a_shr, f"lumen-app-0{i}", "Standard_D16s_v5", "0.768", {"cost-center": "cc-platform"})
          for i in range(1, 3)),
        svc(AZURE, a_shr, f"/subscriptions/{a_shr[0]}/resourceGroups/rg-lumen-shared/providers/"
            "Microsoft.ContainerService/managedClusters/aks-shared", "aks-shared", "Managed cluster",
            ("Azure Kubernetes Service", "Compute", "Containers"), "Standard Uptime SLA", "Hours", "0.10",
            "Azure Kubernetes Service - Standard - Uptime SLA", {"Team": "platform"}, per_hour()),
        svc(AZURE, a_res, f"/subscriptions/{a_res[0]}/resourceGroups/rg-lumen-research/providers/"
            "Microsoft.Storage/storageAccounts/lumenresearchdata", "lumenresearchdata", "Storage account",
            ("Azure Blob Storage", "Storage", "Object Storage"), "Hot LRS Data Stored", "GB-Months", "0.0184",
            "Hot LRS Data Stored - US East", {"cost-center": "cc-research"}, storage(85_000, 95_000)),
        svc(AZURE, a_res, f"/subscriptions/{a_res[0]}/resourceGroups/rg-lumen-research/providers/"
            "Microsoft.Network/virtualNetworks/vnet-research", "vnet-research", "Virtual network",
            ("Bandwidth", "Networking", net), "Standard Data Transfer Out", "GB", "0.083",
            "Standard Data Transfer Out - Zone 1", {}, daily(350, 0.3)),
    ]


def month_of(when: datetime) -> tuple[datetime, datetime]:
    start = when.replace(day=1, hour=0)
    return start, (start + timedelta(days=32)).replace(day=1)


def base_row(cloud: Cloud, sub: tuple[str, str] | None, start: datetime, end: datetime) -> Row:
    """Every FOCUS column, with what all of a provider's rows share filled in."""
    period = month_of(start)
    row: Row = dict.fromkeys(FOCUS)
    row.update(ProviderName=cloud.name, PublisherName=cloud.publisher, InvoiceIssuerName=cloud.issuer,
               BillingAccountId=cloud.account[0], BillingAccountName=cloud.account[1],
               BillingAccountType=cloud.account[2], BillingCurrency="USD", PricingCurrency="USD",
               BillingPeriodStart=period[0], BillingPeriodEnd=period[1], ChargePeriodStart=start,
               ChargePeriodEnd=end, InvoiceId=cloud.invoices.get(f"{start:%Y-%m}"), Tags="{}")
    if sub:
        row.update(SubAccountId=sub[0], SubAccountName=sub[1], SubAccountType=cloud.sub_type)
    return row


def usage_rows(res: Resource) -> list[Row]:
    rng = random.Random(f"{SEED}:cost:{res.rid}")
    sku = "".join(rng.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(16))
    details = {"InstanceType": res.instance_type, "GpuCount": res.gpus, "OperatingSystem": "Linux"}
    rows = []
    for day in range(DAYS):
        qty = res.qty(day, rng)
        if qty <= 0:
            continue
        start = START + timedelta(days=day)
        row = base_row(res.cloud, res.sub, start, start + timedelta(days=1))
        list_cost = qty * res.price
        billed, effective = (Decimal(0), qty * SP_RATE) if res.committed else (list_cost, list_cost)
        row.update(ChargeCategory="Usage", ChargeFrequency="Usage-Based", ChargeDescription=res.description,
                   BilledCost=billed, EffectiveCost=effective, ListCost=list_cost, ContractedCost=list_cost,
                   ListUnitPrice=res.price, ContractedUnitPrice=res.price, PricingCurrencyListUnitPrice=res.price,
                   PricingCurrencyContractedUnitPrice=res.price, PricingCurrencyEffectiveCost=effective,
                   PricingQuantity=qty, PricingUnit=res.unit, ConsumedQuantity=qty, ConsumedUnit=res.unit,
                   PricingCategory="Committed" if res.committed else "Standard", RegionId=res.cloud.region[0],
                   RegionName=res.cloud.region[1], AvailabilityZone=res.cloud.region[2], ResourceId=res.rid,
                   ResourceName=res.name, ResourceType=res.rtype, ServiceName=res.service[0],
                   ServiceCategory=res.service[1], ServiceSubcategory=res.service[2], SkuId=sku, SkuMeter=res.meter,
                   SkuPriceId=f"{sku}.JRTCKXETXF", Tags=json.dumps(res.tags),
                   SkuPriceDetails=json.dumps(details) if res.instance_type else None)
        if res.committed:
            row.update(CommitmentDiscountId=SP_ID, CommitmentDiscountName="ComputeSavingsPlan-3yr-NoUpfront",
                       CommitmentDiscountCategory="Spend", CommitmentDiscountType="Savings Plan",
                       CommitmentDiscountStatus="Used", CommitmentDiscountQuantity=effective,
                       CommitmentDiscountUnit="USD")
        rows.append(row)
    return rows


def charge(cloud: Cloud, start: datetime, end: datetime, category: str, frequency: str, service: tuple[str, str],
           text: str, billed: Decimal, effective: Decimal) -> Row:
    """A row that is not metered usage: purchases, credits, tax."""
    row = base_row(cloud, None, start, end)
    row.update(ChargeCategory=category, ChargeFrequency=frequency, ChargeDescription=text, BilledCost=billed,
               EffectiveCost=effective, ServiceName=service[0], ServiceCategory=service[1],
               PricingCurrencyEffectiveCost=effective, RegionId=cloud.region[0], RegionName=cloud.region[1])
    if category == "Purchase":
        row.update(PricingCategory="Standard", ListCost=billed, ContractedCost=billed)
    return row


def monthly_rows(cloud: Cloud, usage: list[Row]) -> list[Row]:
    """The once-a-month charges: the Savings Plan fee, support, credits and AWS's tax on each service."""
    end = START + timedelta(days=DAYS)
    months = sorted({month_of(r["ChargePeriodStart"])[0] for r in usage})  # type: ignore[arg-type]
    rows: list[Row] = []
    for first in months:
        start, stop = max(first, START), min(month_of(first)[1], end)
        share = Decimal((stop - start).days) / (month_of(first)[1] - first).days  # the month's days in the window
        if cloud is GCP:
            rows.append(charge(cloud, start, stop, "Credit", "Recurring", ("Compute Engine", "Compute"),
                               "Google for Startups Cloud Program credit", -6000 * share, -6000 * share))
        if cloud is not AWS:
            continue
        hours = (month_of(first)[1] - start).days * 24  # the plan started 2026-08-23, billed a month ahead
        fee = charge(cloud, start, month_of(first)[1], "Purchase", "Recurring",
                     ("Savings Plans for AWS Compute usage", "Compute"),
                     "3 year No Upfront Compute Savings Plan, $21.00/hour", SP_RATE * hours, Decimal(0))
        fee.update(ResourceId=SP_ID, ResourceType="Savings Plan", CommitmentDiscountId=SP_ID,
                   CommitmentDiscountName="ComputeSavingsPlan-3yr-NoUpfront", CommitmentDiscountCategory="Spend",
                   CommitmentDiscountType="Savings Plan", CommitmentDiscountQuantity=SP_RATE * hours,
                   CommitmentDiscountUnit="USD", PricingQuantity=Decimal(hours), PricingUnit="Hours")
        month_usage = [r for r in usage if month_of(r["ChargePeriodStart"])[0] == first]  # type: ignore[arg-type]
        spend = sum((r["BilledCost"] for r in month_usage), Decimal(0))  # type: ignore[misc]
        support = sum(rate * max(Decimal(0), min(spend, top) - low) for low, top, rate in (
            (0, 10_000, Decimal("0.10")), (10_000, 80_000, Decimal("0.07")), (80_000, 250_000, Decimal("0.05")),
            (250_000, 10**9, Decimal("0.03"))))  # AWS Business Support's sliding scale
        rows += [fee, charge(cloud, start, stop, "Purchase", "Recurring", ("AWS Support (Business)", "Management and"
                             " Governance"), "AWS Support (Business)", support, support)]
        if first.month == 10:
            rows.append(charge(cloud, start, stop, "Credit", "One-Time", ("Amazon Elastic Compute Cloud", "Compute"),
                               "AWS Activate Credits", Decimal(-15000), Decimal(-15000)))
        taxable: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for r in month_usage + rows[-2:] if first.month != 10 else month_usage + rows[-3:-1]:
            taxable[(str(r["ServiceName"]), str(r["ServiceCategory"]))] += r["BilledCost"]  # type: ignore[operator]
        rows += [charge(cloud, start, stop, "Tax", "Recurring", service, f"Tax for {service[0]}",
                        amount * TAX_RATE, amount * TAX_RATE) for service, amount in sorted(taxable.items())]
    return rows
