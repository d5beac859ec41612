"""The compliance officer's page, driven as an officer would in Chromium."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.ui.conftest import Site, Watch, open_view, sign_in

pytestmark = pytest.mark.browser

H100 = "nvidia-h100-sxm5-80gb"
H800 = "nvidia-h800-sxm5-80gb"


def test_sign_in_keeps_the_key_out_of_addresses_storage_and_logs_and_sign_out_forgets_it(
    page: Page, site: Site, watch: Watch
) -> None:
    sign_in(page, site)
    expect(page.locator("#who-name")).to_contain_text("bootstrap-admin (admin)")
    assert page.evaluate("() => sessionStorage.length + localStorage.length") == 0
    open_view(page, site, "#/chip/" + H100, "chip")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("the key is forgotten")
    # forgotten: the page asks again, even after a reload
    page.reload()
    expect(page.get_by_label("API key")).to_be_visible()
    assert watch.urls and not [u for u in watch.urls if site.admin_key in u]
    assert site.admin_key not in page.url
    assert site.admin_key not in site.server.logs(limit=10_000_000)


def test_keep_signed_in_lasts_for_the_tab_only_in_session_storage(page: Page, site: Site, watch: Watch) -> None:
    sign_in(page, site, remember=True)
    page.reload()
    page.wait_for_selector("main[data-ready=catalog]")
    assert page.evaluate("() => localStorage.length") == 0
    page.get_by_role("button", name="Sign out").click()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_an_unknown_key_is_refused_with_a_message(page: Page, site: Site, watch: Watch) -> None:
    watch.allowed.append(re.compile("401"))
    page.goto(site.url)
    page.get_by_label("API key").fill("cc_nothere_" + "x" * 30)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")


def test_catalog_search_sort_eccn_filter_and_csv_download(page: Page, site: Site, watch: Watch, shots: Path) -> None:
    sign_in(page, site)
    page.screenshot(path=shots / "catalog.png")
    page.get_by_label("Search").fill("H100")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tbody tr[data-id='nvidia-h100-pcie-80gb']")).to_have_count(1)
    models = page.locator("table.data tbody td:first-child").all_inner_texts()
    assert "H100 SXM5 80GB" in models and all("H100" in m for m in models)

    page.get_by_label("Search").fill("")
    page.get_by_label("ECCN on").fill("2024-06-01")
    page.get_by_label("ECCN", exact=True).select_option("3A090.b")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("p.muted").first).to_contain_text("ECCN as of 2024-06-01")
    eccns = page.locator("tbody .badge").all_inner_texts()
    assert eccns and set(eccns) == {"3A090.b"}

    page.get_by_label("ECCN", exact=True).select_option("")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("button", name="TPP").click()  # ascending, then descending
    page.get_by_role("button", name="TPP").click()
    expect(page.locator("th:has(button:text('TPP'))")).to_have_attribute("aria-sort", "descending")
    tpps = [float(t.replace(",", "")) for t in page.locator("tbody td:nth-child(4)").all_inner_texts() if t != "—"]
    assert tpps == sorted(tpps, reverse=True) and len(tpps) > 20

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    text = Path(download.value.path()).read_text()
    table = list(csv.DictReader(io.StringIO(text)))
    assert download.value.suggested_filename == "chipclass-catalog-2024-06-01.csv"
    h100 = next(r for r in table if r["id"] == H100)
    assert h100["eccn_2024-06-01"] == "3A090.a" and h100["tpp"] == "15832"


def test_h100_page_shows_every_clause_with_its_tpp_margin_history_and_today(
    page: Page, site: Site, watch: Watch, shots: Path
) -> None:
    sign_in(page, site)
    page.get_by_label("Search").fill("H100 SXM5")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("link", name="H100 SXM5 80GB").click()
    page.wait_for_selector("main[data-ready=chip]")
    page.get_by_label("Classification on").fill("2024-06-01")
    page.get_by_role("button", name="Show", exact=True).click()
    margin = page.locator('tr[data-condition="3A090.a.1 tpp >= 4800"]')
    expect(margin).to_contain_text("TPP 15,832 is 11,032 above 4,800: meets >= 4800")
    expect(margin.locator("svg.marginbar rect.above")).to_have_count(1)
    expect(page.locator(".verdict")).to_contain_text("3A090.a")
    expect(page.locator("[data-metric=tpp]")).to_contain_text("15,832")
    # every clause of the ruleset in force, met or not, and the note
    for clause in ("3A090.a.1", "3A090.a.2", "3A090.b.1", "3A090.b.2"):
        expect(page.locator(f"tr[data-clause='{clause}']")).to_have_count(1)
    expect(page.locator("article.ruleset")).to_contain_text("3A090 Note 2")
    expect(page.locator("article.ruleset a").first).to_have_attribute("href", re.compile("^https://"))
    # history for China with its timeline, and today's table for the ten common destinations
    expect(page.locator(".history svg.cc-plot")).to_have_count(1)
    expect(page.locator(".history tbody tr").first).to_contain_text("No licence required")
    today = page.locator("tr[data-destination]")
    expect(today).to_have_count(10)
    expect(page.locator("tr[data-destination=CN]")).to_contain_text("Licence required")
    expect(page.locator("tr[data-destination=US]")).to_contain_text("No licence required")
    page.screenshot(path=shots / "chip-h100.png", full_page=True)

    page.get_by_label("Buyer headquarters").select_option("SG")
    page.get_by_label("Parent headquarters").select_option("CN")
    page.get_by_label("Destination", exact=True).select_option("SG")
    page.get_by_role("button", name="Show history").click()
    expect(page.locator(".history")).to_contain_text("SG, buyer headquartered in SG with a parent in CN")
    expect(page.locator(".history tbody")).to_contain_text("headquarters")


def test_unverified_and_ranged_figures_are_flagged_on_the_chip_page(page: Page, site: Site, watch: Watch) -> None:
    sign_in(page, site)
    open_view(page, site, "#/chip/huawei-ascend-910c", "chip")
    expect(page.locator("p.flag[role=note]")).to_contain_text("unverified source")
    expect(page.locator("tr.flagged", has_text="⚠ unverified").first).to_be_visible()
    expect(page.locator("ul.notes")).to_contain_text("figure from an unverified source")
    # TPU v4's die area is published only as a bound: the page says where the answer changes
    open_view(page, site, "#/chip/google-tpu-v4?date=2024-06-01", "chip")
    expect(page.locator("tr.flagged:has(th:text-is('Die area'))")).to_contain_text("400\u2013780 (range)")
    expect(page.locator(".classification .range")).to_contain_text("The range decides")


def _chart_row(page: Page, item: str) -> str:
    return page.locator(f".chart-table tr[data-id='{item}']").inner_text()


def test_chart_date_2022_to_2024_moves_the_h800_into_the_3a090a_region(
    page: Page, site: Site, watch: Watch, shots: Path
) -> None:
    sign_in(page, site)
    page.get_by_role("link", name="Chart").click()
    page.wait_for_selector("main[data-ready=chart]")
    page.get_by_label("Rules as of").fill("2022-11-01")
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_selector("[data-date='2022-11-01'] svg.cc-plot")
    row = _chart_row(page, H800)
    # 2022: TPP over 4800 but 400 GB/s interconnect: inside the TPP band only "if interconnect >= 600"
    assert "not 3A090" in row and "3A090.a (2022) if interconnect >= 600" in row
    expect(page.locator(".chart-notes")).to_contain_text("ac-2022-10-07")
    page.screenshot(path=shots / "chart-2022.png", full_page=True, clip=_chart_clip(page))

    page.get_by_label("Rules as of").fill("2024-06-01")
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_selector("[data-date='2024-06-01'] svg.cc-plot")
    row = _chart_row(page, H800)
    assert "3A090.a" in row and "not 3A090" not in row and "3A090.a.1" in row
    expect(page.locator(".chart-notes")).to_contain_text("ac-2024-04-04")
    page.screenshot(path=shots / "chart-2024.png", full_page=True, clip=_chart_clip(page))

    # products redesigned to sit just under a line are marked as such
    assert "TPP 4,750 under 4800" in _chart_row(page, "nvidia-geforce-rtx-5090-d")

    # the rule-version control steps between rule changes
    page.get_by_role("button", name="Next rule change").click()
    page.wait_for_selector("[data-date='2024-12-02'] svg.cc-plot")


def _chart_clip(page: Page) -> dict[str, float]:
    """From the page title to the chart's legend: the picture the README shows."""
    top = page.locator("main h1").bounding_box()
    bottom = page.locator("figure.chart").bounding_box()
    assert top and bottom
    return {"x": 0, "y": top["y"] - 8, "width": 1280, "height": bottom["y"] + bottom["height"] - top["y"] + 16}


