"""The layout at common screen sizes, measured from element boxes: the first screen holds the run
controls, the network, the boundary and the loss chart; phase stepping shows its code line beside
the network; the charts are wide enough to read; the toolbar is one row; nothing spills sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .page_helpers import open_lab

# The run controls and the three main views: what a learner must see at once.
MAIN_VIEWS = [
    "reset",
    "play",
    "step",
    "step-phase",
    "network-graph",
    "loss-chart",
    "decision-boundary",
]
SCREENS = {"full-hd": (1920, 1080), "laptop": (1366, 768)}
SIZES = {**SCREENS, "tablet": (1024, 768)}
TOOLBAR_MAX_PX = 64
WIDE_PANELS = ["timeline-view", "gradient-health", "distributions"]
WIDE_PANEL_MIN_PX = 600
NEURON_MIN_PX = 48
TICK_FONT_MIN_PX = 10
SIX_LAYERS_OF_SIXTEEN = "layers=16,16,16,16,16,16"


def box(page: Page, selector: str) -> dict[str, float]:
    """The box of a data-testid, or of a CSS selector (one starting with '.', '#' or '[')."""
    target = page.locator(selector) if selector[0] in ".#[" else page.get_by_test_id(selector)
    found = target.first.bounding_box()
    assert found is not None, f"{selector} has no box: it is not displayed"
    return found


def inside(inner: dict[str, float], outer: dict[str, float], slack: float = 0.5) -> bool:
    return (
        inner["x"] >= outer["x"] - slack
        and inner["y"] >= outer["y"] - slack
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack
    )


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def assert_no_sideways_scroll(page: Page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "a sideways scrollbar"


@pytest.mark.parametrize("size", SIZES)
def test_the_main_views_fit_the_first_screen_without_scrolling(page: Page, size: str) -> None:
    width, height = SIZES[size]
    errors = open_lab(page, width=width, height=height)
    screen = {"x": 0, "y": 0, "width": width, "height": height}
    for test_id in MAIN_VIEWS:
        expect(page.get_by_test_id(test_id)).to_be_visible()
        assert inside(box(page, test_id), screen), (
            f"{test_id} is off the first screen: {box(page, test_id)}"
        )
    assert not overlap(box(page, "network-graph"), box(page, "decision-boundary"))
    assert not overlap(box(page, "network-graph"), box(page, "loss-chart"))
    assert_no_sideways_scroll(page, width)
    assert errors == []


@pytest.mark.parametrize("size", SCREENS)
def test_the_toolbar_is_one_row_that_holds_still_when_the_speed_appears(
    page: Page, size: str
) -> None:
    width, height = SCREENS[size]
    open_lab(page, width=width, height=height)
    toolbar = box(page, "toolbar")
    assert toolbar["height"] <= TOOLBAR_MAX_PX
    assert toolbar["x"] + toolbar["width"] <= width
    # Every control in it (the pace controls too, where the page has them) sits in that row.
    for test_id in [
        "reset",
        "step-phase",
        "learning-rate",
        "optimizer",
        "advanced-settings",
        "projector-mode",
        "lessons",
        "export-menu",
        "speed",
        "run-steps",
    ]:
        if page.get_by_test_id(test_id).count() == 0:
            continue
        assert inside(box(page, test_id), toolbar), f"{test_id} is outside the toolbar's one row"
    before = box(page, "learning-rate")
    page.get_by_test_id("play").click()
    expect(page.get_by_test_id("speed-reading")).to_contain_text("steps/s")
    page.get_by_test_id("pause").click()
    assert box(page, "learning-rate")["x"] == before["x"], (
        "the controls moved when the steps/s reading appeared"
    )


def test_the_advanced_knobs_open_in_a_popover_over_the_page(page: Page) -> None:
    open_lab(page, width=1366, height=768)
    expect(page.get_by_test_id("beta1")).to_be_hidden()
    page.get_by_test_id("advanced-settings").locator("summary").click()
    for test_id in ["momentum", "lr-schedule", "effective-learning-rate"]:
        expect(page.get_by_test_id(test_id)).to_be_visible()
    assert box(page, "toolbar")["height"] <= TOOLBAR_MAX_PX, "the popover pushed the toolbar open"


@pytest.mark.parametrize("size", SCREENS)
def test_a_phase_step_shows_its_code_line_beside_the_network(page: Page, size: str) -> None:
    width, height = SCREENS[size]
    open_lab(page, width=width, height=height)
    page.get_by_test_id("step-phase").click()
    current = page.locator("[data-testid=code-panel] .line.current")
    expect(current).to_be_visible()
    screen = {"x": 0, "y": 0, "width": width, "height": height}
    assert inside(box(page, "[data-testid=code-panel] .line.current"), screen), (
        "the highlighted line is off screen"
    )
    assert inside(box(page, "network-graph"), screen)
    assert not overlap(box(page, "code-panel"), box(page, "network-graph"))


@pytest.mark.parametrize("size", SCREENS)
def test_history_health_and_distributions_are_wide_with_readable_ticks(
    page: Page, size: str
) -> None:
    width, height = SCREENS[size]
    open_lab(page, width=width, height=height)
    page.get_by_test_id("step").click()
    page.get_by_test_id("step").click()
    for test_id in WIDE_PANELS:
        panel = (
            page.get_by_test_id(test_id)
            if test_id != "timeline-view"
            else page.locator("#timeline-view")
        )
        panel.scroll_into_view_if_needed()
        found = panel.bounding_box()
        assert found is not None and found["width"] >= WIDE_PANEL_MIN_PX, (
            f"{test_id} is squeezed: {found}"
        )
    # Each chart says the font its ticks are drawn in (canvas text has no box of its own).
    for test_id in ["loss-chart", "lr-chart", "gradient-health"]:
        font = (
            page.get_by_test_id(test_id)
            .locator("[data-tick-font-px]")
            .first.get_attribute("data-tick-font-px")
        )
        assert font is not None and float(font) >= TICK_FONT_MIN_PX, (
            f"{test_id} ticks drawn at {font} px"
        )
    assert_no_sideways_scroll(page, width)


@pytest.mark.parametrize("size", SCREENS)
def test_the_network_fills_its_column_with_large_neurons(page: Page, size: str) -> None:
    width, height = SCREENS[size]
    open_lab(page, width=width, height=height)
    graph = box(page, "network-graph")
    column = box(page, ".network-column")
    assert inside(graph, column)
    assert graph["width"] >= column["width"] - 40, "the graph leaves its column half empty"
    neurons = page.locator("[data-testid=network-graph] .neuron")
    assert neurons.count() == 2 + 4 + 2 + 1
    for i in range(neurons.count()):
        neuron = neurons.nth(i).bounding_box()
        assert neuron is not None and neuron["width"] >= NEURON_MIN_PX, f"neuron {i} is {neuron}"
        assert inside(neuron, graph)


@pytest.mark.parametrize("size", SCREENS)
def test_six_layers_of_sixteen_fit_the_column_without_sideways_scrolling(
    page: Page, size: str
) -> None:
    width, height = SCREENS[size]
    errors = open_lab(page, SIX_LAYERS_OF_SIXTEEN, width=width, height=height)
    neurons = page.locator("[data-testid=network-graph] .neuron")
    expect(neurons).to_have_count(2 + 6 * 16 + 1)
    graph = box(page, "network-graph")
    boxes = [neurons.nth(i).bounding_box() for i in range(neurons.count())]
    assert all(b is not None and inside(b, graph) for b in boxes), (
        "a neuron lies outside the graph's box"
    )
    assert graph["x"] + graph["width"] <= width
    assert_no_sideways_scroll(page, width)
    assert errors == []


DEEPER_VIEWS = ["curvature", "hidden-space", "surgery", "sweep"]
# Views across one row of the "See deeper" panel: four on a full-HD screen, two on a laptop.
DEEPER_ACROSS = {"full-hd": 4, "laptop": 2}


@pytest.mark.parametrize("size", SCREENS)
def test_the_deeper_views_share_a_full_width_row_without_sideways_scrolling(
    page: Page, size: str
) -> None:
    width, height = SCREENS[size]
    open_lab(page, width=width, height=height)
    column = box(page, ".deeper-column")
    assert column["width"] >= width * 0.9, f"the deeper column is squeezed: {column}"
    views = [box(page, test_id) for test_id in DEEPER_VIEWS]
    assert all(inside(view, column) for view in views), "a deeper view spills out of its column"
    first_row = [v for v in views if abs(v["y"] - views[0]["y"]) < 1]
    assert len(first_row) == DEEPER_ACROSS[size]
    for test_id in ["sweep-map", "hidden-space-plot", "curvature-plot"]:
        picture = box(page, test_id)
        assert picture["x"] + picture["width"] <= width
    assert_no_sideways_scroll(page, width)


def test_side_panels_fold_away_and_open_again(lab: Page) -> None:
    heading = lab.locator("[data-panel=regularisation] > summary")
    expect(lab.get_by_test_id("weight-decay")).to_be_visible()
    heading.click()
    expect(lab.get_by_test_id("weight-decay")).to_be_hidden()
    lab.locator("[data-panel=inside-one-step] > summary").click()
    expect(lab.get_by_test_id("code-panel")).to_be_hidden()
    heading.click()
    expect(lab.get_by_test_id("weight-decay")).to_be_visible()
