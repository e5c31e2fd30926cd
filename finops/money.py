"""Money is Decimal end to end; this is the one place that turns it into text."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
CENT = Decimal("0.01")


def format_money(amount: Decimal, currency: str = "USD", *, places: int = 2) -> str:
    """`$1,234.57`, `-$3.10`, `1,234.57 CHF`. Rounds half-even at display only; sums stay exact."""
    quantum = Decimal(1).scaleb(-places)
    rounded = amount.quantize(quantum, rounding=ROUND_HALF_EVEN)
    sign = "-" if rounded < 0 else ""
    body = f"{abs(rounded):,.{places}f}"
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{body}" if symbol else f"{sign}{body} {currency}"


def change_ratio(amount: Decimal, previous: Decimal) -> Decimal | None:
    """Relative change; None when there is nothing to compare with."""
    if previous == 0:
        return None
    return (amount - previous) / abs(previous)


def format_change(amount: Decimal, previous: Decimal) -> str:
    ratio = change_ratio(amount, previous)
    if ratio is None:
        return "new" if amount else "-"
    return f"{ratio * 100:+.1f}%"


def exact_text(amount: Decimal) -> str:
    """Exact decimal text for JSON/CSV: no exponent, trailing zeros trimmed to at least two places."""
    text = f"{amount:f}"
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(2, "0")
        return f"{whole}.{frac}"
    return f"{text}.00"
