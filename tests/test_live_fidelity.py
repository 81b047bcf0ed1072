"""Session-level fidelity of closed-loop rollouts (issue 18, item 4)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from agents.baselines import RandomPolicy, RuleBasedPolicy
from shop_env.actions import CLICK, TERMINATE, TYPE_AND_SUBMIT, Action
from shop_env.data.model import Session, Step
from shop_env.evaluation.fidelity import STATISTICS, fidelity, js_divergence, session_features
from shop_env.evaluation.live import evaluate_live
from shop_env.evaluation.live_report import LiveReport
from shop_env.synth import generate_sessions
from shop_env.synth.policy import ShopperPolicy

EPISODES = 80


def test_js_divergence_against_hand_computed_values():
    assert js_divergence(np.array([3, 1]), np.array([6, 2])) == 0.0
    assert js_divergence(np.array([1, 0]), np.array([0, 1])) == 1.0
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4): JS = (log2(4/3) + (1/2 log2(2/3) + 1/2 log2 2)) / 2
    want = 0.5 * (math.log2(4 / 3) + 0.5 * math.log2(2 / 3) + 0.5)
    assert js_divergence(np.array([2, 0]), np.array([1, 1])) == pytest.approx(want)
    assert js_divergence(np.array([1, 1]), np.array([2, 0])) == pytest.approx(want)
    assert js_divergence(np.array([0, 0]), np.array([1, 0])) == 1.0 and js_divergence(np.zeros(2), np.zeros(2)) == 0.0


def _step(page_type: str, action: Action, url: str = "https://x/", **meta) -> Step:
    return Step("<html></html>", action, url=url, metadata={"page_type": page_type, **meta})


def test_session_features_count_searches_reformulations_and_products_viewed():
    s = Session("s", [
        _step("home", Action(TYPE_AND_SUBMIT, "nav_bar.search_input", "Rain Jacket")),
        _step("search", Action(TYPE_AND_SUBMIT, "nav_bar.search_input", "rain  jacket")),  # same query again
        _step("search", Action(CLICK, "did_you_mean.rain_coat")),                           # a new query
        _step("search", Action(TYPE_AND_SUBMIT, "nav_bar.search_input", "x"), executed=False),  # did nothing
        _step("product", Action(CLICK, "buybox.purchase_form.buy_now"), url="https://x/dp/A#customerReviews"),
        _step("product", Action(CLICK, "nav_bar.cart_button"), url="https://x/dp/A"),
        _step("product", Action(CLICK, "nav_bar.cart_button"), url="https://x/dp/B"),
        _step("checkout", Action(CLICK, "order_summary.place_your_order"))],
        metadata={"outcome": "purchase", "n_invalid": 2})
    f = session_features(s)
    assert f.purchased and f.length == 10 and f.type_counts == (5, 3, 0, 2)
    assert f.searches == 3 and f.reformulations == 1 and f.viewed_before_purchase == 2
    left = session_features(Session("t", [_step("home", Action(TERMINATE))], metadata={"outcome": "terminate"}))
    assert not left.purchased and left.viewed_before_purchase == -1 and left.type_counts == (0, 0, 1, 0)


def test_identical_sessions_have_zero_distance_and_the_report_shape():
    humans = list(generate_sessions(30, 0, split="test"))
    fid = fidelity(humans, humans, n_boot=50, seed=1)
    assert set(fid["fidelity"]) == set(STATISTICS) and fid["fidelity_distance"] == 0.0
    for stat, v in fid["fidelity"].items():
        assert set(v) == {"policy", "human", "distance", "ci_low", "ci_high"}
        assert v["distance"] == 0.0 and 0.0 <= v["ci_low"] <= v["ci_high"] <= 1.0 and v["policy"] == v["human"]
    with pytest.raises(ValueError, match="both sides"):
        fidelity([], humans)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("live")
    return {p.name: evaluate_live(p, EPISODES, out=out / p.name, progress=False, n_boot=100)
            for p in (ShopperPolicy(), RandomPolicy(), RuleBasedPolicy())}, out


def test_shopper_is_near_zero_and_baselines_are_visibly_worse(reports):
    by_name, _ = reports
    shopper, random_, rule = by_name["shopper"], by_name["random"], by_name["rule"]
    assert shopper.fidelity_distance < 0.08, shopper.fidelity
    for other in (random_, rule):
        assert other.fidelity_distance > 0.15 and other.fidelity_distance > 3 * shopper.fidelity_distance
    # the shopper's own purchase rate and action mix land inside what sampling noise allows
    for stat in ("purchase_rate", "action_type_mix"):
        assert shopper.fidelity[stat]["ci_low"] <= 0.02
    assert rule.fidelity["session_length"]["distance"] > 0.5  # the scripted shopper never stops the same way


def test_report_files_json_markdown_and_plot(reports):
    by_name, out = reports
    data = json.loads((out / "shopper" / "report.json").read_text())
    assert data["mode"] == "live" and set(data["fidelity"]) == set(STATISTICS)
    mean = sum(v["distance"] for v in data["fidelity"].values()) / len(STATISTICS)
    assert data["fidelity_distance"] == pytest.approx(mean, abs=1e-4)
    assert LiveReport.load(out / "shopper") == by_name["shopper"]
    md = (out / "shopper" / "report.md").read_text()
    assert "fidelity_distance" in md and all(s in md for s in STATISTICS)
    assert (out / "shopper" / "fidelity.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_eval_live(tmp_path, capsys):
    from shop_env.cli import main
    assert main(["eval", "--live", "--policy", "shopper", "--episodes", "6", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert data["config"]["episodes"] == 6 and data["name"] == "shopper" and "fidelity_distance" in data
    assert "Closed-loop fidelity" in capsys.readouterr().out
