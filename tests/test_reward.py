"""Shop-R1 reward: every row of the paper's Table 1 with hand-computed totals, the ablation
switches, and reward-hacking properties."""
from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shop_env.actions import Action, format_model_output, parse_model_output
from shop_env.reward import (PRESETS, RewardBreakdown, RewardConfig, compute_reward, max_reward,
                             score_parsed)

C = Action("click", "buybox.add_to_cart")                       # tokens: buybox add to cart
S = Action("type_and_submit", "nav_bar.search_input", "wireless phone case")
T = Action("terminate")


def o(action: Action) -> str:
    return format_model_output("I think so.", action)


def click(name: str) -> str:
    return o(Action("click", name))


def submit(name: str, text: str) -> str:
    return o(Action("type_and_submit", name, text))


TERM = o(T)

# (output, gold, (format, type, attribute, value, total)), all hand-computed.
TABLE_1 = [
    # invalid format: everything 0
    ("not json", C, (0, 0, 0, 0, 0)),
    ('{"rationale": "x", "action": {"type": "scroll"}}', C, (0, 0, 0, 0, 0)),
    ('{"rationale": 1, "action": {"type": "click", "name": "buybox.add_to_cart"}}', C, (0, 0, 0, 0, 0)),
    # click: 0.5 format + 0.3 type + 0.2 name present + 1000 * ROUGE-L(name) above 0.75
    (click("buybox.add_to_cart"), C, (0.5, 0.3, 0.2, 1000, 1001.0)),
    ("```json\n" + click("buybox.add_to_cart") + "\n```", C, (0.5, 0.3, 0.2, 1000, 1001.0)),
    (click("Buybox Add-To-Cart"), C, (0.5, 0.3, 0.2, 1000, 1001.0)),        # same tokens
    (click("buybox.add_to_cart.now"), C, (0.5, 0.3, 0.2, 8000 / 9, 1.0 + 8000 / 9)),  # F = 8/9
    (click("buybox.add_to.button"), C, (0.5, 0.3, 0.2, 0, 1.0)),           # F = 0.75 exactly
    (click("add_to_cart"), Action("click", "add_to_cart.buy_now"), (0.5, 0.3, 0.2, 0, 1.0)),  # SPEC
    (click("reviews"), C, (0.5, 0.3, 0.2, 0, 1.0)),
    (click(""), C, (0.5, 0.3, 0, 0, 0.8)),                                   # empty name
    (click("   "), C, (0.5, 0.3, 0, 0, 0.8)),                                # blank name
    # wrong type: format only
    (TERM, C, (0.5, 0, 0, 0, 0.5)),
    (submit("buybox.add_to_cart", "x"), C, (0.5, 0, 0, 0, 0.5)),
    (click("nav_bar.search_input"), S, (0.5, 0, 0, 0, 0.5)),
    (TERM, S, (0.5, 0, 0, 0, 0.5)),
    (click("x"), T, (0.5, 0, 0, 0, 0.5)),
    # type_and_submit: 0.1 name present + 0.1 text present + 0.1*s(name) + 1000*s(text)
    (submit("nav_bar.search_input", "wireless phone case"), S, (0.5, 0.3, 0.2, 1000.1, 1001.1)),
    (submit("nav_bar.search_input", "phone case"), S, (0.5, 0.3, 0.2, 800.1, 801.1)),   # F = 0.8
    (submit("nav_bar.search_input", "wireless phone case for iphone"), S,
     (0.5, 0.3, 0.2, 0.1, 1.1)),                                              # text F = 0.75 exactly
    (submit("nav_bar.search_input", ""), S, (0.5, 0.3, 0.1, 0.1, 1.0)),       # empty text
    (submit("", "wireless phone case"), S, (0.5, 0.3, 0.1, 1000, 1000.9)),   # empty name
    (submit("", ""), S, (0.5, 0.3, 0, 0, 0.8)),
    (submit("search", "Wireless Phone-Case"), S, (0.5, 0.3, 0.2, 1000, 1001.0)),  # name F = 0.4
    (submit("nav_bar.search_input", "laptop"), S, (0.5, 0.3, 0.2, 0.1, 1.1)),
    # terminate: type alone
    (TERM, T, (0.5, 0.3, 0, 0, 0.8)),
]


