"""Azure cost details (EA and MCA "ActualCost" and "AmortizedCost" exports, and the older usage-details CSV) as
FOCUS 1.2 `costs` rows. Azure's own FOCUS export (`FocusCost`) needs none of this: it reads as FOCUS.

The two datasets answer different questions, and each reconciles to its own file to the cent:
- **actual** is the invoice: `BilledCost` is `Cost`. It holds commitment purchases whole and commitment-covered
  usage at 0, so it cannot say what anything cost amortised: `EffectiveCost` equals `BilledCost` there.
- **amortized** spreads commitments over the usage they cover: `EffectiveCost` is `Cost`. Covered usage and unused
  commitment were not billed as such (the purchase was), so their `BilledCost` is 0.
Both load under the same default source as Azure's FOCUS export (`focus:Microsoft:<billing account>`), so a
period loaded from one replaces what another loaded: nothing is ever counted twice. For both views at once, use a
FocusCost export, which has both columns on every row.

Column meanings follow Microsoft's cost-details field reference and its FOCUS conversion (ChargeType, PricingModel,
Frequency); `UnitOfMeasure` such as `10 Hours` scales the quantity into plain hours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from finops.coerce import ROW, coerce
from finops.connectors.focus_files import BATCH_ROWS, normalise_focus_frame, numbered_batches
from finops.errors import InputError
from finops.schema import MONEY, TIMESTAMP, Table

DATASETS = ("actual", "amortized")
COST_COLUMNS = ("Cost", "CostInBillingCurrency", "PreTaxCost")
MARKERS = {"MeterCategory", "SubscriptionId", "ChargeType"}
CHARGE_CATEGORY = {"usage": "Usage", "purchase": "Purchase", "refund": "Credit", "tax": "Tax",
                   "unusedreservation": "Usage", "unusedsavingsplan": "Usage", "roundingadjustment": "Adjustment",
                   "adjustment": "Adjustment"}  # fmt: skip
FREQUENCY = {"usagebased": "Usage-Based", "recurring": "Recurring", "onetime": "One-Time"}
PRICING = {"ondemand": "Standard", "reservation": "Committed", "savingsplan": "Committed", "spot": "Dynamic"}
COMMITMENT = {"reservation": "Reservation", "savingsplan": "Savings Plan"}
SERVICE_CATEGORY = {"compute": "Compute", "storage": "Storage", "networking": "Networking", "databases": "Databases",
                    "ai + machine learning": "AI and Machine Learning", "analytics": "Analytics",
                    "security": "Security", "management and governance": "Management and Governance",
                    "containers": "Compute", "web": "Web", "integration": "Integration"}  # fmt: skip
_UNIT = re.compile(r"^\s*([0-9][0-9,]*)\s+(.+?)\s*$")


def is_cost_details(header: list[str]) -> bool:
    names = {h.strip().lstrip("\ufeff") for h in header}
    return names >= MARKERS and any(c in names for c in COST_COLUMNS)


def dataset_from_name(path: Path) -> str:
    """Azure names the export's files after its dataset; a file called anything else is taken as actual."""
    return "amortized" if re.search(r"amorti[sz]ed", path.name, re.IGNORECASE) else "actual"


def read_cost_details_batches(path: Path, *, dataset: str, source: str | None = None,
                              batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:  # fmt: skip
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}")
    for raw in numbered_batches(path, batch_rows):
        raw = raw.rename({c: c.strip().lstrip("\ufeff") for c in raw.columns})
        yield normalise_focus_frame(cost_details_to_focus(raw, dataset, str(path)), path, source, f"azure-{dataset}")


