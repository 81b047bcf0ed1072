"""ShopSessionEnv (ShopR1-v0): gymnasium API, replay semantics, scoring, budgets, vector envs."""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import shop_env  # noqa: F401  (importing registers ShopR1-v0)
from shop_env.actions import Action, format_model_output
from shop_env.data.model import Session, Step
from shop_env.data.store import open_store, write_store
from shop_env.env import ShopSessionEnv, UnicodeText, make_vector_env
from shop_env.prompts import build_prompt, count_tokens
from shop_env.reward import RewardConfig, max_reward
from tests._env_sessions import make_store, page, train_tokenizer

STEP_INFO = {"messages", "session_id", "step_index", "elements", "gold", "reward", "parsed", "parse_error",
             "exact_match", "type_match", "target_kept", "dropped_pages", "scored_step_index"}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("envstore") / "store", n_sessions=12)


def oracle(env: ShopSessionEnv, info: dict) -> str:
    """The replay policy: the recorded output for the shown step (via the store, not info['gold'])."""
    step = env.store[env.store.index_of(info["session_id"])].steps[info["step_index"]]
    return format_model_output(step.rationale or "", step.action)


def test_check_env_passes_without_warnings(store_path):
    env = gym.make("ShopR1-v0", data_path=store_path, split="all")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []
    env.close()
    assert isinstance(gym.make("shop_env:ShopR1-v0", data_path=store_path, split="all").unwrapped, ShopSessionEnv)


@pytest.mark.parametrize("context", ["whole_session", "latest_step"])
def test_replay_oracle_earns_max_reward_and_exact_match_on_every_step(store_path, context):
    env = ShopSessionEnv(store_path, split="all", context=context, replay="until_mismatch")
    n_steps = 0
    for i in range(len(env.store)):
        obs, info = env.reset(options={"session_index": i})
        session = env.store[i]
        done = False
        while not done:
            gold = session.steps[info["step_index"]].action
            obs, reward, done, truncated, info = env.step(oracle(env, info))
            assert reward == max_reward(gold) and info["exact_match"] is True and info["type_match"] is True
            assert info["gold"] == gold.to_dict() and info["parse_error"] is None
            assert set(info) >= STEP_INFO and truncated is False
            n_steps += 1
        assert info["scored_step_index"] == len(session) - 1  # until_mismatch never cut it short
    assert n_steps == env.store.num_steps


def test_teacher_forcing_moves_on_whatever_the_action_and_until_mismatch_stops(store_path):
    store = open_store(store_path)
    i = next(j for j in range(len(store)) if store.n_steps(j) >= 3)
    session = store[i]
    tf = ShopSessionEnv(store, context="latest_step")
    obs, info = tf.reset(options={"session_index": i})
    for k in range(len(session)):
        assert info["step_index"] == k and session.steps[k].page_html in obs
        obs, reward, term, trunc, info = tf.step("not json at all")
        assert reward == 0.0 and info["parse_error"] and info["parsed"] == {} and not info["exact_match"]
        assert term is (k == len(session) - 1)
    assert obs == "" and info["messages"] == [] and info["elements"] == []
    with pytest.raises(ResetNeeded):
        tf.step("again")
    um = ShopSessionEnv(store, replay="until_mismatch")
    obs, info = um.reset(options={"session_index": i})
    obs, r, term, _, info = um.step(oracle(um, info))
    assert not term
    wrong = format_model_output("I leave.", Action("terminate"))
    obs, r, term, _, info = um.step(wrong)
    assert term is True and info["exact_match"] is False and info["scored_step_index"] == 1


def test_reset_options_and_determinism(store_path):
    env = ShopSessionEnv(store_path, split="all")
    a = env.reset(seed=7)
    b = env.reset(seed=7)
    assert a[0] == b[0] and a[1]["session_id"] == b[1]["session_id"]
    ids = {env.reset(seed=s)[1]["session_id"] for s in range(40)}
    assert len(ids) > 5  # the seed really chooses among sessions
    sid = env.store[3].session_id
    obs, info = env.reset(options={"session_id": sid, "step": len(env.store[3]) - 1})
    assert info["session_id"] == sid and info["step_index"] == len(env.store[3]) - 1
    with pytest.raises(KeyError):
        env.reset(options={"session_id": "no-such-session"})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"sesion_id": sid})
    with pytest.raises(ValueError, match="step"):
        env.reset(options={"session_id": sid, "step": 99})
    # same seed and actions -> same transitions
    runs = []
    for _ in range(2):
        env.reset(seed=11)
        env.action_space.seed(5)
        runs.append([env.step(env.action_space.sample())[:4] for _ in range(1)])
    assert runs[0] == runs[1]


def test_default_split_and_bad_arguments(tmp_path, store_path):
    env = ShopSessionEnv(store_path)  # split="train": a seeded hash split of one store
    assert 0 < len(env.store) < 12
    with pytest.raises(ValueError, match="replay"):
        ShopSessionEnv(store_path, replay="free")
    with pytest.raises(ValueError, match="context"):
        ShopSessionEnv(store_path, context="all")
    with pytest.raises(ValueError, match="render_mode"):
        ShopSessionEnv(store_path, render_mode="human")
    write_store(tmp_path / "empty", [])
    with pytest.raises(Exception, match="no sessions"):
        ShopSessionEnv(tmp_path / "empty", split="all")


@settings(deadline=None, max_examples=150)
@given(text=st.one_of(st.text(max_size=300),
                      st.sampled_from(["", "{", "{}", '{"rationale": 1}', "\ud800", "null", "[]",
                                       '{"rationale":"x","action":{"type":"click","name":"' + "a" * 5000 + '"}}'])))
def test_any_action_never_raises_and_scores_finitely(store_path, text):
    env = ShopSessionEnv(store_path, split="all")
    env.reset(seed=0)
    obs, reward, term, trunc, info = env.step(text)
    assert isinstance(reward, float) and np.isfinite(reward) and reward >= 0.0
    assert type(term) is bool and type(trunc) is bool
    assert isinstance(obs, str) and obs in env.observation_space
    assert info["reward"]["total"] == reward


def test_random_strings_from_the_action_space(store_path):
    env = ShopSessionEnv(store_path, split="all")
    env.action_space.seed(0)
    env.reset(seed=0)
    for _ in range(50):
        obs, reward, term, trunc, info = env.step(env.action_space.sample())
        assert reward == 0.0
        if term:
            env.reset()


def test_unicode_pages_are_in_the_observation_space(tmp_path):
    html = page(0, ["a.b"], extra="<p>Sale 😀 手机 \u00a0 ünïcode \U0001F6D2</p>")
    path = write_store(tmp_path / "u", [Session("u", [Step(html, Action("terminate"))])])
    env = ShopSessionEnv(path, split="all")
    obs, _ = env.reset(seed=0)
    assert "😀" in obs and obs in env.observation_space
    assert not gym.spaces.Text(100).contains("😀")  # why UnicodeText exists
    assert UnicodeText(10).contains("😀手") and not UnicodeText(1).contains("ab")
    space = UnicodeText(1 << 26, seed=0)  # sampling a huge space stays cheap and in the space
    samples = [space.sample() for _ in range(5)] + [space.sample(mask=(7, None))]
    assert all(s in space and len(s) <= 4096 for s in samples) and len(samples[-1]) == 7


def test_budget_truncation_is_reported_in_info(store_path):
    store = open_store(store_path)
    i = max(range(len(store)), key=store.n_steps)
    session = store[i]
    k = len(session) - 1
    budget = len(build_prompt(session, k, context="whole_session").text) - 10
    env = ShopSessionEnv(store, max_chars=budget)
    obs, info = env.reset(options={"session_index": i, "step": k})
    ref = build_prompt(session, k, max_chars=budget)
    assert obs == ref.text and len(obs) <= budget
    assert info["dropped_pages"] == ref.dropped_pages == [0] and info["target_kept"] is True
    assert info["messages"] == ref.messages