@pytest.mark.parametrize("output, gold, expected", TABLE_1)
def test_table_1(output, gold, expected):
    got = compute_reward(output, gold)
    assert got.to_dict() == pytest.approx(dict(zip(("format", "type", "attribute", "value", "total"), expected)),
                                          abs=1e-9)
    assert score_parsed(parse_model_output(output), gold) == got


@pytest.mark.parametrize("preset, output, gold, total", [
    ("no_format", click("buybox.add_to_cart"), C, 1000.5),
    ("no_format", TERM, C, 0.0),
    ("no_format", TERM, T, 0.3),
    ("no_format", "garbage", C, 0.0),
    ("no_dars", click("buybox.add_to_cart"), C, 2.0),
    ("no_dars", click("buybox.add_to_cart.now"), C, 1.0 + 8 / 9),
    ("no_dars", submit("nav_bar.search_input", "wireless phone case"), S, 2.1),
    ("no_dars", TERM, T, 0.8),
    ("no_rationale", click("buybox.add_to_cart"), C, 1001.0),                # trainers' term only
    ("binary_action", click("buybox.add_to_cart"), C, 1.5),
    ("binary_action", click("buybox.add_to_cart.now"), C, 0.5),              # names must be equal
    ("binary_action", submit("nav_bar.search_input", "phone case"), S, 1.5),  # text F 0.8 > 0.75
    ("binary_action", submit("nav_bar.search_input", "wireless phone case for iphone"), S, 0.5),
    ("binary_action", TERM, T, 1.5),
    ("binary_action", TERM, C, 0.5),
    ("binary_action", "garbage", T, 0.0),
    ("binary", click("buybox.add_to_cart"), C, 1.0),
    ("binary", TERM, C, 0.0),
    ("binary", TERM, T, 1.0),
    ("binary", submit("nav_bar.search_input", "laptop"), S, 0.0),
])
def test_ablation_presets(preset, output, gold, total):
    assert compute_reward(output, gold, RewardConfig.preset(preset)).total == pytest.approx(total, abs=1e-9)


def test_custom_weights_threshold_and_factor():
    cfg = RewardConfig(format_weight=1.0, type_weight=2.0, click_name_weight=4.0, dars_factor=10.0, threshold=0.5)
    # "buybox.add_to.button" has F = 0.75 > 0.5 now
    assert compute_reward(click("buybox.add_to.button"), C, cfg).total == pytest.approx(1 + 2 + 4 + 7.5)
    assert RewardConfig.preset("shop_r1", dars_factor=5.0).value_factor == 5.0
    assert RewardConfig.preset("no_dars").value_factor == 1.0
    assert RewardConfig.preset("no_rationale").rationale_weight == 0.0 < RewardConfig().rationale_weight
    assert max_reward(C) == pytest.approx(1001.0) and max_reward(S) == pytest.approx(1001.1)
    assert max_reward(T) == pytest.approx(0.8) and max_reward(C, PRESETS["binary"]) == 1.0


