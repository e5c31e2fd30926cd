"""Checks on billing rows before anything is written, and what an unreadable billing file looks like.

Every connector's `costs` frame passes `check_costs` (from focus_files.normalise_focus_frame); the direct parquet
path (focus_parquet) carries the same row checks as SQL guards, and falls back to the checked path when one fails,
so a refusal always names the file, the row, the column and the value. The store checks once more across the
whole load that a slice holds one currency (finops.store).
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import polars as pl

from finops.coerce import ROW
from finops.errors import InputError
from finops.schema import COSTS, MONEY, QUANTITY, TEXT

# ISO 4217 List One (the active codes), as published by SIX, the standard's maintenance agency, on 2024-06-25
# (list-one.xml), plus XCG, the Caribbean guilder (amendment 176, in use from 2025-03-31). XTS (reserved for
# testing) and XXX ("no currency") are left out: no bill is in either.
_ISO_4217_LIST_ONE = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD
    CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD
    OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP
    SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA
    XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG
"""
ISO_4217 = frozenset(_ISO_4217_LIST_ONE.split())
# DECIMAL(38, 15) leaves 23 integer digits, and a slice's total, a report's sum over months and the control totals
# are sums of many rows in that same type. Under 10^15 a row (a quadrillion: no bill line comes near it), 10^8
# rows at the limit still sum within 10^23. Past it, DuckDB stops the summary with
# "Overflow in SUM of DECIMAL" after the data was written, so such a value is refused before.
AMOUNT_LIMIT = Decimal(10) ** 15
AMOUNT_COLUMNS = tuple(name for name, sql_type in COSTS.columns if sql_type in (MONEY, QUANTITY))
TEXT_COLUMNS = tuple(name for name, sql_type in COSTS.columns if sql_type == TEXT)
# End before start is refused. End equal to start is allowed: FOCUS makes the end exclusive, so such a row is an
# instant (a charge written with one timestamp), an empty span rather than a negative one.
PERIODS = (("ChargePeriodStart", "ChargePeriodEnd"), ("BillingPeriodStart", "BillingPeriodEnd"))
_FIX = "fix the value in the source file, or export it again; nothing was loaded"


def check_costs(frame: pl.DataFrame, raw: pl.DataFrame, path: Path) -> None:
    """Refuse a `costs` frame (typed, with `_row` and `x_Source`) whose rows cannot be stored as they are: text with
    NUL bytes, a currency that is not ISO 4217, an end before its start, an amount whose sums would overflow, or one
    slice in two currencies. `raw` is the frame as read, whose text columns are all checked for NUL."""
    _check_nul(raw, path)
    _check_currency(frame, path)
    for start, end in PERIODS:
        _check_order(frame, start, end, path)
    _check_amounts(frame, path)
    _check_one_currency(frame, path)


def _first_row(frame: pl.DataFrame, mask: pl.Series) -> tuple[int, int]:
    index = int(mask.arg_true()[0])
    return index, int(frame.get_column(ROW)[index]) if ROW in frame.columns else index + 1


def _more(mask: pl.Series) -> str:
    count = int(mask.sum())
    return f" ({count - 1} more rows like it)" if count > 1 else ""


def _check_nul(raw: pl.DataFrame, path: Path) -> None:
    text = [name for name, dtype in raw.schema.items() if dtype == pl.String and name != ROW]
    if not text:
        return
    # Counting matches measured faster than `contains` (0.37 s against 0.52 s of CPU per million 57-column rows).
    found = raw.select(pl.col(text).str.count_matches("\x00", literal=True).sum())
    for name in [n for n in text if found.get_column(n)[0]]:
        mask = raw.get_column(name).str.contains("\x00", literal=True).fill_null(False)
        index, row = _first_row(raw, mask)
        raise InputError(
            f"{path}: row {row}, column {name}: {raw.get_column(name)[index]!r} holds a NUL byte{_more(mask)}",
            hint="no billing text holds NUL bytes: the file may be UTF-16 (save it as UTF-8) or damaged; " + _FIX,
        )


