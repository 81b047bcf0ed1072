"""SB3 adapter: candidate slots, masks and rewards of the wrapper; MaskablePPO beats random on test.

Measured on this machine (torch 1 thread; evaluation harness on the 336-step test split of
the embedded sample, latest-step context; MaskablePPO with the defaults of
``train_maskable_ppo``, 8192 training steps on the train split, ~11-17 s unloaded):

    policy                 exact          type acc       mean Shop-R1 reward
    random, seeds 0-4      0.068 - 0.110  0.295 - 0.372    3.2 - 11.1  (seed 0: 0.086 / 0.327 / 11.07)
    MaskablePPO, seeds 0-4 0.107 - 0.152  0.515 - 0.595  118   - 159   (seed 0: 0.149 / 0.530 / 152.8)

At 6144 steps one seed in five (3) had not yet found the search slots and collapsed onto
clicks (type acc 0.36), hence 8192. The test pins seed 0 for both and asks for margins that
every one of the 25 PPO x random seed pairs above clears: type accuracy +0.12 (smallest
pair gap 0.143), mean reward at least 5x random's and 50 above it (smallest PPO 118 vs
largest random 11.1). Exact match is the thin one (random gets ~9% from saying
``terminate`` a third of the time; DARS makes terminate worth 0.8 against ~1000 for a
correct click or query, so the PPO policy never terminates, as the paper's reward intends),
so for it the test only asks that the pinned pair is not worse. With the wrapper reading
``info`` (history, persona, the inputs' text) instead of the prompt, seed 0 measured PPO
0.165 / 0.598 / 173.0 against random 0.081 / 0.313 / 5.4 (exact / type acc / reward).
"""
from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest

from shop_env.actions import Action
from shop_env.data.model import Session, Step
from shop_env.data.store import write_store
from shop_env.errors import MissingExtraError
from shop_env.integrations import sb3 as S
from shop_env.reward import compute_reward

PAGE = ('<html><body><input name="nav_bar.search_input" value="{value}"/>'
        '<a name="search_results.{a}.product_title">{a} title</a><a name="search_results.{b}.product_title">'
        '{b} title</a><button name="buybox.add_to_cart">Add to cart</button></body></html>')


def _session() -> Session:
    acts = [Action("type_and_submit", "nav_bar.search_input", "trail shoes"),
            Action("click", "search_results.red_shoe.product_title"), Action("click", "buybox.add_to_cart"),
            Action("terminate")]
    pages = [PAGE.format(value="", a="red_shoe", b="blue_shoe"), PAGE.format(value="trail shoes", a="red_shoe",
                                                                             b="blue_shoe"),
             PAGE.format(value="trail shoes", a="green_shoe", b="pink_shoe"),
             PAGE.format(value="", a="x", b="y")]
    return Session("s1", [Step(p, a, url=f"https://shop.example/{k}") for k, (p, a) in enumerate(zip(pages, acts))],
                   user_id="u1", persona={"need": {"product_type": "running shoes"}, "intent": "buy"})


@pytest.fixture()
def wrapped(tmp_path):
    store = write_store(tmp_path / "store", [_session()])
    env = S.ShopSB3Env(data_path=store, split="all", context="latest_step", reward_scale=1e-3)
    yield env
    env.close()


