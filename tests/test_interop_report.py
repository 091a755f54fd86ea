"""The HTML report opened in a real headless browser (Debian's Chromium, driven by
Playwright): it renders offline with no console error and no request, every number it
shows equals the result's, and a screenshot is kept in tests/artifacts/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import tuneprint
from tuneprint import interop
from tuneprint.views.text import shown

from tests.conftest import FIXTURES, NEWEST, ROOT

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "tests" / "artifacts"
TIMEOUT_MS = 30_000
PERCENT = 100
GRAMS_PER_KG = 1000
ML_PER_L = 1000
CASES = {
    "codecarbon": lambda rs: interop.import_codecarbon(
        FIXTURES / "interop" / "codecarbon_3.2.8_emissions.csv", rs, run="1"
    ),
    "boamps": lambda rs: interop.import_boamps(FIXTURES / "interop" / "boamps_report.json", rs),
}


def _needed(what: str, present: bool) -> None:
    """Skip on a machine without the browser; CI installs it, so there it fails."""
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing: .ci/run installs it")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    _needed("the playwright package", sync_playwright is not None)
    _needed("Debian's chromium", Path(CHROMIUM).is_file() or shutil.which("chromium") is not None)
    assert sync_playwright is not None
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=TIMEOUT_MS)
        yield b
        b.close()


def _expected(result: tuneprint.Result, key: str) -> float:
    """The number the page must show for a data-field, from the result alone."""
    if "/" not in key:
        return float(result[key].value)
    scope, _ = key.split("/")
    inferences = float(result["lifetime_inferences"].value)
    per_unit = GRAMS_PER_KG if result[scope].unit == "kgCO2e" else ML_PER_L
    return float(result[scope].value) * per_unit / inferences


@pytest.mark.parametrize("case", sorted(CASES))
def test_html_report_in_a_browser(browser: Any, tmp_path: Path, case: str) -> None:
    rs = tuneprint.load_ruleset(NEWEST)
    result = tuneprint.estimate(CASES[case](rs), rs)
    page_file = tmp_path / "report.html"
    page_file.write_text(interop.export_html(result), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    console: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_file.as_uri(), wait_until="load", timeout=TIMEOUT_MS)
    assert [c for c in console if c.startswith(("error", "warning", "pageerror"))] == []
    assert requests == [page_file.as_uri()]  # nothing but the page itself: it is offline

    numbers = page.eval_on_selector_all(
        "[data-field]",
        "els => els.map(e => [e.dataset.field, e.dataset.value, e.textContent.trim()])",
    )
    keys = {k for k, _, _ in numbers}
    for needed in (
        "total_emissions_kgco2e",
        "total_water_l",
        "emissions_per_inference_gco2e",
        "water_per_inference_ml",
        "operational_emissions_kgco2e",
        "embodied_emissions_kgco2e",
        "datacenter_water_l",
        "electricity_water_l",
        "manufacturing_water_l",
        "operational_emissions_kgco2e/per_inference",
        "manufacturing_water_l/per_inference",
    ):
        assert needed in keys, needed
    for key, value, text in numbers:
        expected = _expected(result, key)
        assert float(value) == pytest.approx(expected, rel=1e-12), key
        digits = rs.fields[key].digits if key in rs.fields else 4
        assert text == shown(expected, digits), (key, text)
    shares = page.eval_on_selector_all(
        "[data-basis]",
        "els => els.map(e => [e.dataset.total, e.dataset.basis, e.textContent.trim()])",
    )
    expected_shares = interop.basis_shares(result)
    assert len(shares) == 2 * 3
    for total, basis, text in shares:
        share = expected_shares[total][basis]
        assert text == ("none" if share is None else f"{share * PERCENT:.1f}%")
    bars = page.eval_on_selector_all(
        "svg rect", "els => els.map(e => e.getBoundingClientRect().width)"
    )
    assert len(bars) >= 5 and max(bars) > 100  # the charts are drawn, at a readable size
    card = page.inner_text("#totals")
    total = result["total_emissions_kgco2e"]
    assert f"{shown(total.value, rs.fields[total.field].digits)} kgCO2e" in card

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"interop_report_{case}.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert shot.stat().st_size > 10_000
    print(f"screenshot of the {case} report: {shot}")