def test_chart_hover_shows_figures_and_a_click_opens_the_chip_page(page: Page, site: Site, watch: Watch) -> None:
    sign_in(page, site)
    open_view(page, site, "#/chart?date=2024-06-01", "chart")
    dot = page.locator("svg.cc-plot g[aria-label=dot] > [aria-label^='NVIDIA H800 SXM5 80GB:']")
    dot.hover()
    expect(page.locator("svg.cc-plot g[aria-label=tip]")).to_contain_text("H800")
    page.mouse.click(*_centre(dot))
    page.wait_for_selector("main[data-ready=chip]")
    assert f"#/chip/{H800}" in page.url
    expect(page.locator("h1")).to_have_text("NVIDIA H800 SXM5 80GB")


def _centre(locator: object) -> tuple[float, float]:
    box = locator.bounding_box()  # type: ignore[attr-defined]
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_a_spec_typed_by_the_officer_is_classified_and_plotted(page: Page, site: Site, watch: Watch) -> None:
    sign_in(page, site)
    open_view(page, site, "#/chart?date=2024-06-01", "chart")
    page.get_by_label("Dense TOPS at that precision").fill("148")
    page.get_by_label("Die area (mm²)").fill("814")
    page.get_by_role("button", name="Plot spec").click()
    row = page.locator(".chart-table tr[data-id='officer-spec']")
    expect(row).to_contain_text("Your spec")
    expect(row).to_contain_text("2,368")
    expect(page.locator("svg.cc-plot")).to_contain_text("Your spec")


