"""Azure cost details (EA and MCA "ActualCost" and "AmortizedCost" exports, and the older pay-as-you-go
usage-details CSV) as FOCUS 1.2 `costs` rows. Azure's own FOCUS export (`FocusCost`) needs none of this: it reads
as FOCUS. Header names are matched whatever their case (finops.connectors.azure_headers).

The two datasets answer different questions, and each reconciles to its own file to the cent:
- **actual** is the invoice: `BilledCost` is `Cost`. It holds commitment purchases whole and commitment-covered
  usage at 0, so it cannot say what anything cost amortised: `EffectiveCost` equals `BilledCost` there.
- **amortized** spreads commitments over the usage they cover: `EffectiveCost` is `Cost`. Covered usage and unused
  commitment were not billed as such (the purchase was), so their `BilledCost` is 0.
Both load under the same default source as Azure's FOCUS export (`focus:Microsoft:<billing account>`), so a
period loaded from one replaces what another loaded: nothing is ever counted twice. For both views at once, use a
FocusCost export, which has both columns on every row.

Column meanings follow Microsoft's cost-details field reference and its FOCUS conversion (ChargeType, PricingModel,
Frequency); `UnitOfMeasure` such as `10 Hours` scales the quantity into plain hours. The flavours differ where
Microsoft's conversion says they do: an MCA invoice is the billing profile's, so its BillingAccountId is the
billing profile; the pay-as-you-go usage details hold on-demand usage only. Where a file leaves the billing period
empty (MCA files often do), it is the calendar month (UTC) of the charge's day.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from finops.coerce import ROW, coerce
from finops.connectors.azure_headers import (
    COLUMNS,
    COST_COLUMNS,
    DATE_COLUMNS,
    EXPORT_INSTEAD,
    canonical_name,
    duplicates,
    flavour,
    is_cost_details,
    other_dataset,
)
from finops.connectors.focus_files import BATCH_ROWS, normalise_focus_frame, numbered_batches, read_errors, read_header
from finops.errors import InputError
from finops.schema import FOCUS_COLUMNS, MONEY, TIMESTAMP, Table

__all__ = ["DATASETS", "dataset_from_name", "is_cost_details", "read_cost_details_batches"]
DATASETS = ("actual", "amortized")
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
FOCUS_NAMES = tuple(name for name, _ in FOCUS_COLUMNS)
_UNIT = re.compile(r"^\s*([0-9][0-9,]*)\s+(.+?)\s*$")


def dataset_from_name(path: Path) -> str:
    """Azure names the export's files after its dataset; a file called anything else is taken as actual."""
    return "amortized" if re.search(r"amorti[sz]ed", path.name, re.IGNORECASE) else "actual"


