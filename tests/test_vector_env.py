"""ShopSessionEnv in gymnasium.vector.AsyncVectorEnv: same results as SyncVectorEnv and as one env."""
from __future__ import annotations

import functools
import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from shop_env.actions import Action, format_model_output
from shop_env.data.model import Session, Step
from shop_env.data.store import open_store, write_store
from shop_env.env import ShopSessionEnv
from shop_env.reward import max_reward

ACTIONS = [Action("type_and_submit", "nav_bar.search_input", "trail running shoes"),
           Action("click", "search_results.trail_shoe.product_title"),
           Action("click", "buybox.add_to_cart"), Action("terminate")]


def _session(i: int) -> Session:
    n = 2 + i % 3
    steps = [Step(page_html=f'<html><body><input name="nav_bar.search_input" value=""/>'
                            f'<a name="search_results.trail_shoe.product_title">Trail shoe {i}</a>'
                            f'<button name="buybox.add_to_cart">Add</button></body></html>',
                  action=ACTIONS[(i + k) % len(ACTIONS)], url=f"https://shop.example/{i}/{k}") for k in range(n)]
    return Session(session_id=f"s{i}", steps=steps, user_id=f"u{i}")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return write_store(tmp_path_factory.mktemp("vec") / "store", [_session(i) for i in range(6)])


def _oracle(store, info, i) -> str:
    """The recorded action of env ``i``'s current step (the replay oracle), or "" past the end."""
    sid, k = info["session_id"][i], int(info["step_index"][i])
    session = store[store.index_of(str(sid))]
    return format_model_output("r", session.steps[k].action) if k < len(session.steps) else ""


def _rollout(vec: gym.vector.VectorEnv, store, n_steps: int, seeds: list[int]):
    obs, info = vec.reset(seed=seeds)
    trace = []
    for _ in range(n_steps):
        actions = [_oracle(store, info, i) for i in range(vec.num_envs)]
        obs, reward, term, trunc, info = vec.step(actions)
        trace.append((list(obs), reward.tolist(), term.tolist(), actions))
    return trace


def _fns(store_path, n):
    return [functools.partial(ShopSessionEnv, store_path, split="all", context="latest_step") for _ in range(n)]


def test_async_vector_env_matches_sync_and_scores_oracle(store_path):
    store = open_store(store_path)
    seeds = [11, 12, 13]
    vec = gym.vector.AsyncVectorEnv(_fns(store_path, 3), shared_memory=False, autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        assert isinstance(vec.single_observation_space, gym.spaces.Text)
        trace = _rollout(vec, store, 10, seeds)
    finally:
        vec.close()
    sync = gym.vector.SyncVectorEnv(_fns(store_path, 3), autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        assert trace == _rollout(sync, store, 10, seeds)
    finally:
        sync.close()
    # every action was the recorded one, so every step earns the maximum reward for its gold
    episodes = 0
    for _, rewards, terms, outs in trace:
        for r, out in zip(rewards, outs):
            gold = Action.from_dict(json.loads(out)["action"])
            assert r == pytest.approx(max_reward(gold))
        episodes += sum(terms)
    assert episodes >= 3  # sessions ended and were reset inside the vector env
    # env 0 of the vector env behaves exactly like a lone env seeded the same way and reset on termination
    single = ShopSessionEnv(store_path, split="all", context="latest_step")
    obs, info = single.reset(seed=seeds[0])
    for k in range(10):
        action = _oracle(store, {"session_id": [info["session_id"]], "step_index": [info["step_index"]]}, 0)
        obs, r, term, _, info = single.step(action)
        if term:
            obs, info = single.reset()
        assert (obs, r, term) == (trace[k][0][0], trace[k][1][0], trace[k][2][0])


def test_async_vector_env_reports_per_step_info(store_path):
    vec = gym.vector.AsyncVectorEnv(_fns(store_path, 2), shared_memory=False)
    try:
        obs, info = vec.reset(seed=[0, 1])
        assert all(isinstance(o, str) and "[Page 1, current]" in o for o in obs)
        wrong = format_model_output("r", Action("click", "footer.careers"))
        right = _oracle(open_store(store_path), info, 1)
        _, reward, _, _, info = vec.step([wrong, right])
        # dict-valued infos arrive as a dict of per-env arrays
        gold = [Action.from_dict({k: v[i] for k, v in info["gold"].items() if not k.startswith("_") and v[i]})
                for i in range(2)]
        assert not info["exact_match"][0] and info["exact_match"][1]
        assert reward[0] == (1.0 if gold[0].type == "click" else 0.5)  # format (+ type + attribute) only
        assert reward[1] == pytest.approx(max_reward(gold[1]))
        assert list(info["step_index"]) == [1, 1] and np.all(info["_reward"])
    finally:
        vec.close()


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_vector_env_mixed_parse_failures(store_path, vector_cls):
    """An unparseable output in one env and a valid one in another: infos must still merge
    (regression: ``info["parsed"]`` was None in one and a dict in the other, which made
    gymnasium's merge raise, and AsyncVectorEnv then hang in ``close``)."""
    kw = {"shared_memory": False} if vector_cls is gym.vector.AsyncVectorEnv else {}
    vec = vector_cls(_fns(store_path, 2), **kw)
    try:
        vec.reset(seed=[0, 1])
        _, reward, _, _, info = vec.step(["not json", format_model_output("r", Action("terminate"))])
        assert reward[0] == 0.0 and info["parse_error"][0] and not info["parse_error"][1]
        assert reward[1] >= 0.5
    finally:
        vec.close()


def test_vector_env_example_runs():
    import runpy

    result = runpy.run_path("examples/vector_env.py")["main"](["--envs", "2", "--steps", "6"])
    assert result["mean_reward"] >= 0.0 and result["env_steps_per_s"] > 0