def test_screen_an_order_then_find_it_in_the_log_with_the_stored_record(
    page: Page, site: Site, watch: Watch, shots: Path
) -> None:
    sign_in(page, site)
    page.get_by_role("link", name="Screen an order").click()
    page.wait_for_selector("main[data-ready=screen]")
    page.get_by_label("Destination", exact=True).select_option("SG")
    page.get_by_label("Buyer name").fill("Example <b>Pte</b> Ltd")
    page.get_by_label("Buyer headquarters").select_option("SG")
    page.get_by_label("Parent headquarters").select_option("CN")
    page.get_by_label("Order reference").fill("PO-UI-1042")
    page.get_by_label("Keep open until (ship date)").fill((date.today() + timedelta(days=14)).isoformat())
    page.get_by_label("Catalog item").select_option(H100)
    page.get_by_label("Quantity").fill("8")
    page.get_by_role("button", name="Add a line").click()
    second = page.locator("fieldset.line").nth(1)
    second.get_by_label("Described by").select_option("spec")
    second.get_by_label("Dense TOPS").fill("148")
    second.get_by_label("Die area (mm²)").fill("814")
    second.get_by_label("Interconnect (GB/s)").fill("900")
    second.get_by_label("Memory bandwidth (GB/s)").fill("4000")
    page.get_by_role("button", name="Screen", exact=True).click()
    result = page.locator("section.result")
    expect(result.locator("p.order-outcome")).to_contain_text("Licence required · hold")
    expect(result.locator("tr[data-line='1']")).to_contain_text("Licence required")
    expect(result.locator("tr[data-line='1']")).to_contain_text("headquarters")
    expect(result.locator("tr[data-line='2']")).to_contain_text("spec")
    # the buyer's name is shown as text, never as markup
    expect(result).to_contain_text("Example <b>Pte</b> Ltd")
    decision = result.locator("code.decision-id").inner_text()
    page.screenshot(path=shots / "screen.png", full_page=True)

    result.get_by_role("link", name="Open in the review log").click()
    page.wait_for_selector("main[data-ready=decision]")
    expect(page.locator(".verify")).to_have_attribute("data-ok", "true")
    stored = page.locator("#stored-json").inner_text()
    assert f'"id": "{decision}"' in stored and '"reference": "PO-UI-1042"' in stored
    # a monitored order: its versions, and ending the monitoring (recorded in the log)
    expect(page.locator("[data-monitor=open]")).to_contain_text("Monitoring: open")
    page.get_by_label("Reason (kept in the log)").fill("left the dock on pallet 7")
    page.get_by_role("button", name="End monitoring").click()
    expect(page.locator("[data-monitor=shipped]")).to_contain_text("left the dock on pallet 7")

    page.get_by_role("link", name="← Decision log").click()
    page.wait_for_selector("main[data-ready=review]")
    page.get_by_label("Reference contains").fill("PO-UI-1042")
    page.get_by_label("Outcome").select_option("license_required")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-decision]")).to_have_count(1)
    expect(page.locator(f"tr[data-decision='{decision}']")).to_contain_text("PO-UI-1042")
    page.get_by_label("Outcome").select_option("clear")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-decision]")).to_have_count(0)
    page.get_by_label("Outcome").select_option("")
    page.get_by_role("button", name="Filter").click()
    page.screenshot(path=shots / "review.png", full_page=True)


