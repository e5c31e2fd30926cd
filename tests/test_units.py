"""Small pieces with exact answers: tag keys, periods, money text, value coercion."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finops.coerce import _decimals, _timestamps
from finops.errors import UsageError
from finops.money import exact_text, format_change, format_money
from finops.output.tabular import neutralise
from finops.periods import resolve_period
from finops.tags import normalize_key, parse_tags


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("team", "team"),
        ("Team", "team"),
        ("user:team", "team"),
        ("resourceTags/user:team", "team"),
        ("CostCenter", "cost_center"),
        ("cost-center", "cost_center"),
        ("cost center ", "cost_center"),
        ("aws:createdBy", "aws:created_by"),
        ("app.kubernetes.io/name", "app.kubernetes.io/name"),
    ],
)
def test_tag_keys_normalise(raw: str, expected: str) -> None:
    assert normalize_key(raw) == expected


@given(st.text(min_size=1, max_size=30))
def test_normalising_twice_changes_nothing(key: str) -> None:
    assert normalize_key(normalize_key(key)) == normalize_key(key)


def test_tags_parse_json_and_azure_form_first_key_wins() -> None:
    assert parse_tags('{"Team": "ml", "team": "other", "Env": 3}') == [("team", "ml"), ("env", "3")]
    assert parse_tags('"tagA": "valueA","tagB": "valueB"') == [("tag_a", "valueA"), ("tag_b", "valueB")]
    assert parse_tags(None) == [] and parse_tags("") == [] and parse_tags("{}") == []
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_tags("team=ml")


@pytest.mark.parametrize(
    ("spec", "current", "previous"),
    [
        ("mtd", (date(2026, 11, 1), date(2026, 11, 21)), (date(2026, 10, 1), date(2026, 10, 21))),
        ("last-month", (date(2026, 10, 1), date(2026, 11, 1)), (date(2026, 9, 1), date(2026, 10, 1))),
        ("2026-03", (date(2026, 3, 1), date(2026, 4, 1)), (date(2026, 2, 1), date(2026, 3, 1))),
        ("7d", (date(2026, 11, 14), date(2026, 11, 21)), (date(2026, 11, 7), date(2026, 11, 14))),
        (
            "2026-11-01..2026-11-10",
            (date(2026, 11, 1), date(2026, 11, 11)),
            (date(2026, 10, 22), date(2026, 11, 1)),
        ),
    ],
)
def test_periods(spec: str, current: tuple[date, date], previous: tuple[date, date]) -> None:
    now, before = resolve_period(spec, date(2026, 11, 20))
    assert (now.start, now.end) == current
    assert (before.start, before.end) == previous


def test_mtd_on_the_31st_compares_with_a_shorter_month() -> None:
    now, before = resolve_period("mtd", date(2026, 3, 31))
    assert (before.start, before.end) == (date(2026, 2, 1), date(2026, 3, 1))
    assert now.days == 31


@pytest.mark.parametrize("spec", ["yesterday", "2026-13", "2026-11-10..2026-11-01", "0d"])
def test_bad_periods_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError):
        resolve_period(spec, date(2026, 11, 20))


def test_money_text() -> None:
    assert format_money(Decimal("1234.565")) == "$1,234.56"  # half-even, display only
    assert format_money(Decimal("-3.1"), "EUR") == "-€3.10"
    assert format_money(Decimal("12"), "CHF") == "12.00 CHF"
    assert format_change(Decimal(110), Decimal(100)) == "+10.0%"
    assert format_change(Decimal(5), Decimal(0)) == "new"
    assert exact_text(Decimal("0.000000000000001")) == "0.000000000000001"
    assert exact_text(Decimal("5.100000")) == "5.10"


@given(st.decimals(min_value=-(10**20), max_value=10**20, places=15, allow_nan=False, allow_infinity=False))
def test_exact_text_round_trips(amount: Decimal) -> None:
    assert Decimal(exact_text(amount)) == amount


def test_money_cells_in_every_shape_the_real_files_use() -> None:
    cells = pl.Series(["$10,100.00 ", "(3.50)", "1e-3", "12,345,678.9", "1,5", "x", None])
    parsed = _decimals(cells, pl.Decimal(38, 15)).to_list()
    assert parsed[:4] == [Decimal("10100"), Decimal("-3.5"), Decimal("0.001"), Decimal("12345678.9")]
    assert parsed[4:] == [None, None, None]  # "1,5" is ambiguous, so it is refused rather than read as 15


def test_timestamps_in_every_shape_the_real_files_use() -> None:
    cells = pl.Series(
        [
            "2024-10-01 00:00:00",
            "2024-10-01T00:00:00Z",
            "2024-10-01T02:00:00+02:00",
            "2024-10-01",
            "10/1/2024",
            "10/1/24",
            "2023-02-01T30:00:00Z",
        ]
    )
    parsed = _timestamps(cells).to_list()
    assert {p.isoformat() for p in parsed[:6]} == {"2024-10-01T00:00:00+00:00"}
    assert parsed[6] is None


@pytest.mark.parametrize(
    ("cell", "safe"),
    [("=HYPERLINK(1)", "'=HYPERLINK(1)"), ("-12.5", "-12.5"), ("@team", "'@team"), ("team", "team")],
)
def test_csv_cells_cannot_become_formulas(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe
