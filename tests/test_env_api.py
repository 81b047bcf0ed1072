"""ShopSessionEnv as users meet it: actions without JSON, documented info keys, vector envs
that score every recorded step once, one output length limit, stores that close their files."""
from __future__ import annotations

import gc
import re
import warnings
from pathlib import Path

import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import shop_env
from shop_env.actions import MAX_OUTPUT_CHARS, Action, format_model_output, parse_model_output
from shop_env.data.store import open_store
from shop_env.env import ACTION_MAX_LENGTH, ShopSessionEnv, make_vector_env
from tests._env_sessions import make_store

ROOT = Path(__file__).resolve().parents[1]
RESET_KEYS = {"messages", "session_id", "step_index", "n_steps", "url", "elements", "target_kept",
              "dropped_pages", "history", "persona"}
STEP_KEYS = {"scored_step_index", "gold", "reward", "parsed", "parse_error", "exact_match", "type_match"}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("envapi") / "store", n_sessions=9, seed=4)


def _scores(env: ShopSessionEnv, action, session_index: int, step: int):
    env.reset(options={"session_index": session_index, "step": step})
    obs, reward, term, trunc, info = env.step(action)
    return obs, reward, term, trunc, {k: v for k, v in info.items() if k != "elements"}


def test_step_takes_an_action_or_a_dict_scored_as_its_canonical_json(store_path):
    env = ShopSessionEnv(store_path, split="all")
    for i in range(len(env.store)):
        session = env.store[i]
        for k, step in enumerate(session.steps):
            wrong = Action("click", "footer.careers")
            for action in (step.action, wrong, Action("type_and_submit", "nav_bar.search_input", "mug")):
                as_text = _scores(env, format_model_output("", action), i, k)
                assert _scores(env, action, i, k) == as_text
                assert _scores(env, action.to_dict(), i, k) == as_text
                if action.type == "click":  # a None field is not a field: the canonical form drops it
                    assert _scores(env, {**action.to_dict(), "text": None}, i, k) == as_text
                assert _scores(env, {"rationale": "", "action": action.to_dict()}, i, k) == as_text
    # the gold Action earns the full reward, like its JSON
    _, reward, *_ , info = _scores(env, env.store[0].steps[0].action, 0, 0)
    assert info["exact_match"] and info["parse_error"] is None
    # a malformed dict is scored like malformed text, not raised
    _, reward, *_, info = _scores(env, {"type": "jump"}, 0, 0)
    assert reward == 0.0 and "action type" in info["parse_error"]
    env.close()


@pytest.mark.parametrize("bad", [b'{"rationale": ""}', None, 3, 1.5, ["click"], object()])
def test_step_rejects_other_types_saying_what_is_accepted(store_path, bad):
    env = ShopSessionEnv(store_path, split="all")
    env.reset(seed=0)
    with pytest.raises(TypeError, match=r"str\).*shop_env\.Action.*dict"):
        env.step(bad)
    env.close()


def _documented_keys(text: str) -> set[str]:
    return set(re.findall(r"^\s*([a-z_]+)\s{2,}\S", text, flags=re.M))


def test_every_info_key_is_documented_in_the_docstring_and_the_readme(store_path):
    env = ShopSessionEnv(store_path, split="all")
    _, info = env.reset(seed=1)
    assert set(info) == RESET_KEYS
    while True:
        _, _, term, _, info = env.step("x")
        assert set(info) == RESET_KEYS | STEP_KEYS
        if term:
            break
    env.close()
    doc = shop_env.env.__doc__
    assert RESET_KEYS | STEP_KEYS <= _documented_keys(doc)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### What `info` holds"):]
    for key in RESET_KEYS | STEP_KEYS:
        assert f"| `{key}` |" in table, key


