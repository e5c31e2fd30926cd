"""What an Azure billing file is, told by its header: cost details in one of Azure's flavours, or another Cost
Management dataset that is not cost details (named, so the refusal says what to export instead).

Azure spells one column three ways: `CostInBillingCurrency` (Enterprise Agreement), `costInBillingCurrency`
(Microsoft Customer Agreement), `costinbillingcurrency` (tools that lower-case headers); portal downloads in other
languages write `Abonnement-GUID (SubscriptionGuid)`. Names are matched on a key that ignores all of that.
"""

from __future__ import annotations

import re
from pathlib import Path

from finops.errors import InputError

# The spellings the mapping uses. Any header that matches one of them, whatever its case, is renamed to it.
COLUMNS = (
    "BillingAccountId", "BillingAccountName", "BillingProfileId", "BillingProfileName", "BillingPeriodStartDate",
    "BillingPeriodEndDate", "ServicePeriodStartDate", "Date", "UsageDateTime", "Cost", "CostInBillingCurrency",
    "PreTaxCost", "BillingCurrency", "BillingCurrencyCode", "Currency", "ChargeType", "Frequency", "ProductName",
    "Product", "ProductId", "PricingModel", "BenefitId", "ReservationId", "UnitOfMeasure", "Quantity",
    "UsageQuantity", "ResourceLocation", "MeterRegion", "ResourceId", "InstanceId", "ResourceName", "MeterCategory",
    "ServiceFamily", "PartNumber", "MeterId", "MeterName", "SubscriptionId", "SubscriptionGuid", "SubscriptionName",
    "Tags", "PublisherName", "AdditionalInfo",
)  # fmt: skip
COST_COLUMNS = ("Cost", "CostInBillingCurrency", "PreTaxCost")  # the amount, as each flavour names it
DATE_COLUMNS = ("Date", "UsageDateTime")
_MARKERS = ("MeterCategory", "SubscriptionId", "SubscriptionGuid", "ChargeType")
_CANONICAL = {name.lower(): name for name in COLUMNS}
_LOCALISED = re.compile(r"^.*\(\s*([A-Za-z][A-Za-z0-9]*)\s*\)$")  # "Abonnement-GUID (SubscriptionGuid)"
EXPORT_INSTEAD = (
    "export cost details instead: Cost Management > Exports, dataset 'Cost and usage details (FOCUS)' (best), "
    "'actual cost' or 'amortized cost', then `finops ingest` the CSV (or sync it with an azure-exports source)"
)

# Other Cost Management datasets: (what it is, columns that all appear in it and in no cost-details file).
OTHER_DATASETS = (
    ("an Azure price sheet", ("MeterId", "UnitPrice", "EffectiveStartDate")),
    ("an Azure price sheet", ("MeterId", "UnitPrice", "PriceType")),
    ("an Azure price sheet", ("MeterId", "UnitPrice", "IncludedQuantity")),
    ("Azure reservation details", ("ReservationOrderId", "ReservedHours")),
    ("Azure reservation transactions", ("ReservationOrderId", "EventType")),
    ("Azure reservation recommendations", ("RecommendedQuantity",)),
    ("Azure reservation recommendations", ("NetSavings", "CostWithNoReservedInstances")),
    ("an Azure balance summary", ("BeginningBalance", "EndingBalance")),
    ("an Azure savings plan or benefit recommendation", ("BenefitType", "SavingsAmount")),
)


def column_key(name: str) -> str:
    """The name Azure means, lower-cased: surrounding space and BOM gone, a localised `Label (Name)` as Name."""
    clean = name.strip().lstrip("\ufeff").strip()
    localised = _LOCALISED.match(clean)
    return (localised[1] if localised else clean).lower()


def canonical_name(name: str) -> str:
    """A header as the mapping spells it when it is one the mapping reads; otherwise as written (the English
    name of a localised one), for x_Extras."""
    clean = name.strip().lstrip("\ufeff").strip()
    localised = _LOCALISED.match(clean)
    return _CANONICAL.get(column_key(name), localised[1] if localised else clean)


def _keys(header: list[str]) -> set[str]:
    return {column_key(name) for name in header}


def is_cost_details(header: list[str], path: Path | None = None) -> bool:
    """Azure cost details (EA, MCA, the pay-as-you-go usage details): an amount, a day, and one of the columns that
    say the row is an Azure charge. With `path`, another Cost Management dataset is refused, named as what it is."""
    keys = _keys(header)
    if {"billedcost", "chargeperiodstart"} <= keys:  # FOCUS, whatever else it carries
        return False
    found = (
        any(c.lower() in keys for c in COST_COLUMNS)
        and any(c.lower() in keys for c in DATE_COLUMNS)
        and any(c.lower() in keys for c in _MARKERS)
    )
    if not found and path is not None:
        kind = other_dataset(header)
        if kind:
            raise InputError(f"{path}: {kind}, not cost details: finops reads costs only", hint=EXPORT_INSTEAD)
    return found


def other_dataset(header: list[str]) -> str | None:
    """What a Cost Management file that is not cost details is (a price sheet, reservation details...), if known."""
    keys = _keys(header)
    return next((kind for kind, columns in OTHER_DATASETS if all(c.lower() in keys for c in columns)), None)


def flavour(header: list[str]) -> str:
    """`payg` (the pay-as-you-go usage details: PreTaxCost, usage only), `mca` (camelCase, or with service
    periods) or `ea`."""
    keys = _keys(header)
    if "pretaxcost" in keys and "chargetype" not in keys:
        return "payg"
    written = {name.strip().lstrip("\ufeff") for name in header}
    if "serviceperiodstartdate" in keys or "costInBillingCurrency" in written:
        return "mca"
    return "ea"


def duplicates(header: list[str]) -> list[str]:
    """Headers that name one column twice (`Cost` and `cost`): which one is meant cannot be told."""
    seen: dict[str, list[str]] = {}
    for name in header:
        seen.setdefault(column_key(name), []).append(name.strip().lstrip("\ufeff"))
    return [" and ".join(names) for names in seen.values() if len(names) > 1]