@pytest.mark.parametrize("kwargs, fragment", [
    ({"action_reward": "ternary"}, "action_reward"), ({"threshold": 1.5}, "threshold"),
])
def test_bad_config_is_a_clear_error(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        RewardConfig(**kwargs)
    with pytest.raises(ValueError, match="unknown reward preset"):
        RewardConfig.preset("shop-r2")


def test_gold_may_be_a_canonical_dict():
    assert compute_reward(click("buybox.add_to_cart"), C.to_dict()) == compute_reward(click("buybox.add_to_cart"), C)
    assert max_reward(S.to_dict()) == max_reward(S)
    with pytest.raises(ValueError, match="unknown action keys"):
        compute_reward(TERM, {"type": "terminate", "foo": 1})


def test_breakdown_to_dict_is_plain_json():
    d = compute_reward(click("buybox.add_to_cart"), C).to_dict()
    assert list(d) == ["format", "type", "attribute", "value", "total"]
    assert json.loads(json.dumps(d)) == d and isinstance(compute_reward("x", C), RewardBreakdown)


# --- reward-hacking properties ----------------------------------------------------------------

WORDS = ["buybox", "add", "to", "cart", "nav", "bar", "search", "input", "phone", "case", "wireless",
         "review", "2", "XL", "手机", "é", ""]
SEPS = st.sampled_from([".", "_", " ", "-", ""])
PHRASE = st.lists(st.tuples(st.sampled_from(WORDS), SEPS), max_size=6).map(
    lambda parts: "".join(w + s for w, s in parts))
RECORDED = st.one_of(
    st.builds(lambda n: Action("click", n), PHRASE),
    st.builds(lambda n, t: Action("type_and_submit", n, t), PHRASE, PHRASE),
    st.just(T),
).filter(lambda a: a.type == "terminate" or (a.name.strip() and (a.type == "click" or a.text.strip())))
ANY_ACTION = st.one_of(st.builds(lambda n: Action("click", n), PHRASE),
                       st.builds(lambda n, t: Action("type_and_submit", n, t), PHRASE, PHRASE), st.just(T))
CONFIGS = st.sampled_from(sorted(PRESETS)).map(RewardConfig.preset) | st.builds(
    RewardConfig, threshold=st.sampled_from([0.0, 0.5, 0.75, 0.9, 1.0]),
    dars_factor=st.sampled_from([1.0, 10.0, 1000.0]))


def related_output(gold: Action):
    """Outputs near the gold (edits of its name/text), far from it, or not JSON at all."""
    def edit(s: str):
        return st.one_of(st.just(s), st.just(s + " x"), st.just(s.upper()), st.just(" " + s + " "),
                         st.just(s.replace(".", " ")), PHRASE)
    near = st.one_of(edit(gold.name).map(lambda n: Action("click", n)),
                     st.tuples(edit(gold.name), edit(gold.text)).map(lambda nt: Action("type_and_submit", *nt)))
    return st.one_of(near.map(o), ANY_ACTION.map(o), st.text(max_size=40))


@settings(deadline=None, max_examples=400)
@given(RECORDED, CONFIGS, st.data())
def test_no_output_beats_the_correct_action(gold, cfg, data):
    output = data.draw(related_output(gold))
    best = compute_reward(o(gold), gold, cfg).total
    got = compute_reward(output, gold, cfg)
    assert got.total <= best + 1e-9
    assert best == max_reward(gold, cfg)
    # the breakdown is consistent and never negative
    parts = (got.format, got.type, got.attribute, got.value)
    assert min(parts) >= 0 and got.total == pytest.approx(sum(parts), abs=1e-9)
    if not parse_model_output(output).ok:
        assert got == RewardBreakdown()


@settings(deadline=None, max_examples=300)
@given(RECORDED.filter(lambda a: a.type != "terminate"), CONFIGS)
def test_terminate_earns_less_than_the_correct_action(gold, cfg):
    assert compute_reward(TERM, gold, cfg).total < compute_reward(o(gold), gold, cfg).total


@settings(deadline=None, max_examples=300)
@given(RECORDED, ANY_ACTION, CONFIGS)
def test_wrong_type_never_earns_more_than_format(gold, pred, cfg):
    assume(pred.type != gold.type)
    got = compute_reward(o(pred), gold, cfg)
    assert got.total <= (cfg.format_weight if cfg.format_reward else 0.0)
    assert got.type == got.attribute == got.value == 0.0


@settings(deadline=None, max_examples=200)
@given(RECORDED.filter(lambda a: a.type != "terminate"))
def test_dars_makes_the_hard_part_dominate(gold):
    """With DARS a type-correct output with a matching value outweighs any mix of easy credit:
    the value term alone is worth more than every other term together."""
    cfg = RewardConfig()
    best = compute_reward(o(gold), gold, cfg)
    assume(best.value > 0)
    easy = cfg.format_weight + cfg.type_weight + cfg.click_name_weight + 0.3
    assert best.value > 100 * easy