def _oracle_action(store, session_id: str, step_index: int) -> str:
    session = store[store.index_of(str(session_id))]
    return format_model_output(session.steps[step_index].rationale or "", session.steps[step_index].action)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_vector_env_scores_every_recorded_step_once(store_path, asynchronous):
    """The oracle over a vector env: summed rewards and step counts per session equal those of
    a single env over the same sessions, and every call scores one step per sub-env."""
    store = open_store(store_path)
    n_envs, n_calls = 3, 14
    vec = make_vector_env(n_envs, asynchronous=asynchronous, data_path=store_path, split="all")
    episodes = [[] for _ in range(n_envs)]  # per sub-env: [session_id, steps, reward] per episode
    total_reward = 0.0
    try:
        _, info = vec.reset(seed=[5, 6, 7])
        for j in range(n_envs):
            episodes[j].append([info["session_id"][j], 0, 0.0])
        for _ in range(n_calls):
            actions = [_oracle_action(store, info["session_id"][j], int(info["step_index"][j])) for j in range(n_envs)]
            _, reward, term, trunc, info = vec.step(actions)
            total_reward += float(reward.sum())
            for j in range(n_envs):
                episodes[j][-1][1] += 1
                episodes[j][-1][2] += float(reward[j])
                if term[j]:
                    assert info["final_info"]["scored_step_index"][j] == info["final_info"]["n_steps"][j] - 1
                    episodes[j].append([info["session_id"][j], 0, 0.0])
    finally:
        vec.close()
    finished = [e for per_env in episodes for e in per_env[:-1]]
    assert len(finished) >= 4
    single = ShopSessionEnv(store_path, split="all")
    for session_id, steps, reward in finished:
        _, info = single.reset(options={"session_id": session_id})
        ref_steps, ref_reward, done = 0, 0.0, False
        while not done:
            _, r, done, _, info = single.step(_oracle_action(store, session_id, info["step_index"]))
            ref_steps += 1
            ref_reward += r
        assert (steps, reward) == (ref_steps, pytest.approx(ref_reward))
        assert steps == store.n_steps(store.index_of(session_id))
    single.close()
    assert sum(e[1] for per_env in episodes for e in per_env) == n_calls * n_envs  # no phantom steps
    assert total_reward == pytest.approx(sum(e[2] for per_env in episodes for e in per_env))


def test_next_step_autoreset_is_still_available(store_path):
    vec = make_vector_env(1, asynchronous=False, autoreset_mode=AutoresetMode.NEXT_STEP, data_path=store_path,
                          split="all")
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    vec.close()


def test_one_output_length_limit_in_the_space_the_parser_and_the_readme(store_path):
    env = ShopSessionEnv(store_path, split="all")
    assert env.action_space.max_length == ACTION_MAX_LENGTH == MAX_OUTPUT_CHARS
    ok = format_model_output("", Action("click", "a.b"))
    at_limit = ok[:-1] + " " * (MAX_OUTPUT_CHARS - len(ok)) + "}"
    assert len(at_limit) == MAX_OUTPUT_CHARS and at_limit in env.action_space
    assert parse_model_output(at_limit).ok
    over = at_limit + " "
    assert over not in env.action_space and "longer than" in parse_model_output(over).error
    env.close()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    limits = set(re.findall(r"(\d[\d,]*) characters", readme[readme.index("### Output length"):][:600]))
    assert limits == {f"{MAX_OUTPUT_CHARS:,}"}


def _resource_warnings(fn) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_stores_and_envs_dropped_without_close_leave_no_open_file(store_path):
    def check_env_without_close():
        check_env(ShopSessionEnv(store_path, split="all"))

    def read_and_drop():
        store = open_store(store_path)
        store[0]
        test = store.split("test", test_fraction=0.5)
        [s.session_id for s in test]

    def env_episode():
        env = ShopSessionEnv(store_path, split="all")
        env.reset(seed=0)
        env.step("x")

    for fn in (check_env_without_close, read_and_drop, env_episode):
        assert _resource_warnings(fn) == [], fn.__name__
    with open_store(store_path) as store:
        store[1]
    assert store._file is None


def test_no_resource_warning_even_as_errors(tmp_path, store_path):
    import subprocess
    import sys
    code = ("import warnings, gc; warnings.simplefilter('error')\n"
            "import gymnasium as gym\n"
            "from gymnasium.utils.env_checker import check_env\n"
            "import shop_env\n"
            f"check_env(gym.make('ShopR1-v0', data_path={str(store_path)!r}, split='all').unwrapped)\n"
            "gc.collect()\n")
    proc = subprocess.run([sys.executable, "-X", "dev", "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ResourceWarning" not in proc.stderr