def test_a_read_only_key_cannot_screen_or_read_the_log(page: Page, site: Site, watch: Watch) -> None:
    sign_in(page, site, key=site.read_key)
    expect(page.locator("#who-name")).to_contain_text("officer-read-only (read)")
    expect(page.get_by_role("link", name="Screen an order")).to_be_hidden()
    expect(page.get_by_role("link", name="Review")).to_be_hidden()
    open_view(page, site, "#/screen", "screen")
    expect(page.locator("#no-screen")).to_contain_text("lacks the screen scope")
    expect(page.get_by_role("button", name="Screen", exact=True)).to_have_count(0)
    open_view(page, site, "#/review", "review")
    expect(page.get_by_role("alert")).to_contain_text("lacks the audit scope")
    assert not [u for u in watch.urls if "/v1/screenings" in u or "/v1/decisions" in u]


PAGES = [
    ("#/catalog", "catalog"),
    (f"#/chip/{H100}?date=2024-06-01", "chip"),
    ("#/chart?date=2024-06-01", "chart"),
    ("#/screen", "screen"),
    ("#/review", "review"),
]


def test_every_page_passes_the_axe_accessibility_check(page: Page, site: Site, watch: Watch) -> None:
    axe = Axe()
    page.goto(site.url)
    page.wait_for_selector("main[data-ready=signin]")
    found = {"signin": axe.run(page).response["violations"]}
    sign_in(page, site)
    for route, view in PAGES:
        open_view(page, site, route, view)
        found[view] = axe.run(page).response["violations"]
    summary = {v: [(x["id"], x["impact"], len(x["nodes"])) for x in violations] for v, violations in found.items()}
    assert summary == {v: [] for v in found}


@pytest.mark.parametrize(("route", "view"), PAGES[:3])
def test_a_narrow_screen_never_scrolls_the_page_sideways(
    page: Page, site: Site, watch: Watch, shots: Path, route: str, view: str
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, site)
    open_view(page, site, route, view)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    if view == "chip":
        page.screenshot(path=shots / "chip-h100-narrow.png", full_page=False)


def test_the_page_is_served_with_a_csp_that_forbids_inline_script_and_style(page: Page, site: Site) -> None:
    response = page.goto(site.url)
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