def cost_details_to_focus(raw: pl.DataFrame, dataset: str, file: str) -> pl.DataFrame:
    """Raw cost-details columns (text, plus `_row`) as FOCUS 1.2 columns, `_row` and the rest as extras."""
    cost_column = next((c for c in COST_COLUMNS if c in raw.columns), None)
    if cost_column is None:
        raise InputError(f"{file}: no cost column", hint=f"Azure cost details carry one of {', '.join(COST_COLUMNS)}")
    money = Table("azure", ((cost_column, MONEY), ("Quantity", MONEY)), slice_by=())
    numbers = coerce(raw.select(ROW, cost_column, _text(raw, "Quantity").alias("Quantity")), money, file=file)
    cost, quantity = numbers.get_column(cost_column), numbers.get_column("Quantity")
    charge = _text(raw, "ChargeType").str.to_lowercase()
    pricing = _text(raw, "PricingModel").str.to_lowercase()
    committed = pricing.is_in(["reservation", "savingsplan"])
    zero = pl.lit(0, pl.Decimal(38, 15))
    if dataset == "actual":
        billed, effective = pl.lit(cost), pl.lit(cost)
    else:  # covered usage and unused commitment were paid for by the purchase, not billed as themselves
        billed = pl.when(committed & ~charge.is_in(["purchase"])).then(zero).otherwise(pl.lit(cost))
        effective = pl.lit(cost)
    unit_scale, unit = _units(raw)
    period_end = _text(raw, "BillingPeriodEndDate")
    frame = raw.select(
        ROW,
        _text(raw, "BillingAccountId").alias("BillingAccountId"),
        _text(raw, "BillingAccountName").alias("BillingAccountName"),
        _text(raw, "BillingPeriodStartDate").alias("BillingPeriodStart"),
        period_end.alias("_period_end"),
        _text(raw, "Date").alias("ChargePeriodStart"),
        billed.alias("BilledCost"),
        effective.alias("EffectiveCost"),
        pl.coalesce(_text(raw, "BillingCurrency"), _text(raw, "BillingCurrencyCode")).alias("BillingCurrency"),
        charge.replace_strict(CHARGE_CATEGORY, default="Usage").alias("ChargeCategory"),
        _text(raw, "Frequency").str.to_lowercase().replace_strict(FREQUENCY, default=None).alias("ChargeFrequency"),
        _text(raw, "ProductName").fill_null(_text(raw, "Product")).alias("ChargeDescription"),
        pricing.replace_strict(PRICING, default=None).alias("PricingCategory"),
        pl.when(committed)
        .then(pl.coalesce(_text(raw, "benefitId"), _text(raw, "ReservationId")))
        .alias("CommitmentDiscountId"),
        pricing.replace_strict(COMMITMENT, default=None).alias("CommitmentDiscountType"),
        pl.when(committed & charge.is_in(["usage"]))
        .then(pl.lit("Used"))
        .when(charge.is_in(["unusedreservation", "unusedsavingsplan"]))
        .then(pl.lit("Unused"))
        .alias("CommitmentDiscountStatus"),
        _text(raw, "UnitOfMeasure").alias("PricingUnit"),
        _text(raw, "Quantity").alias("PricingQuantity"),
        unit.alias("ConsumedUnit"),
        _text(raw, "ResourceLocation").str.to_lowercase().alias("RegionId"),
        _text(raw, "MeterRegion").alias("RegionName"),
        _text(raw, "ResourceId").alias("ResourceId"),
        pl.coalesce(_text(raw, "ResourceName"), _text(raw, "ResourceId").str.extract(r"([^/]+)$")).alias(
            "ResourceName"
        ),
        _text(raw, "ResourceId").str.extract(r"/providers/([^/]+/[^/]+)/").alias("ResourceType"),
        _text(raw, "MeterCategory").alias("ServiceName"),
        _text(raw, "ServiceFamily")
        .str.to_lowercase()
        .replace_strict(SERVICE_CATEGORY, default="Other")
        .alias("ServiceCategory"),
        _text(raw, "PartNumber").alias("SkuId"),
        _text(raw, "MeterId").alias("SkuPriceId"),
        _text(raw, "MeterName").alias("SkuMeter"),
        _text(raw, "SubscriptionId").alias("SubAccountId"),
        _text(raw, "SubscriptionName").alias("SubAccountName"),
        _tags(raw).alias("Tags"),
        _instance_type(raw).alias("SkuPriceDetails"),
        pl.lit("Microsoft").alias("ProviderName"),
        pl.coalesce(_text(raw, "PublisherName"), pl.lit("Microsoft")).alias("PublisherName"),
        pl.lit("Microsoft").alias("InvoiceIssuerName"),
        *(pl.col(c) for c in raw.columns if c not in _USED and c != ROW),
    )
    # Azure writes the period's last day; FOCUS ends are exclusive. Quantities like "10 Hours" are scaled.
    frame = frame.with_columns(pl.lit(quantity * unit_scale).alias("ConsumedQuantity"))
    return _shift_ends(frame, file)


