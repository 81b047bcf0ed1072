"""One prompt layout: SFT examples, GRPO prompts and evaluation inputs equal the env's info["messages"]."""
from __future__ import annotations

import pytest

from agents.training.grpo import GRPOConfig, rl_prompts
from agents.training.sft import build_sft_examples
from shop_env.actions import format_model_output
from shop_env.data.store import open_store
from shop_env.env import ShopSessionEnv
from shop_env.evaluation import evaluate
from shop_env.prompts import build_prompt
from tests._env_sessions import make_store, train_tokenizer

SETTINGS = [
    dict(context="whole_session"),
    dict(context="latest_step"),
    dict(context="whole_session", max_chars=3500),
    dict(context="whole_session", max_tokens=900),
    dict(context="latest_step", max_tokens=900, include_persona=False),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return open_store(make_store(tmp_path_factory.mktemp("layout") / "s", n_sessions=8, seed=3))


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer()


def _env_messages(store, kw, tok) -> dict[tuple[int, int], list]:
    env = ShopSessionEnv(store, tokenizer=tok if "max_tokens" in kw else None, **kw)
    seen = {}
    for i in range(len(store)):
        session = store[i]
        _, info = env.reset(options={"session_index": i})
        for k, step in enumerate(session.steps):
            seen[(i, k)] = info["messages"]
            _, _, done, _, info = env.step(format_model_output(step.rationale or "", step.action))
        assert done
    return seen


class _Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.seen: dict[tuple[str, int], list] = {}

    def act(self, observations, infos):
        for info in infos:
            self.seen[(info["session_id"], info["step_index"])] = info["messages"]
        return ['{"rationale": "x", "action": {"type": "terminate"}}'] * len(observations)


@pytest.mark.parametrize("kw", SETTINGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_sft_grpo_and_evaluation_prompts_equal_the_env(store, tok, kw):
    env = _env_messages(store, kw, tok)
    assert len(env) == store.num_steps
    tk = tok if "max_tokens" in kw else None
    # SFT: one example per step, the env's messages; a step is left out exactly when its
    # gold element is missing from that prompt or the prompt does not fit the budget.
    trained = set()
    for i in range(len(store)):
        session = store[i]
        for e in build_sft_examples(session, tokenizer=tk, **kw):
            assert e.messages == env[(i, e.step_index)]
            step = session.steps[e.step_index]
            assert e.target == format_model_output(step.rationale or "", step.action)
            trained.add((i, e.step_index))
    for (i, k), messages in env.items():
        gold = store[i].steps[k].action
        visible = not gold.name or f'name="{gold.name}"' in messages[1]["content"]
        fits = build_prompt(store[i], k, tokenizer=tk, **kw).fits
        assert ((i, k) in trained) == (visible and fits), (i, k)
    assert trained
    # GRPO: the same prompt for the same (session, step) and settings.
    cfg = GRPOConfig(model="m", context=kw["context"], max_chars=kw.get("max_chars"),
                     max_prompt_tokens=kw.get("max_tokens"), include_persona=kw.get("include_persona", True))
    pairs = sorted(env)
    messages, golds = rl_prompts(store, pairs, cfg, tk)
    assert messages == [env[p] for p in pairs]
    assert golds == [store[i].steps[k].action for i, k in pairs]
    # Evaluation: what the policy is shown.
    rec = _Recorder()
    env_kwargs = {k: v for k, v in kw.items() if k != "context"}
    if tk is not None:
        env_kwargs["tokenizer"] = tk
    evaluate(rec, store, split="all", context=kw["context"], env_kwargs=env_kwargs, resume=False)
    ids = [store[i].session_id for i in range(len(store))]
    assert {(ids.index(s), k): m for (s, k), m in rec.seen.items()} == env


def test_budgets_bind_in_these_settings(store, tok):
    """Guards the test above: the budgets really drop pages, so equality covers the truncation path."""
    dropped = [m for m in _env_messages(store, SETTINGS[2], tok).values() if "page omitted" in m[1]["content"]]
    assert dropped
    dropped = [m for m in _env_messages(store, SETTINGS[3], tok).values() if "page omitted" in m[1]["content"]]
    assert dropped


def test_an_over_long_prompt_is_refused_never_cut_from_the_left():
    from agents.llm import LLMAgent
    from tests.tiny_data import cached_easy_model

    agent = LLMAgent.from_pretrained(str(cached_easy_model()[0]), device="cpu", max_new_tokens=2)
    ids, _ = agent.encode_prompts(["a short prompt"])
    agent.max_prompt_tokens = ids.shape[1] - 1
    with pytest.raises(ValueError, match="PromptBuilder"):
        agent.encode_prompts(["a short prompt"])
    agent.max_prompt_tokens = ids.shape[1]
    assert agent.encode_prompts(["a short prompt"])[0].tolist() == ids.tolist()