def test_elements_are_lazy_and_read_once_per_page(store_path, monkeypatch):
    import pickle

    import shop_env.env as env_mod
    calls = []
    real = env_mod.named_elements
    monkeypatch.setattr(env_mod, "named_elements", lambda html, **kw: calls.append(html) or real(html, **kw))
    env = ShopSessionEnv(store_path, split="all")
    store = env.store
    i = max(range(len(store)), key=store.n_steps)
    obs, info = env.reset(options={"session_index": i})
    while True:  # nobody looks at the elements: the pages are never parsed
        obs, r, done, _, info = env.step("x")
        if done:
            break
    assert calls == []
    for _ in range(3):  # repeated resets on one session (GRPO groups) reuse what was read
        obs, info = env.reset(options={"session_index": i})
        done = False
        while not done:
            els = info["elements"]
            assert "nav_bar.search_input" in [e.name for e in els]
            assert len(els) == len(real(store[i].steps[info["step_index"]].page_html)) and els == list(els)
            obs, r, done, _, info = env.step("x")
    assert len(calls) == store.n_steps(i)
    fresh = env.reset(options={"session_index": i})[1]["elements"]
    assert pickle.loads(pickle.dumps(fresh)) == list(fresh)  # pickles (AsyncVectorEnv pipes)
    unread = ShopSessionEnv(store_path, split="all").reset(options={"session_index": i})[1]["elements"]
    assert pickle.loads(pickle.dumps(unread)) == fresh


def test_render_ansi(store_path):
    env = ShopSessionEnv(store_path, split="all", render_mode="ansi")
    env.reset(seed=0)
    env.step(format_model_output("I search.", Action("click", "zzz")))
    out = env.render()
    assert "session" in out and "reward" in out and "exact False" in out
    assert ShopSessionEnv(store_path, split="all").render() is None


def test_reward_config_is_used(store_path):
    env = ShopSessionEnv(store_path, split="all", reward_config=RewardConfig.preset("binary"))
    obs, info = env.reset(seed=0)
    _, reward, *_ = env.step(oracle(env, info))
    assert reward == 1.0


def _oracle_vector_run(venv, store, seed: int, steps: int) -> list[tuple[float, float]]:
    """(reward, expected) per sub-env step: the oracle's reward vs max_reward(gold). Same-step
    autoreset: every info shows a step still to score, so no call is spent on a reset."""
    obs, infos = venv.reset(seed=seed)
    pairs = []
    for _ in range(steps):
        actions, expected = [], []
        for j in range(venv.num_envs):
            assert infos["step_index"][j] < infos["n_steps"][j]
            gold = store[store.index_of(infos["session_id"][j])].steps[int(infos["step_index"][j])].action
            actions.append(format_model_output("", gold))
            expected.append(max_reward(gold))
        obs, r, term, trunc, infos = venv.step(tuple(actions))
        assert term.dtype == bool and not trunc.any()
        pairs.extend(zip((float(x) for x in r), expected))
    return pairs


def test_sync_and_async_vector_envs_agree(store_path):
    store = open_store(store_path)
    sync = make_vector_env(2, asynchronous=False, data_path=store_path, split="all")
    r_sync = _oracle_vector_run(sync, store, seed=3, steps=8)
    sync.close()
    asyn = make_vector_env(2, data_path=store_path, split="all")  # AsyncVectorEnv, shared_memory=False
    try:
        obs, infos = asyn.reset(seed=3)
        assert isinstance(obs, tuple) and all(isinstance(o, str) and o for o in obs)
        r_async = _oracle_vector_run(asyn, store, seed=3, steps=8)
    finally:
        asyn.close()
    assert all(r == e > 0 for r, e in r_sync)
    assert r_async == r_sync  # same per-env seeds -> same sessions, same rewards


