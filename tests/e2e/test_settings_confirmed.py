"""The page shows a setting as the server confirms it: a refused change rolls back, an accepted
one stays, and the controls, the URL and the server agree after every answer."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .page_helpers import READY, store_value


def server_config(page: Page) -> object:
    """What the server says it runs (its `confirmedConfig`), after every request was answered."""
    page.wait_for_function("() => window.backpropLab.store.pendingRequests.length === 0")
    return store_value(page, "store.confirmedConfig")


def test_a_refused_combined_change_rolls_the_controls_and_the_url_back(lab: Page) -> None:
    before = server_config(lab)
    assert before["training"]["learning_rate"] == 0.03
    # Valid on its own, the learning rate comes with a freeze the server refuses (all layers).
    lab.evaluate(
        "() => window.backpropLab.commands.setLive({"
        " learning_rate: 0.5, frozen_layers: [0, 1, 2] })"
    )
    expect(lab.locator("#status-message")).to_contain_text("at least one layer")
    assert server_config(lab) == before
    expect(lab.get_by_test_id("learning-rate")).to_have_value("0.03")
    assert store_value(lab, "store.config") == before
    hash_ = lab.evaluate("location.hash")
    assert "learningRate=0.03" in hash_ and "frozen=0" not in hash_
    assert store_value(lab, "store.frame.learning_rate") == 0.03


def test_a_refused_change_from_a_control_rolls_that_control_back(lab: Page) -> None:
    # The per-layer freeze boxes: freezing every layer is refused, the last box unticks itself.
    boxes = [lab.get_by_test_id(f"freeze-layer-{n}") for n in (1, 2, 3)]
    for k, box in enumerate(boxes[:-1]):
        box.check()
        lab.wait_for_function(
            "(k) => window.backpropLab.store.confirmedConfig.model.frozen_layers.length === k",
            arg=k + 1,
        )
    boxes[-1].click()
    expect(lab.locator("#status-message")).to_contain_text("at least one layer")
    expect(boxes[-1]).not_to_be_checked()
    assert server_config(lab)["model"]["frozen_layers"] == [0, 1]
    assert "frozen=0%2C1&" in lab.evaluate("location.hash") + "&"


def test_an_accepted_change_is_kept_with_the_servers_config(lab: Page) -> None:
    lab.evaluate("() => window.backpropLab.commands.setLive({ optimizer: 'adam', batch_size: 30 })")
    config = server_config(lab)
    assert config["training"]["optimizer"] == "adam" and config["training"]["batch_size"] == 30
    expect(lab.get_by_test_id("optimizer")).to_have_value("adam")
    expect(lab.get_by_test_id("batch-size")).to_have_value("30")
    assert store_value(lab, "store.config") == config
    hash_ = lab.evaluate("location.hash")
    assert "optimizer=adam" in hash_ and "batchSize=30" in hash_


def test_a_rebuild_the_server_refuses_rolls_the_data_controls_back(lab: Page) -> None:
    before = server_config(lab)
    lab.evaluate("() => window.backpropLab.commands.configureData({ dataset: 'xor', n_points: 3 })")
    expect(lab.locator("#status-message")).to_contain_text("n_points")
    assert server_config(lab) == before
    assert store_value(lab, "store.config") == before
    expect(lab.get_by_test_id("dataset")).to_have_value("circle")
    expect(lab.get_by_test_id("n-points")).to_have_value("500")
    hash_ = lab.evaluate("location.hash")
    assert "dataset=circle" in hash_ and "points=500" in hash_


def test_another_page_of_the_same_run_follows_an_accepted_change(lab: Page) -> None:
    session_id = store_value(lab, "store.sessionId")
    other = lab.context.new_page()
    other.add_init_script(f"sessionStorage.setItem('backprop-lab-session', {session_id!r})")
    other.goto("/")
    other.wait_for_function(READY)
    assert store_value(other, "store.sessionId") == session_id
    lab.get_by_test_id("learning-rate").select_option("0.3")
    other.wait_for_function("() => window.backpropLab.store.config.training.learning_rate === 0.3")
    expect(other.get_by_test_id("learning-rate")).to_have_value("0.3")
    assert "learningRate=0.3" in other.evaluate("location.hash")
    # The same answer settled the first page's own request.
    lab.wait_for_function("() => window.backpropLab.store.pendingRequests.length === 0")
    other.close()