def test_spaces_masks_and_rewards_follow_the_shop_r1_reward(wrapped):
    env = wrapped
    assert env.action_space.n == S.FeatureConfig().max_candidates
    obs, info = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape and env.observation_space.contains(obs)
    golds = [s.action for s in _session().steps]
    hits = 0
    for k, gold in enumerate(golds):
        mask = env.action_masks()
        cands = env.candidates()
        assert sorted(np.flatnonzero(mask)) == sorted(cands)
        assert cands[0].action == Action("terminate")
        # every named clickable element of the page is a candidate, once
        clicks = sorted(c.action.name for c in cands.values() if c.action.type == "click")
        assert clicks == sorted(e.name for e in info["elements"] if e.kind != "input")
        # choose the recorded action when it is a candidate, else terminate
        slot = next((s for s, c in cands.items() if c.action == gold), 0)
        hits += slot != 0 or gold.type == "terminate"
        obs, r, term, trunc, info = env.step(slot)
        expected = compute_reward(cands[slot].output_text(), gold).total
        assert info["shop_r1_reward"] == expected and r == pytest.approx(expected * 1e-3)
        assert info["exact_match"] == (cands[slot].action == gold) and term == (k == len(golds) - 1)
    assert hits == 3  # the first query ("trail shoes") is on no page, in no history, not in the persona


def test_candidates_have_stable_slots_and_queries_from_history_persona_page(wrapped):
    env = wrapped
    env.reset(seed=0)
    first = env.candidates()
    queries = {c.action.text: c.source for c in first.values() if c.action.type == "type_and_submit"}
    assert queries.get("running shoes") == "persona" and "buy" in queries
    env.step(next(s for s, c in first.items() if c.action.text == "running shoes"))
    second = env.candidates()
    typed = {c.action.text: c.source for c in second.values() if c.action.type == "type_and_submit"}
    # teacher forcing: the history holds the recorded query, not the one chosen
    assert typed["trail shoes"] == "history" and typed["running shoes"] == "persona"
    assert "page" in typed.values()  # short element texts of the page
    slot_of = {c.action.name: s for s, c in second.items() if c.action.type == "click"}
    env.step(slot_of["search_results.red_shoe.product_title"])
    third = {c.action.name: s for s, c in env.candidates().items() if c.action.type == "click"}
    # same role and rank -> same slot, whatever the product
    assert third["buybox.add_to_cart"] == slot_of["buybox.add_to_cart"]
    assert third["search_results.green_shoe.product_title"] == slot_of["search_results.red_shoe.product_title"]
    masked = int(np.flatnonzero(~env.action_masks())[0])
    _, r, _, _, info = env.step(masked)  # algorithms without masks: scored like an invalid output
    assert r == 0.0 and info["masked_action"] and info["chosen"] is None and info["parse_error"]
    strict = S.ShopSB3Env(env.env, masked_action="error")
    strict.reset(seed=0)
    with pytest.raises(ValueError, match="masked"):
        strict.step(int(np.flatnonzero(~strict.action_masks())[0]))


def test_passes_sb3_env_checker(wrapped):
    from stable_baselines3.common.env_checker import check_env

    check_env(wrapped, warn=True)


def test_featurizer_is_deterministic_and_policy_matches_wrapper(wrapped):
    env = wrapped
    obs, info = env.reset(seed=0)
    inner_obs, inner_info = env.env.reset(options={"session_index": 0})
    fresh = S.Featurizer()
    v1, c1, m1 = fresh(inner_info)
    v2, c2, m2 = S.Featurizer()(dict(inner_info, session_id="other"))  # no cache hit
    assert np.array_equal(v1, v2) and c1 == c2 and np.array_equal(m1, m2) and np.array_equal(v1, obs)

    class Pick:  # a stand-in model that always picks the highest open slot
        def predict(self, vec, action_masks=None, deterministic=True):
            return int(np.flatnonzero(action_masks)[-1]), None

    out = S.SB3Policy(Pick()).act([inner_obs], [inner_info])[0]
    assert out == c1[int(np.flatnonzero(m1)[-1])].output_text()