def test_unbatch_infos_gives_each_env_the_info_it_returns_alone():
    """Nested dicts (the persona) included, through an episode end (final_info)."""
    from shop_env.env import unbatch_infos
    from shop_env.paths import sample_data_dir
    kwargs = dict(data_path=sample_data_dir(), split="test", context="latest_step", elements=False)
    vec = make_vector_env(2, asynchronous=False, **kwargs)
    singles = [ShopSessionEnv(**kwargs) for _ in range(2)]
    ended = 0
    try:
        _, info = vec.reset(seed=[5, 6])
        alone = [env.reset(seed=s)[1] for env, s in zip(singles, (5, 6))]
        for step in range(6):
            per_env = unbatch_infos(info, 2)
            for got, want in zip(per_env, alone):
                assert set(got) - {"final_info", "final_obs"} == set(want) and got["persona"] == want["persona"]
                assert (got["session_id"], got["step_index"]) == (want["session_id"], want["step_index"])
            outputs = ['{"rationale": "", "action": {"type": "terminate"}}'] * 2
            _, _, terminated, _, info = vec.step(outputs)
            alone = []
            for i, env in enumerate(singles):
                _, _, done, _, single_info = env.step(outputs[i])
                if done:
                    ended += 1
                    assert unbatch_infos(info, 2)[i]["final_info"]["session_id"] == single_info["session_id"]
                    single_info = env.reset()[1]
                alone.append(single_info)
        assert any(p["persona"] for p in per_env) and ended > 0
    finally:
        vec.close()


def test_elements_off_gives_empty_lists_and_same_scores(store_path):
    on, off = ShopSessionEnv(store_path, split="all"), ShopSessionEnv(store_path, split="all", elements=False)
    (o1, i1), (o2, i2) = on.reset(seed=4), off.reset(seed=4)
    assert o1 == o2 and i1["elements"] and i2["elements"] == []
    out = oracle(on, i1)
    assert on.step(out)[1] == off.step(out)[1]


def test_default_env_replays_the_embedded_sample_with_the_oracle():
    env = gym.make("ShopR1-v0")  # data/sample, train split
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []
    for split in ("train", "test"):
        env = ShopSessionEnv(split=split, replay="until_mismatch")
        assert env.store.synthetic and len(env.store) > 0
        steps = 0
        for i in range(len(env.store)):
            obs, info = env.reset(options={"session_index": i})
            session = env.store[i]
            done = False
            while not done:
                step = session.steps[info["step_index"]]
                assert info["target_kept"] and step.page_html in obs
                obs, reward, done, _, info = env.step(format_model_output(step.rationale or "", step.action))
                assert info["exact_match"] and reward == max_reward(step.action)
                steps += 1
        assert steps == env.store.num_steps


def test_token_budget_in_the_env(store_path):
    tok = train_tokenizer()
    store = open_store(store_path)
    i = max(range(len(store)), key=store.n_steps)
    k = store.n_steps(i) - 1
    full = count_tokens(tok, build_prompt(store[i], k).text)
    env = ShopSessionEnv(store, max_tokens=full - 1, tokenizer=tok)
    obs, info = env.reset(options={"session_index": i, "step": k})
    assert count_tokens(tok, obs) <= full - 1 and info["dropped_pages"] == [0]
    assert obs == build_prompt(store[i], k, max_tokens=full - 1, tokenizer=tok).text


def test_info_history_and_persona_come_from_the_session_not_the_prompt():
    from shop_env.actions import Action
    env = ShopSessionEnv(split="test")
    _, info = env.reset(seed=0)
    session = env.store[env._session_index]
    assert info["history"] == ()
    assert info["persona"] == session.persona and isinstance(info["persona"], dict)
    for k in range(1, len(session.steps) + 1):
        _, _, _, _, info = env.step("not json")
        assert info["history"] == tuple(s.action for s in session.steps[:k])
        assert all(isinstance(a, Action) for a in info["history"])
    quiet = ShopSessionEnv(split="test", include_persona=False)
    assert quiet.reset(seed=0)[1]["persona"] == {}
    env.close(); quiet.close()