def read_cost_details_batches(path: Path, *, dataset: str, source: str | None = None,
                              batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:  # fmt: skip
    """The header is checked first: a file that is not cost details is refused, named as what it is."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}")
    header = read_errors(path, lambda: read_header(path))
    _check_header(path, header)
    kind = flavour(header)
    for raw in numbered_batches(path, batch_rows):
        frame = cost_details_to_focus(raw, dataset, str(path), kind)
        yield normalise_focus_frame(frame, path, source, f"azure-{dataset}")


def _check_header(path: Path, header: list[str]) -> None:
    twice = duplicates(header)
    if twice:
        raise InputError(f"{path}: column(s) named twice: {'; '.join(twice)}",
                         hint="finops reads Azure column names whatever their case, so keep one of each")  # fmt: skip
    if not is_cost_details(header, path):
        kind = other_dataset(header) or "not Azure cost details"
        raise InputError(
            f"{path}: {kind}: no {' / '.join(COST_COLUMNS)} column with a {' / '.join(DATE_COLUMNS)} column",
            hint=EXPORT_INSTEAD,
        )


def cost_details_to_focus(raw: pl.DataFrame, dataset: str, file: str, kind: str = "ea") -> pl.DataFrame:
    """Raw cost-details columns (text, plus `_row`) as FOCUS 1.2 columns, `_row` and the rest as extras (named as
    the file writes them). `kind` is the flavour (ea, mca, payg)."""
    written = {canonical_name(c): c.strip().lstrip("\ufeff") for c in raw.columns if c != ROW}
    raw = raw.rename({c: canonical_name(c) for c in raw.columns if c != ROW})
    cost_column = next((c for c in COST_COLUMNS if c in raw.columns), None)
    if cost_column is None:
        raise InputError(f"{file}: no cost column", hint=f"Azure cost details carry one of {', '.join(COST_COLUMNS)}")
    money = Table("azure", ((cost_column, MONEY), ("Quantity", MONEY)), slice_by=())
    quantity_text = pl.coalesce(_text(raw, "Quantity"), _text(raw, "UsageQuantity"))
    numbers = coerce(raw.select(ROW, cost_column, quantity_text.alias("Quantity")), money, file=file)
    cost, quantity = numbers.get_column(cost_column), numbers.get_column("Quantity")
    if cost.is_null().any():
        row = numbers.get_column(ROW)[int(cost.is_null().arg_true()[0])]
        raise InputError(f"{file}: row {row}, column {cost_column}: empty, but every Azure cost-details row has a cost",
                         hint="export the file again; nothing was loaded")  # fmt: skip
    usage_only = kind == "payg"  # the pay-as-you-go usage details: on-demand usage, nothing else
    charge = _text(raw, "ChargeType").str.to_lowercase()
    pricing = _text(raw, "PricingModel").str.to_lowercase()
    if usage_only:
        pricing = pricing.fill_null(pl.lit("ondemand"))
    committed = pricing.is_in(["reservation", "savingsplan"])
    zero = pl.lit(0, pl.Decimal(38, 15))
    # The source's own total, per billing period, for the store to check what the mapping gives against.
    control = pl.lit(cost).alias("_control_billed" if dataset == "actual" else "_control_effective")
    if dataset == "actual":
        billed, effective = pl.lit(cost), pl.lit(cost)
    else:  # covered usage and unused commitment were paid for by the purchase, not billed as themselves
        billed = pl.when(committed & ~charge.is_in(["purchase"])).then(zero).otherwise(pl.lit(cost))
        effective = pl.lit(cost)
    unit_scale, unit = _units(raw)
    resource = pl.coalesce(_text(raw, "ResourceId"), _text(raw, "InstanceId"))
    # Microsoft's FOCUS conversion: an MCA invoice belongs to the billing profile, which is FOCUS's billing account.
    # A pay-as-you-go subscription is invoiced on its own: it is the billing account.
    account, account_name = {"mca": ("BillingProfileId", "BillingProfileName"),
                             "payg": ("SubscriptionGuid", "SubscriptionName")}.get(kind, ("", ""))  # fmt: skip
    frequency = _text(raw, "Frequency").fill_null(pl.lit("usagebased") if usage_only else pl.lit(None, pl.String))
    frame = raw.select(
        ROW,
        pl.coalesce(_text(raw, account), _text(raw, "BillingAccountId")).alias("BillingAccountId"),
        pl.coalesce(_text(raw, account_name), _text(raw, "BillingAccountName")).alias("BillingAccountName"),
        _text(raw, "BillingPeriodStartDate").alias("BillingPeriodStart"),
        _text(raw, "BillingPeriodEndDate").alias("_period_end"),
        pl.coalesce(_text(raw, "Date"), _text(raw, "UsageDateTime"), _text(raw, "ServicePeriodStartDate")).alias(
            "ChargePeriodStart"
        ),
        billed.alias("BilledCost"),
        effective.alias("EffectiveCost"),
        control,
        pl.coalesce(_text(raw, "BillingCurrency"), _text(raw, "BillingCurrencyCode"), _text(raw, "Currency")).alias(
            "BillingCurrency"
        ),
        charge.replace_strict(CHARGE_CATEGORY, default="Usage").alias("ChargeCategory"),
        frequency.str.to_lowercase().replace_strict(FREQUENCY, default=None).alias("ChargeFrequency"),
        _text(raw, "ProductName").fill_null(_text(raw, "Product")).alias("ChargeDescription"),
        pricing.replace_strict(PRICING, default=None).alias("PricingCategory"),
        pl.when(committed)
        .then(pl.coalesce(_text(raw, "BenefitId"), _text(raw, "ReservationId")))
        .alias("CommitmentDiscountId"),
        pricing.replace_strict(COMMITMENT, default=None).alias("CommitmentDiscountType"),
        pl.when(committed & charge.is_in(["usage"]))
        .then(pl.lit("Used"))
        .when(charge.is_in(["unusedreservation", "unusedsavingsplan"]))
        .then(pl.lit("Unused"))
        .alias("CommitmentDiscountStatus"),
        _text(raw, "UnitOfMeasure").alias("PricingUnit"),
        quantity_text.alias("PricingQuantity"),
        unit.alias("ConsumedUnit"),
        _text(raw, "ResourceLocation").str.to_lowercase().alias("RegionId"),
        _text(raw, "MeterRegion").alias("RegionName"),
        resource.alias("ResourceId"),
        pl.coalesce(_text(raw, "ResourceName"), resource.str.extract(r"([^/]+)$")).alias("ResourceName"),
        resource.str.extract(r"/providers/([^/]+/[^/]+)/").alias("ResourceType"),
        _text(raw, "MeterCategory").alias("ServiceName"),
        _text(raw, "ServiceFamily")
        .str.to_lowercase()
        .replace_strict(SERVICE_CATEGORY, default="Other")
        .alias("ServiceCategory"),
        pl.coalesce(_text(raw, "ProductId"), _text(raw, "PartNumber")).alias("SkuId"),
        _text(raw, "MeterId").alias("SkuPriceId"),
        _text(raw, "MeterName").alias("SkuMeter"),
        pl.coalesce(_text(raw, "SubscriptionId"), _text(raw, "SubscriptionGuid")).alias("SubAccountId"),
        _text(raw, "SubscriptionName").alias("SubAccountName"),
        _tags(raw).alias("Tags"),
        _instance_type(raw).alias("SkuPriceDetails"),
        pl.lit("Microsoft").alias("ProviderName"),
        pl.coalesce(_text(raw, "PublisherName"), pl.lit("Microsoft")).alias("PublisherName"),
        pl.lit("Microsoft").alias("InvoiceIssuerName"),
        *_extras(raw, kind, written),
    )
    # Azure writes the period's last day; FOCUS ends are exclusive. Quantities like "10 Hours" are scaled.
    frame = frame.with_columns(pl.lit(quantity * unit_scale).alias("ConsumedQuantity"))
    return _shift_ends(frame, file)


# Columns whose value a FOCUS column carries; the rest go to x_Extras as written. An MCA file's billing account is
# the agreement's, above the profile FOCUS calls the billing account, so it stays in x_Extras.
_CANONICAL_SET = set(COLUMNS)
_KEPT = {"BillingProfileId", "BillingProfileName", "ServicePeriodStartDate", "AdditionalInfo"}
_USED = {"ea": set(COLUMNS) - _KEPT, "payg": set(COLUMNS) - _KEPT,
         "mca": set(COLUMNS) - _KEPT - {"BillingAccountId", "BillingAccountName"} | {"BillingProfileId",
                                                                                   "BillingProfileName"}}  # fmt: skip


def _extras(raw: pl.DataFrame, kind: str, written: dict[str, str]) -> list[pl.Expr]:
    """Columns no FOCUS column carries, named as written (a localised one in English); one whose name FOCUS uses
    for something else (an MCA file's BillingAccountId, the usage details' ResourceType) gets Microsoft's `x_`
    prefix, as its FOCUS export does."""
    focus = set(FOCUS_NAMES)
    names = {c: f"x_{c}" if c in focus else written[c] if c in _CANONICAL_SET else c for c in raw.columns}
    return [pl.col(c).alias(names[c]) for c in raw.columns if c not in _USED[kind] and c != ROW]


def _shift_ends(frame: pl.DataFrame, file: str) -> pl.DataFrame:
    """Type the three dates here (so a bad one names Azure's own column) and make the ends exclusive."""
    dates = Table("dates", (("ChargePeriodStart", TIMESTAMP), ("BillingPeriodStart", TIMESTAMP),
                            ("_period_end", TIMESTAMP)), slice_by=())  # fmt: skip
    typed = coerce(frame.select(ROW, "ChargePeriodStart", "BillingPeriodStart", "_period_end"), dates, file=file)
    charge_start = typed.get_column("ChargePeriodStart")
    given_start, given_end = typed.get_column("BillingPeriodStart"), typed.get_column("_period_end")
    # Where the file leaves the billing period empty, it is the calendar month (UTC) of the charge's day.
    start = given_start.fill_null(charge_start.dt.truncate("1mo"))
    end = pl.select(
        pl.when(given_start.is_not_null() & given_end.is_not_null())
        .then(given_end + pl.duration(days=1))
        .otherwise(start.dt.offset_by("1mo"))
    ).to_series()
    return frame.drop("_period_end").with_columns(
        charge_start.alias("ChargePeriodStart"),
        (charge_start + pl.duration(days=1)).alias("ChargePeriodEnd"),
        start.alias("BillingPeriodStart"),
        end.alias("BillingPeriodEnd"),
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
