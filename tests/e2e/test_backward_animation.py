"""The backward phase, drawn flowing backwards: the output layer's gradients first, then the
layers before it, at a speed the user picks, or all at once with Skip."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def to_loss(page: Page) -> None:
    for name in ("zero_grad", "forward", "loss"):
        page.get_by_test_id("step-phase").click()
        expect(page.get_by_test_id("phase")).to_have_text(name)


def test_gradients_reach_the_output_layer_first_and_skip_shows_them_all(lab: Page) -> None:
    graph = lab.get_by_test_id("network-graph")
    first = graph.locator("path.edge[data-layer='0']")
    last = graph.locator("path.edge[data-layer='2']")  # default model: 2 → 4 → 2 → 1
    lab.get_by_test_id("backward-speed").select_option("slow")

    # Watch, frame by frame, when each layer's edges lose the grey of "not reached yet".
    to_loss(lab)
    lab.evaluate(
        """() => {
          const seen = (window.__reveal = { first: null, last: null });
          const graph = document.querySelector('[data-testid=network-graph]');
          const reached = (layer) => {
            const edges = [...graph.querySelectorAll(`path.edge[data-layer='${layer}']`)];
            return graph.dataset.edges === 'gradients' && edges.length > 0
              && edges.every((e) => !e.classList.contains('gradient-pending'));
          };
          const poll = () => {
            const now = performance.now();
            if (seen.last === null && reached(2)) seen.last = now;
            if (seen.first === null && reached(0)) seen.first = now;
            if (seen.first === null || seen.last === null) requestAnimationFrame(poll);
          };
          requestAnimationFrame(poll);
        }"""
    )
    lab.get_by_test_id("step-phase").click()
    expect(lab.get_by_test_id("phase")).to_have_text("backward")
    expect(last.first).not_to_have_class("edge gradient-pending")
    expect(first.first).to_have_class("edge gradient-pending")
    expect(graph.locator(".neuron-value.gradient").first).to_contain_text("∂z")
    lab.wait_for_function("() => window.__reveal.first !== null", timeout=6000)
    first_at, last_at = lab.evaluate("[window.__reveal.first, window.__reveal.last]")
    assert last_at is not None and first_at - last_at > 2000, "slow: 1.5 s per layer"
    expect(graph.locator(".gradient-pending")).to_have_count(0)
    graph.locator(".neuron[data-layer='1']").first.hover()
    expect(lab.locator("#tooltip")).to_contain_text("mean over the batch of ∂L/∂zₙ (= ∂L/∂b ÷ N)")

    # The next backward, skipped: every layer at once, long before slow would get there.
    lab.get_by_test_id("step-phase").click()
    expect(lab.get_by_test_id("phase")).to_have_text("step")
    to_loss(lab)
    lab.get_by_test_id("step-phase").click()
    expect(lab.get_by_test_id("phase")).to_have_text("backward")
    expect(first.first).to_have_class("edge gradient-pending")
    lab.get_by_test_id("skip-animation").click()
    expect(graph.locator(".gradient-pending")).to_have_count(0, timeout=500)
    expect(graph).to_have_attribute("data-backward-stage", "3")
