"""Metrics: exact match decisions, macro-F1 against scikit-learn, per-type table, bootstrap."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from shop_env.actions import Action, format_model_output
from shop_env.metrics import LABELS, compute_metrics, compute_metrics_from_actions, exact_match, macro_f1

C = Action("click", "buybox.add_to_cart")
S = Action("type_and_submit", "nav_bar.search_input", "wireless phone case")
T = Action("terminate")


@pytest.mark.parametrize("pred, gold, loose, strict", [
    (None, C, False, False),
    (C, C, True, True),
    (Action("click", " buybox.add_to_cart "), C, True, True),
    (Action("click", "buybox.add_to_cart.now"), C, False, False),
    (Action("click", "Buybox.Add_To_Cart"), C, False, False),     # names are identifiers
    (T, C, False, False),
    (T, T, True, True),
    (C, T, False, False),
    (S, S, True, True),
    (Action("type_and_submit", S.name, "Wireless phone-case"), S, True, False),   # F = 1
    (Action("type_and_submit", S.name, "phone case"), S, True, False),            # F = 0.8
    (Action("type_and_submit", S.name, "wireless phone case for iphone"), S, False, False),  # F = 0.75
    (Action("type_and_submit", "nav_bar.search", S.text), S, False, False),
    (Action("type_and_submit", S.name, " 手机壳"), Action("type_and_submit", S.name, "手机壳"), True, True),
])
def test_exact_match_decisions(pred, gold, loose, strict):
    assert exact_match(pred, gold) is loose
    assert exact_match(pred, gold, strict=True) is strict


def test_exact_match_threshold_is_a_parameter():
    pred = Action("type_and_submit", S.name, "wireless phone case for iphone")
    assert exact_match(pred, S, threshold=0.7) and not exact_match(pred, S, threshold=0.75)


LABEL_OR_NONE = st.sampled_from(list(LABELS) + [None])


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(LABELS), LABEL_OR_NONE), min_size=1, max_size=60))
def test_macro_f1_equals_sklearn(pairs):
    gold = [g for g, _ in pairs]
    pred = [p for _, p in pairs]
    ours = macro_f1(gold, pred)
    present = [x for x in LABELS if x in gold or x in pred]
    theirs = f1_score(gold, [p or "invalid" for p in pred], labels=present, average="macro", zero_division=0)
    assert ours == pytest.approx(theirs, abs=1e-12)
    # and through compute_metrics, with unparseable outputs as None actions
    actions = {"click": C, "type_and_submit": S, "terminate": T}
    m = compute_metrics_from_actions([actions[p] if p else None for p in pred], [actions[g] for g in gold],
                                     bootstrap=0)
    assert m["type_macro_f1"] == pytest.approx(theirs, abs=1e-12)
    assert m["type_accuracy"] == pytest.approx(np.mean([g == p for g, p in pairs]))


def test_compute_metrics_hand_example():
    golds = [C, C, S, S, T, T, T]
    outputs = [format_model_output("r", C),                                         # exact
               "not json",                                                          # invalid
               format_model_output("r", Action("type_and_submit", S.name, "phone case")),  # exact, not strict
               format_model_output("r", T),                                         # wrong type
               format_model_output("r", T),                                         # exact
               format_model_output("r", T),                                         # exact
               format_model_output("r", Action("click", "x"))]                      # wrong type
    m = compute_metrics(outputs, golds, bootstrap=200, seed=3)
    assert m["n"] == 7
    assert m["exact_match"] == pytest.approx(4 / 7)
    assert m["exact_match_strict"] == pytest.approx(3 / 7)
    assert m["type_accuracy"] == pytest.approx(4 / 7)
    assert m["format_rate"] == pytest.approx(6 / 7)
    # per label: click tp1 fp1 fn1 -> 0.5; tas tp1 fp0 fn1 -> 2/3; terminate tp2 fp1 fn1 -> 2/3
    assert m["per_label_f1"] == pytest.approx({"click": 0.5, "type_and_submit": 2 / 3, "terminate": 2 / 3})
    assert m["type_macro_f1"] == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    assert m["per_type"]["click"] == {"n": 2, "exact_match": 0.5, "exact_match_strict": 0.5, "type_accuracy": 0.5}
    assert m["per_type"]["type_and_submit"] == {"n": 2, "exact_match": 0.5, "exact_match_strict": 0.0,
                                                "type_accuracy": 0.5}
    assert m["per_type"]["terminate"]["exact_match"] == pytest.approx(2 / 3)
    assert m["counts"] == {"gold": {"click": 2, "type_and_submit": 2, "terminate": 3},
                           "pred": {"click": 2, "type_and_submit": 1, "terminate": 3, "invalid": 1}}
    assert m["confusion"]["matrix"] == [[1, 0, 0, 1], [0, 1, 1, 0], [1, 0, 2, 0]]
    for key in ("exact_match", "exact_match_strict", "type_accuracy", "type_macro_f1"):
        lo, hi = m["ci"][key]
        assert 0.0 <= lo <= m[key] <= hi <= 1.0 and lo < hi


def test_absent_gold_label_has_no_per_type_rate():
    m = compute_metrics([format_model_output("r", T)], [T], bootstrap=0)
    assert m["per_type"]["click"] == {"n": 0, "exact_match": None, "exact_match_strict": None, "type_accuracy": None}
    assert m["type_macro_f1"] == 1.0 and m["ci"] == {}  # absent labels leave the average


def test_bootstrap_matches_a_plain_loop_and_is_seeded():
    rng = np.random.default_rng(7)
    actions = [C, S, T]
    golds = [actions[i] for i in rng.integers(0, 3, 80)]
    preds = [None if i == 3 else actions[i] for i in rng.integers(0, 4, 80)]
    m = compute_metrics_from_actions(preds, golds, bootstrap=300, seed=11)
    assert m == compute_metrics_from_actions(preds, golds, bootstrap=300, seed=11)
    assert m["ci"] != compute_metrics_from_actions(preds, golds, bootstrap=300, seed=12)["ci"]
    # reference: the same resample indices, each metric recomputed the slow way with sklearn
    idx = np.random.default_rng(11).integers(0, 80, size=(300, 80))
    g = np.array([a.type for a in golds])
    p = np.array([a.type if a else "invalid" for a in preds])
    exact = np.array([exact_match(a, b) for a, b in zip(preds, golds)])
    f1s = [f1_score(g[row], p[row], average="macro", zero_division=0,
                    labels=[x for x in LABELS if x in g[row] or x in p[row]]) for row in idx]
    assert m["ci"]["type_macro_f1"] == pytest.approx(list(np.percentile(f1s, [2.5, 97.5])), abs=1e-12)
    assert m["ci"]["exact_match"] == pytest.approx(list(np.percentile(exact[idx].mean(1), [2.5, 97.5])), abs=1e-12)
    assert m["ci"]["type_accuracy"] == pytest.approx(list(np.percentile((g[idx] == p[idx]).mean(1), [2.5, 97.5])))


def test_bootstrap_chunking_does_not_change_results(monkeypatch):
    import shop_env.metrics as metrics
    rng = np.random.default_rng(5)
    golds = [[C, S, T][i] for i in rng.integers(0, 3, 500)]
    preds = [[C, S, T, None][i] for i in rng.integers(0, 4, 500)]
    whole = compute_metrics_from_actions(preds, golds, bootstrap=100, seed=1)["ci"]
    monkeypatch.setattr(metrics, "BOOTSTRAP_CHUNK_CELLS", 500 * 7)  # chunks of 7 resamples
    assert compute_metrics_from_actions(preds, golds, bootstrap=100, seed=1)["ci"] == whole


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="2 predictions for 1 gold"):
        compute_metrics(["x", "y"], [T])
    with pytest.raises(ValueError, match="at least one example"):
        compute_metrics([], [])


def test_metrics_and_reward_apply_the_same_leniency():
    from shop_env.reward import compute_reward
    body = format_model_output("r", C)
    outputs = [body, " \n" + body + "\n", "```json\n" + body + "\n```", "```python\n" + body + "\n```",
               "Answer: " + body, body + body, body.replace('"click"', '"Click"')]
    m = compute_metrics(outputs, [C] * len(outputs), bootstrap=0)
    valid = [compute_reward(o, C).format > 0 for o in outputs]
    assert valid == [True, True, True, False, False, False, False]
    assert m["counts"]["pred"]["invalid"] == valid.count(False)
    assert m["exact_match"] == pytest.approx(3 / 7)


def test_perfect_predictions_score_one_even_when_a_label_is_absent():
    golds = [C, S, C, S]  # no terminate at all
    m = compute_metrics_from_actions(list(golds), golds, bootstrap=200, seed=0)
    assert m["type_macro_f1"] == 1.0 and m["ci"]["type_macro_f1"] == [1.0, 1.0]
    assert macro_f1(["click"], ["click"]) == 1.0
