"""The optimizer race: three optimizers from the same weights, three paths on the map and curves."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import ARTIFACTS

RACE = "window.backpropLab.store.race"


def pixels_of_colour(page: Page, testid: str, rgb: tuple[int, int, int]) -> int:
    """How many pixels of a canvas are (nearly) this colour: a drawn line, not a blank."""
    return int(
        page.evaluate(
            """([testid, rgb]) => {
            const c = document.querySelector(`[data-testid=${testid}]`);
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1])
                    + Math.abs(d[i + 2] - rgb[2]) < 30) n++;
            }
            return n;
        }""",
            [testid, list(rgb)],
        )
    )


def test_a_race_of_three_optimizers_draws_three_paths_and_curves(lab: Page) -> None:
    lab.get_by_test_id("loss-surface").scroll_into_view_if_needed()  # surfaces only on screen
    lab.wait_for_function("() => window.backpropLab.store.surface !== null")
    lab.get_by_test_id("step").click()
    race = lab.get_by_test_id("optimizer-race")
    expect(race.get_by_test_id("race-on-3")).not_to_be_checked()
    race.get_by_test_id("race-steps").fill("300")
    race.get_by_test_id("race-start").click()
    expect(race.get_by_test_id("race-info")).to_contain_text("Racing 3 optimizers")

    lab.wait_for_function(f"() => {RACE} !== null && {RACE}.racers.length === 3")
    legend = race.get_by_test_id("race-legend-entry")
    expect(legend).to_have_count(3)
    expect(legend.nth(0)).to_contain_text("SGD, lr 0.1")
    expect(legend.nth(1)).to_contain_text("SGD+momentum 0.9")
    expect(legend.nth(2)).to_contain_text("Adam, lr 0.01")
    expect(race.get_by_test_id("race-info")).to_contain_text("300 steps from step 1")
    expect(lab.get_by_test_id("surface-map")).to_have_attribute("data-race-paths", "3")
    expect(race.get_by_test_id("race-losses")).to_have_attribute("data-curves", "3")
    # Each racer's colour is on the loss chart and on the map.
    for colour in [(255, 149, 0), (255, 45, 85), (0, 229, 255)]:
        assert pixels_of_colour(lab, "race-losses", colour) > 20, colour
        assert pixels_of_colour(lab, "surface-map", colour) > 0, colour
    ARTIFACTS.mkdir(exist_ok=True)
    lab.get_by_test_id("loss-surface").locator("xpath=..").screenshot(
        path=str(ARTIFACTS / "optimizer-race.png")
    )


def test_the_race_paths_rise_over_the_3d_surface_too(lab: Page) -> None:
    lab.get_by_test_id("loss-surface").scroll_into_view_if_needed()  # surfaces only on screen
    lab.wait_for_function("() => window.backpropLab.store.surface !== null")
    lab.get_by_test_id("step").click()
    lab.get_by_test_id("surface-3d-toggle").click()
    plot = lab.get_by_test_id("surface-3d")
    expect(plot).to_have_attribute("data-rendered", "true", timeout=15_000)
    expect(plot).to_have_attribute("data-race-paths", "0")
    race = lab.get_by_test_id("optimizer-race")
    race.get_by_test_id("race-steps").fill("100")
    race.get_by_test_id("race-start").click()
    lab.wait_for_function(f"() => {RACE} !== null && {RACE}.racers.length === 3")
    expect(plot).to_have_attribute("data-race-paths", "3", timeout=15_000)
    # Plotly keeps the traces it drew on the element: the surface, the path, three racers,
    # each racer's line at its recorded losses.
    traces = lab.evaluate(
        "() => document.querySelector('[data-testid=surface-3d]').data"
        ".map((t) => ({name: t.name, points: t.z.length}))"
    )
    assert [t["name"] for t in traces[2:]] == [r["name"] for r in lab.evaluate(f"{RACE}.racers")]
    assert all(t["points"] > 10 for t in traces[2:])
    ARTIFACTS.mkdir(exist_ok=True)
    plot.screenshot(path=str(ARTIFACTS / "optimizer-race-3d.png"))
