"""Baseline policies: valid outputs, seeding, majority fitting, the oracle, the rule shopper."""
from __future__ import annotations

from collections import Counter

import pytest

from agents.baselines import MajorityTypePolicy, RandomPolicy, ReplayPolicy, RuleBasedPolicy, page_elements
from shop_env.actions import parse_model_output
from shop_env.data.store import open_store, write_store
from tests.test_evaluation import make_sessions

ELEMENTS = [{"name": "nav_bar.search_input", "kind": "input", "text": ""},
            {"name": "search_results.blue_mug.product_title", "kind": "click", "text": "Blue Mug Ceramic"},
            {"name": "search_results.red_mug.product_title", "kind": "click", "text": "Red Mug"},
            {"name": "refinements.customer_reviews", "kind": "click", "text": "4 stars & up"}]


def info(step: int = 1, session: str = "s1", elements=ELEMENTS) -> dict:
    return {"session_id": session, "step_index": step, "elements": elements, "messages": []}


def test_random_outputs_are_valid_and_use_page_elements():
    pol = RandomPolicy(seed=0)
    names = {e["name"] for e in ELEMENTS}
    inputs = {"nav_bar.search_input"}
    seen = Counter()
    for step in range(300):
        out = pol.act(["obs"], [info(step)])[0]
        parsed = parse_model_output(out)
        assert parsed.ok, out
        a = parsed.action
        seen[a.type] += 1
        if a.type == "click":
            assert a.name in names - inputs
        elif a.type == "type_and_submit":
            assert a.name in inputs and a.text.strip()
    assert all(seen[t] > 60 for t in ("click", "type_and_submit", "terminate")), seen


def test_random_is_seeded_per_step_and_batch_independent():
    infos = [info(k, f"s{k % 3}") for k in range(20)]
    a = RandomPolicy(seed=3).act(["o"] * 20, infos)
    b = [RandomPolicy(seed=3).act(["o"], [i])[0] for i in reversed(infos)][::-1]
    assert a == b
    assert a != RandomPolicy(seed=4).act(["o"] * 20, infos)


def test_random_without_inputs_never_types_and_handles_empty_pages():
    only_clicks = [e for e in ELEMENTS if e["kind"] == "click"]
    for k in range(100):
        out = parse_model_output(RandomPolicy(1).act(["o"], [info(k, elements=only_clicks)])[0])
        assert out.action.type != "type_and_submit"
    out = parse_model_output(RandomPolicy(1).act(["o"], [info(0, elements=[])])[0])
    assert out.action.type == "terminate"


def test_element_objects_are_accepted():
    class El:
        def __init__(self, name, kind, text=""):
            self.name, self.kind, self.text = name, kind, text
    clicks, inputs, texts = page_elements({"elements": [El("a.b", "click", "hi"), El("q", "input")]})
    assert clicks == ["a.b"] and inputs == ["q"] and texts == ["hi"]


def test_majority_fits_the_most_frequent_type(tmp_path):
    sessions = make_sessions(25, seed=3)
    counts = Counter(a.type for s in sessions for a in s.actions)
    pol = MajorityTypePolicy.fit(sessions)
    assert pol.majority_type == counts.most_common(1)[0][0] == "click"
    out = parse_model_output(pol.act(["o"], [info()])[0]).action
    assert out.type == "click" and out.name in {e["name"] for e in ELEMENTS}
    term = MajorityTypePolicy("terminate")
    assert parse_model_output(term.act(["o"], [info()])[0]).action.type == "terminate"
    with pytest.raises(ValueError):
        MajorityTypePolicy.fit([])


def test_replay_reads_the_store_not_info_gold(tmp_path):
    path = write_store(tmp_path / "s", make_sessions(5, seed=2))
    store = open_store(path)
    pol = ReplayPolicy(store)
    for s in store:
        for k, step in enumerate(s.steps):
            i = {"session_id": s.session_id, "step_index": k, "gold": {"type": "terminate"}}
            assert parse_model_output(pol.act(["o"], [i])[0]).action == step.action


def test_rule_based_shopper():
    pol = RuleBasedPolicy()
    home = [{"name": "nav_bar.search_input", "kind": "input"}, {"name": "nav_bar.deals", "kind": "click"}]
    a = parse_model_output(pol.act(["I am looking for a blue ceramic mug for my office."], [info(0, elements=home)])[0]).action
    assert a.type == "type_and_submit" and a.name == "nav_bar.search_input" and a.text == "blue ceramic mug"
    a = parse_model_output(pol.act(["o"], [info(1)])[0]).action
    assert a.type == "click" and a.name == "search_results.blue_mug.product_title"
    product = ELEMENTS + [{"name": "buybox.purchase_form.add_to_cart", "kind": "click"}]
    a = parse_model_output(pol.act(["o"], [info(2, elements=product)])[0]).action
    assert a.name == "buybox.purchase_form.add_to_cart"
    cart = [{"name": "cart.proceed_to_checkout", "kind": "click"}]
    assert parse_model_output(pol.act(["o"], [info(3, elements=cart)])[0]).action.name == "cart.proceed_to_checkout"
    assert parse_model_output(pol.act(["o"], [info(4, elements=[])])[0]).action.type == "terminate"


def test_resolve_model_path(tmp_path):
    from agents.baselines import resolve_model_path
    run = tmp_path / "run"
    (run / "checkpoint-000004" / "model").mkdir(parents=True)
    (run / "checkpoint-000004" / "model" / "config.json").write_text("{}")
    (run / "latest").write_text("checkpoint-000004")
    assert resolve_model_path(str(run)) == str(run / "checkpoint-000004" / "model")
    (run / "final").mkdir()
    (run / "final" / "config.json").write_text("{}")
    assert resolve_model_path(str(run)) == str(run / "final")
    assert resolve_model_path(str(run / "final")) == str(run / "final")
    assert resolve_model_path("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no model"):
        resolve_model_path(str(tmp_path / "empty"))