def _check_currency(frame: pl.DataFrame, path: Path) -> None:
    if "BillingCurrency" not in frame.columns:
        return
    column = frame.get_column("BillingCurrency")
    bad = [value for value in column.unique().drop_nulls().to_list() if value not in ISO_4217]
    if not bad:
        return
    mask = column.is_in(bad).fill_null(False)
    index, row = _first_row(frame, mask)
    value = column[index]
    close = value.strip().upper()
    suggestion = f"did you mean {close!r}? " if close in ISO_4217 else ""
    raise InputError(
        f"{path}: row {row}, column BillingCurrency: {value!r} is not an ISO 4217 currency code{_more(mask)}",
        hint=f"{suggestion}BillingCurrency is a three-letter code in capitals (USD, EUR, GBP, JPY...); " + _FIX,
    )


def _check_order(frame: pl.DataFrame, start: str, end: str, path: Path) -> None:
    if start not in frame.columns or end not in frame.columns:
        return
    mask = (frame.get_column(end) < frame.get_column(start)).fill_null(False)
    if not mask.any():
        return
    index, row = _first_row(frame, mask)
    raise InputError(
        f"{path}: row {row}, column {end}: {_time(frame.get_column(end)[index])} is before {start} "
        f"{_time(frame.get_column(start)[index])}{_more(mask)}",
        hint=f"FOCUS periods run from {start} (inclusive) to {end} (exclusive); " + _FIX,
    )


