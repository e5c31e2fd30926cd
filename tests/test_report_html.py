"""The HTML report: one self-contained file, opened in a real headless browser (the system's chromium): it renders
its charts, logs no console error and makes no request but for itself. The screenshot is kept in
build/test-artifacts/. Set FINOPS_REQUIRE_BROWSER=1 (CI does) to fail instead of skipping without chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from finops.coerce import coerce
from finops.schema import COSTS
from finops.store import open_store

ROOT = Path(__file__).parents[1]
ARTIFACTS = ROOT / "build" / "test-artifacts"
HOSTILE = '<img src="https://example.com/x.png" onerror="alert(1)">'


@pytest.fixture
def demo_html(cli, demo_db: Path, tmp_path: Path) -> Path:
    config = tmp_path / "finops.toml"
    shutil.copy(ROOT / "sample_data" / "finops.toml", config)
    store = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, store)
    assert cli("rules", "run", "--db", store, "--as-of", "2026-11-20").code == 0  # stored findings to show
    target = tmp_path / "report.html"
    result = cli("--config", config, "report", "--db", store, "--as-of", "2026-11-20", "--format", "html",
                 "--output", target)  # fmt: skip
    assert result.code == 0, result.err
    return target


def test_the_file_is_self_contained(demo_html: Path) -> None:
    text = demo_html.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text.lower()
    assert "default-src 'none'" in text  # the browser itself refuses any fetch
    links = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>)]*", text))
    assert links == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert text.count("<svg") == 4  # daily trend, teams, GPUs, cost per 1k requests
    assert "$258,303.07" in text and "(unallocated)" in text and "ANO001" in text


def test_user_data_is_escaped(cli, db: Path, tmp_path: Path) -> None:
    day = datetime(2026, 11, 2, tzinfo=UTC)
    frame = pl.DataFrame({
        "ChargePeriodStart": [day], "ChargePeriodEnd": [day + timedelta(days=1)],
        "BillingPeriodStart": [datetime(2026, 11, 1, tzinfo=UTC)],
        "BillingPeriodEnd": [datetime(2026, 12, 1, tzinfo=UTC)],
        "BilledCost": ["10"], "EffectiveCost": ["10"], "ProviderName": [HOSTILE], "ChargeCategory": ["Usage"],
        "Tags": [json.dumps({"team": HOSTILE})],
    })  # fmt: skip
    with open_store(db) as store:
        store.replace_slices(COSTS, [coerce(frame, COSTS, file="t").with_columns(x_Source=pl.lit("t"))],
                             checksum="t", inputs=["t"])  # fmt: skip
    target = tmp_path / "hostile.html"
    assert cli("report", "--db", db, "--format", "html", "--output", target).code == 0
    text = target.read_text()
    assert HOSTILE not in text and "&lt;img src=&quot;https://example.com/x.png&quot;" in text
    _open_in_browser(target, "hostile.png")  # and the browser fetches nothing, runs nothing


def test_it_renders_in_a_real_browser(demo_html: Path) -> None:
    page = _open_in_browser(demo_html, "report.png")
    assert page["title"] == "finops: Nov 1-20, 2026"
    assert page["svgs"] == 4 and page["marks"] > 100  # bars, points: the charts drew
    assert page["height"] > 1500


def _open_in_browser(file: Path, screenshot: str) -> dict[str, object]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("FINOPS_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is required here (FINOPS_REQUIRE_BROWSER=1): apt-get install chromium")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                    else None)  # fmt: skip
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(file.as_uri())
            page.wait_for_load_state("load")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
            result = {
                "title": page.title(),
                "svgs": page.locator("svg").count(),
                "marks": page.locator("svg rect, svg circle").count(),
                "height": page.evaluate("document.body.scrollHeight"),
            }
        finally:
            browser.close()
    assert requests == [file.as_uri()], requests  # nothing but the file itself
    assert problems == []
    assert (ARTIFACTS / screenshot).stat().st_size > 10_000
    return result