_USED = {"BillingAccountId", "BillingAccountName", "BillingPeriodStartDate", "BillingPeriodEndDate", "Date", "Cost",
         "CostInBillingCurrency", "PreTaxCost", "BillingCurrency", "BillingCurrencyCode", "ChargeType", "Frequency",
         "ProductName", "Product", "PricingModel", "benefitId", "ReservationId", "UnitOfMeasure", "Quantity",
         "ResourceLocation", "MeterRegion", "ResourceId", "ResourceName", "MeterCategory", "ServiceFamily",
         "PartNumber", "MeterId", "MeterName", "SubscriptionId", "SubscriptionName", "Tags",
         "PublisherName"}  # fmt: skip


def _shift_ends(frame: pl.DataFrame, file: str) -> pl.DataFrame:
    """Type the three dates here (so a bad one names Azure's own column) and make the ends exclusive."""
    dates = Table("dates", (("ChargePeriodStart", TIMESTAMP), ("BillingPeriodStart", TIMESTAMP),
                            ("_period_end", TIMESTAMP)), slice_by=())  # fmt: skip
    typed = coerce(frame.select(ROW, "ChargePeriodStart", "BillingPeriodStart", "_period_end"), dates, file=file)
    day = pl.duration(days=1)
    return frame.drop("_period_end").with_columns(
        typed.get_column("ChargePeriodStart").alias("ChargePeriodStart"),
        (typed.get_column("ChargePeriodStart") + day).alias("ChargePeriodEnd"),
        typed.get_column("BillingPeriodStart").alias("BillingPeriodStart"),
        (typed.get_column("_period_end") + day).alias("BillingPeriodEnd"),
    )


def _text(raw: pl.DataFrame, name: str) -> pl.Expr:
    if name not in raw.columns:
        return pl.lit(None, pl.String)
    column = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(column == "").then(None).otherwise(column)


def _units(raw: pl.DataFrame) -> tuple[pl.Series, pl.Expr]:
    """`10 Hours` is a quantity in tens of hours: the scale (10) and the plain unit (Hours)."""
    units = raw.get_column("UnitOfMeasure").cast(pl.String) if "UnitOfMeasure" in raw.columns else pl.Series(
        [None] * raw.height, dtype=pl.String)  # fmt: skip
    scales, names = [], []
    for value in units.to_list():
        match = _UNIT.match(value or "")
        scales.append(int(match[1].replace(",", "")) if match else 1)
        names.append(match[2] if match else value)
    return pl.Series(scales, dtype=pl.Decimal(38, 15)), pl.lit(pl.Series(names, dtype=pl.String))


def _tags(raw: pl.DataFrame) -> pl.Expr:
    """Azure writes tags as JSON without braces (`"a": "b","c": "d"`); normalised later like any tags."""
    if "Tags" not in raw.columns:
        return pl.lit(None, pl.String)
    column = pl.col("Tags").cast(pl.String).str.strip_chars()
    braced = pl.concat_str(pl.lit("{"), column, pl.lit("}"))
    return pl.when(column == "").then(None).when(column.str.starts_with("{")).then(column).otherwise(braced)


def _instance_type(raw: pl.DataFrame) -> pl.Expr:
    """The VM size is in AdditionalInfo's `ServiceType` (e.g. Standard_ND96isr_H100_v5): as FOCUS puts it, in
    SkuPriceDetails.InstanceType."""
    if "AdditionalInfo" not in raw.columns:
        return pl.lit(None, pl.String)
    sizes = []
    for text in raw.get_column("AdditionalInfo").cast(pl.String).to_list():
        size = None
        if text and text.strip().startswith("{"):
            try:
                size = json.loads(text).get("ServiceType")
            except (ValueError, AttributeError):
                size = None
        sizes.append(json.dumps({"InstanceType": size}) if size else None)
    return pl.lit(pl.Series(sizes, dtype=pl.String))
