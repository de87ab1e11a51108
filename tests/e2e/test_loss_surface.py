"""The loss landscape panel: a map with the optimizer's path growing on it, a 3-D view, modes."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import ARTIFACTS

SURFACE = "window.backpropLab.store.surface"


def screenshot_panel(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.get_by_test_id("loss-surface").screenshot(path=str(ARTIFACTS / f"{name}.png"))


def drawn_path_length(page: Page) -> int:
    """How many path points the view holds: the server's path plus every frame since."""
    return int(page.evaluate(f"{SURFACE} ? {SURFACE}.path.steps.length : 0"))


def map_is_painted(page: Page) -> bool:
    """More than a handful of distinct colours on the map canvas: a heat map, not a blank."""
    return bool(
        page.evaluate(
            """() => {
            const c = document.querySelector('[data-testid=surface-map]');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const colours = new Set();
            for (let i = 0; i < d.length; i += 4 * 97) {
                colours.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
            }
            return colours.size > 20;
        }"""
        )
    )


def path_pixels_at_the_current_point(page: Page) -> list[float]:
    return list(
        page.evaluate(
            """() => {
            const s = window.backpropLab.store.surface;
            return [s.step, s.path.alpha.at(-1), s.path.beta.at(-1)];
        }"""
        )
    )


def show_landscape(page: Page) -> None:
    """Scroll the panel on screen: surfaces are only asked for while it is there."""
    page.get_by_test_id("loss-surface").scroll_into_view_if_needed()


def test_the_map_shows_a_path_that_grows_while_training(lab: Page) -> None:
    panel = lab.get_by_test_id("loss-surface")
    show_landscape(lab)
    expect(panel.get_by_test_id("surface-map")).to_be_visible()
    lab.wait_for_function(f"() => {SURFACE} !== null")
    assert map_is_painted(lab)
    expect(panel.get_by_test_id("surface-info")).to_contain_text("Around step 0")

    lab.get_by_test_id("play").click()
    show_landscape(lab)  # clicking Play scrolled the page up to the button
    # Following every 100 steps: new surfaces arrive, each with a longer recorded path.
    lab.wait_for_function(
        f"() => {SURFACE} && {SURFACE}.step > 300 && {SURFACE}.path.steps.length > 3"
    )
    first = drawn_path_length(lab)
    lab.wait_for_function(
        f"(n) => {SURFACE}.path.steps.length > n && {SURFACE}.step > 600", arg=first
    )
    assert drawn_path_length(lab) > first
    # The current point is the plane's centre, so it lies on the plane, at the origin.
    _, alpha, beta = path_pixels_at_the_current_point(lab)
    assert abs(alpha) < 1e-6 and abs(beta) < 1e-6
    expect(panel.get_by_test_id("surface-residual")).to_contain_text("Off the plane")
    lab.get_by_test_id("pause").click()
    screenshot_panel(lab, "loss-surface-map")


def test_changing_the_direction_mode_recomputes_the_surface(lab: Page) -> None:
    show_landscape(lab)
    lab.wait_for_function(f"() => {SURFACE} !== null")
    lab.get_by_test_id("play").click()
    show_landscape(lab)
    lab.wait_for_function(f"() => {SURFACE} && {SURFACE}.path.steps.length > 5")
    lab.get_by_test_id("surface-mode").select_option("pca")
    lab.wait_for_function(f"() => {SURFACE}.request.mode === 'pca' && {SURFACE}.explained")
    expect(lab.get_by_test_id("surface-info")).to_contain_text("PCA captures")
    lab.get_by_test_id("surface-resolution").select_option("21")
    lab.wait_for_function(f"() => {SURFACE}.grid.resolution === 21")
    lab.get_by_test_id("pause").click()

    # Two clicked edges become the plane's axes.
    lab.get_by_test_id("surface-mode").select_option("weights")
    expect(lab.get_by_test_id("surface-weights")).to_contain_text("Click 2 more edges")
    edges = lab.locator("[data-testid=network-graph] path.edge")
    edges.nth(0).click(force=True)
    edges.nth(5).click(force=True)
    expect(lab.locator("[data-testid=network-graph] path.edge.selected")).to_have_count(2)
    show_landscape(lab)  # asked for once the panel is back on screen
    lab.wait_for_function(f"() => {SURFACE}.request.mode === 'weights'")
    expect(lab.get_by_test_id("surface-weights")).to_contain_text("layers[0].weight")


def test_the_3d_view_renders_the_surface(lab: Page) -> None:
    show_landscape(lab)
    lab.wait_for_function(f"() => {SURFACE} !== null")
    lab.get_by_test_id("step").click()
    # plotly injects styles; the page's CSP must not have to refuse any (see loadPlotly).
    lab.evaluate(
        "() => { window.cspViolations = [];"
        " document.addEventListener('securitypolicyviolation',"
        " (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI)); }"
    )
    lab.get_by_test_id("surface-3d-toggle").click()
    plot = lab.get_by_test_id("surface-3d")
    expect(plot).to_be_visible()
    expect(plot).to_have_attribute("data-rendered", "true", timeout=15_000)
    expect(plot.locator("canvas").first).to_be_visible()
    lab.wait_for_timeout(300)  # WebGL draws on the next animation frame
    screenshot_panel(lab, "loss-surface-3d")
    assert lab.evaluate("window.cspViolations") == []


def test_off_screen_the_landscape_costs_the_server_nothing(lab: Page) -> None:
    """A surface takes the server's background thread, which shares Python with training:
    none is computed while the panel is off screen, and scrolling away stops following."""
    on_screen = (
        "() => { const r = document.querySelector('[data-testid=loss-surface]')"
        ".getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0; }"
    )
    assert not lab.evaluate(on_screen), "at 1400×900 the panel starts below the fold"
    lab.get_by_test_id("play").click()
    lab.wait_for_function("() => window.backpropLab.store.frame.step > 1500")
    assert lab.evaluate(SURFACE) is None

    show_landscape(lab)
    lab.wait_for_function(f"() => {SURFACE} !== null")
    first = lab.evaluate(f"{SURFACE}.step")
    lab.wait_for_function(f"(s) => {SURFACE}.step > s", arg=first)  # following the run

    lab.evaluate("window.scrollTo(0, 0)")
    assert not lab.evaluate(on_screen)
    lab.wait_for_function(f"() => {SURFACE}.request.follow_every_steps === 0")
    stopped_at = lab.evaluate(f"{SURFACE}.step")
    step = lab.evaluate("window.backpropLab.store.frame.step")
    lab.wait_for_function("(s) => window.backpropLab.store.frame.step > s + 1500", arg=step)
    assert lab.evaluate(f"{SURFACE}.step") == stopped_at

    show_landscape(lab)  # back on screen: following again, from where the run is now
    lab.wait_for_function(f"(s) => {SURFACE}.step > s + 1500", arg=stopped_at)
    lab.get_by_test_id("pause").click()