def _time(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else repr(value)


def _check_amounts(frame: pl.DataFrame, path: Path) -> None:
    present = [name for name in AMOUNT_COLUMNS if name in frame.columns]
    if not present:
        return
    found = frame.select((pl.col(present).abs() >= AMOUNT_LIMIT).any())
    for name in [n for n in present if found.get_column(n)[0]]:
        mask = (frame.get_column(name).abs() >= AMOUNT_LIMIT).fill_null(False)
        index, row = _first_row(frame, mask)
        value = frame.get_column(name)[index].normalize()
        raise InputError(
            f"{path}: row {row}, column {name}: {value:f} is beyond the amounts finops can sum exactly (under 10^15 "
            f"a row){_more(mask)}",
            hint="an amount this size is almost always a misplaced decimal point or a unit mix-up; " + _FIX,
        )


def _check_one_currency(frame: pl.DataFrame, path: Path) -> None:
    """One slice (source, billing period) is summed into one total, so its rows must share one currency."""
    keys = list(COSTS.slice_by)
    if not {"BillingCurrency", *keys} <= set(frame.columns) or frame.get_column("BillingCurrency").n_unique() < 2:
        return
    firsts = (
        frame.filter(pl.col("BillingCurrency").is_not_null())
        .group_by([*keys, "BillingCurrency"])
        .agg(pl.col(ROW).min())
        .sort(ROW)
    )
    for key, group in firsts.group_by(keys, maintain_order=True):
        if group.height < 2:
            continue
        currencies = group.get_column("BillingCurrency").to_list()
        second, row = currencies[1], group.get_column(ROW)[1]
        source, period = key
        raise InputError(
            f"{path}: row {row}, column BillingCurrency: {second!r}, but the rows before it in source {source}, "
            f"billing period {_time(period)[:10]} are in {currencies[0]!r} (currencies seen: "
            f"{', '.join(sorted(currencies))})",
            hint="a billing period's rows are summed into one total, so they must share one currency: load each "
            "currency's files under its own --source, or export the bill in one currency; nothing was loaded",
        )


def check_header(path: Path, header: list[str]) -> list[str]:
    """The header, once no column appears twice, in any case (`BilledCost` and `billedcost` would both be read as
    BilledCost). Legacy CUR tag columns are compared exactly: AWS tag keys are case-sensitive, so a real export can
    hold `resourceTags/user:Team` and `resourceTags/user:team`; finops.tags makes them one key (the first wins), as
    it does for tags in every other form."""
    counts = Counter(name if name.startswith("resourceTags/") else name.lower() for name in header)
    repeated = [name for name in header if counts[name if name.startswith("resourceTags/") else name.lower()] > 1]
    if repeated:
        raise InputError(
            f"{path}: duplicate column(s) {', '.join(repeated)}: column names are matched without regard to case, "
            "so these name one column more than once",
            hint="remove or rename the extra column(s) and load the file again; nothing was loaded",
        )
    return header


def sql_guards(columns: dict[str, str]) -> list[str]:
    """The direct parquet path's `costs` expressions (name -> SQL over the typed columns), each wrapped so a row
    `check_costs` would refuse stops the INSERT instead; the load then runs on the checked path, which names the row.
    One slice in one currency is the store's check (finops.store)."""
    codes = ", ".join(f"'{code}'" for code in sorted(ISO_4217))  # our own constant, [A-Z]{3} only
    guarded = dict(columns)
    for name in TEXT_COLUMNS:
        if not name.startswith("x_"):  # finops's own columns, derived from the ones checked here
            guarded[name] = _guard(guarded[name], "contains({x}, chr(0))", "NUL byte")
    guarded["x_Extras"] = _guard(guarded["x_Extras"], "contains(CAST({x} AS VARCHAR), '\\u0000')", "NUL byte")
    guarded["BillingCurrency"] = _guard(guarded["BillingCurrency"], "{x} NOT IN (" + codes + ")", "not ISO 4217")
    for name in AMOUNT_COLUMNS:
        guarded[name] = _guard(guarded[name], "abs({x}) >= " + f"{AMOUNT_LIMIT:f}", "amount out of range")
    for start, end in PERIODS:
        guarded[end] = _guard(guarded[end], "{x} < (" + columns[start] + ")", "end before start")
    return [guarded[name] for name, _ in COSTS.columns]


def _guard(expr: str, condition: str, what: str) -> str:
    return f"CASE WHEN {condition.replace('{x}', f'({expr})')} THEN error('{what}') ELSE {expr} END"


# What a file that is none of the formats finops reads looks like, by the columns that give it away.
_OCI_COST = ("lineitem/referenceno", "cost/mycost")
_OCI_USAGE = ("lineitem/referenceno", "usage/consumedquantity")
_GCP = ("billing_account_id", "cost", "usage_start_time")


def describe_unknown(header: list[str]) -> str | None:
    """What a header that is neither FOCUS Cost and Usage, a CUR nor Azure cost details looks like, and what to do
    with such a file; None when it looks like nothing finops knows."""
    names = {name.strip().lstrip("\ufeff").lower() for name in header}
    if "contractcommitmentid" in names and "billedcost" not in names:
        return (
            "a FOCUS 1.3 Contract Commitment dataset (ContractCommitmentId, no BilledCost), not Cost and Usage rows; "
            "load the Cost and Usage dataset of the same export"
        )
    if "amortizedcost" in names and "billedcost" in names and "effectivecost" not in names:
        return (
            "a FOCUS 0.5 file (AmortizedCost, which FOCUS 1.0 renamed EffectiveCost; ChargeType became "
            "ChargeCategory); export the bill again as FOCUS 1.0 or later"
        )
    if all(name in names for name in _OCI_COST):
        return (
            "an Oracle Cloud (OCI) cost report (lineItem/referenceNo, cost/myCost), OCI's own format; OCI writes FOCUS "
            "reports too (Billing & Cost Management > Cost and Usage Reports > FOCUS Reports): load those"
        )
    if all(name in names for name in _OCI_USAGE) or ("lineitem/referenceno" in names and "product/service" in names):
        return (
            "an Oracle Cloud (OCI) usage report (lineItem/referenceNo, no cost columns); load OCI's FOCUS reports "
            "(Billing & Cost Management > Cost and Usage Reports > FOCUS Reports)"
        )
    if all(name in names for name in _GCP) and ("credits" in names or "invoice.month" in names or "invoice" in names):
        return (
            "a Google Cloud billing export from BigQuery (billing_account_id, cost, credits, invoice.month), saved as "
            "a file; finops reads it from BigQuery itself: configure the gcp-billing-export source and run finops sync"
        )
    if "metercategory" in names and names & {"costinbillingcurrency", "pretaxcost", "cost"}:
        return (
            "Azure cost details in a layout finops does not read (MeterCategory and a cost column, but not the "
            "columns of an EA, MCA or pay-as-you-go export); export a FOCUS cost export from Cost Management instead"
        )
    return None


def describe_unknown_file(path: Path) -> str | None:
    """What a file of a type finops does not read looks like: BigQuery writes a billing export as newline-delimited
    JSON, one object a line."""
    if not path.name.lower().endswith((".json", ".jsonl", ".ndjson")):
        return None
    try:
        with path.open(encoding="utf-8-sig") as handle:
            first = json.loads(handle.readline() or "null")
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    seen = describe_unknown(list(first)) if isinstance(first, dict) else None
    return f"it looks like {seen}" if seen else None