def test_missing_extra_names_the_install_command(monkeypatch, wrapped):
    monkeypatch.setitem(sys.modules, "sb3_contrib", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'shop-r1\[sb3\]'"):
        S.train_maskable_ppo(wrapped, 8)


def test_maskable_ppo_beats_random_on_the_test_split():
    torch = pytest.importorskip("torch")
    from agents.baselines import RandomPolicy
    from shop_env.evaluation.runner import evaluate
    from shop_env.paths import sample_data_dir

    torch.set_num_threads(1)
    data = sample_data_dir()
    env = S.ShopSB3Env(data_path=data, split="train", context="latest_step", reward_scale=1e-3)
    model = S.train_maskable_ppo(env, 8192, seed=0)
    ppo = evaluate(S.SB3Policy(model), data, split="test", context="latest_step")
    rnd = evaluate(RandomPolicy(seed=0), data, split="test", context="latest_step")
    assert ppo.n_steps == rnd.n_steps > 100
    p, r = ppo.table2, rnd.table2
    print("ppo", p["exact"]["value"], p["type_accuracy"]["value"], ppo.extra["mean_reward"],
          "random", r["exact"]["value"], r["type_accuracy"]["value"], rnd.extra["mean_reward"])
    assert p["type_accuracy"]["value"] >= r["type_accuracy"]["value"] + 0.12
    assert ppo.extra["mean_reward"] >= max(5 * rnd.extra["mean_reward"], rnd.extra["mean_reward"] + 50)
    assert p["exact"]["value"] >= r["exact"]["value"]
    assert ppo.extra["parse_failure_rate"] == 0.0  # candidates are always well-formed outputs


def test_more_clicks_than_slots_are_dropped_not_looped():
    config = S.FeatureConfig(max_candidates=20, max_inputs=1, history_queries=1, persona_queries=1, page_queries=1)
    elements = [{"name": f"list.item_{i}.link", "kind": "click", "text": ""} for i in range(50)]
    elements.append({"name": "nav.search", "kind": "input", "text": ""})
    cands = S.candidate_actions({"elements": elements, "url": "https://x"}, config)
    clicks = [c for c in cands.values() if c.action.type == "click"]
    assert len(clicks) == 20 - config.first_click_slot and max(cands) < 20
    n = len(clicks)
    assert {c.action.name for c in clicks} == {f"list.item_{i}.link" for i in range(n)}  # the first n in page order


def test_is_a_wrapper_that_reads_info_not_the_prompt(tmp_path, wrapped):
    """Features come from info["elements"/"history"/"persona"/"url"]: two prompt formats
    (whole session vs latest step) give the same observation vectors and candidates."""
    from shop_env.env import ShopSessionEnv

    assert isinstance(wrapped, gym.Wrapper) and isinstance(wrapped.unwrapped, ShopSessionEnv)
    store = write_store(tmp_path / "other", [_session()])
    whole = S.ShopSB3Env(data_path=store, split="all", context="whole_session")
    obs_a, info_a = wrapped.reset(seed=0)
    obs_b, info_b = whole.reset(seed=0)
    for k in range(3):
        assert np.array_equal(obs_a, obs_b) and wrapped.candidates() == whole.candidates(), k
        slot = max(wrapped.candidates())
        obs_a, *_ = wrapped.step(slot)
        obs_b, *_ = whole.step(slot)
    whole.close()


def test_feature_offsets_are_named(wrapped):
    c, lay = S.FeatureConfig(), S.HISTORY_LAYOUT
    obs, _ = wrapped.reset(seed=0)
    h = c.history_offset
    assert obs[h + lay.last_action_type] == 1.0 and obs[h + lay.n_actions] == 0.0  # no history yet
    assert np.array_equal(obs[c.mask_offset:].astype(bool), wrapped.action_masks())
    wrapped.step(0)  # the recorded first action (a search) enters the history, whatever was chosen
    obs, *_ = wrapped.step(0)  # ... and then the recorded click
    assert obs[h + lay.last_action_type + 1] == 1.0  # ("none", click, type_and_submit, terminate)
    assert obs[h + lay.n_actions] == pytest.approx(2 / 20)
    assert obs[h + lay.n_clicks] == pytest.approx(1 / 10) and obs[h + lay.n_searches] == pytest.approx(1 / 5)
    assert c.page_offset == 0 < c.history_offset < c.mask_offset < c.dim
