"""TRL adapter: dataset builder, reward functions == compute_reward / exact match, GRPOTrainer for a few steps."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shop_env.actions import Action, format_model_output, parse_model_output
from shop_env.data.model import Session, Step
from shop_env.data.store import open_store, write_store
from shop_env.errors import MissingExtraError
from shop_env.integrations import trl as T
from shop_env.metrics import exact_match
from shop_env.prompts import build_prompt
from shop_env.reward import RewardConfig, compute_reward

GOLDS = [
    Action("type_and_submit", "nav_bar.search_input", "wireless earbuds"),
    Action("click", "search_results.auralux_earbuds.product_title"),
    Action("terminate"),
]
OUTPUTS = [format_model_output("I search.", GOLDS[0]),
           format_model_output("I search.", Action("type_and_submit", "nav_bar.search_input", "earbuds wireless")),
           format_model_output("I click.", GOLDS[1]),
           format_model_output("I click.", Action("click", "search_results.auralux_earbuds")),
           format_model_output("I leave.", GOLDS[2]),
           "garbage", ""]


def _session(sid: str, n: int) -> Session:
    steps = [Step(page_html=f'<html><body><input name="nav_bar.search_input"/><a name="p.{k}">item {k}</a>'
                            f'</body></html>', action=GOLDS[k % len(GOLDS)]) for k in range(n)]
    return Session(session_id=sid, steps=steps, user_id=f"u{sid}")


@pytest.fixture()
def store(tmp_path):
    return write_store(tmp_path / "store", [_session("a", 3), _session("b", 2)])


def _reference(component: str, output: str, gold: Action, config) -> float:
    """Independent of score_output: the parser plus compute_reward / metrics.exact_match."""
    if component == "exact_match":
        parsed = parse_model_output(output)
        threshold = (config or RewardConfig()).threshold
        return float(exact_match(parsed.action if parsed.ok else None, gold, threshold))
    return getattr(compute_reward(output, gold, config), component)


@pytest.mark.parametrize("config", [None, RewardConfig(action_reward="binary"), RewardConfig(dars=False)])
def test_reward_funcs_equal_compute_reward(config):
    funcs = T.reward_funcs(config)
    assert [f.__name__ for f in funcs] == [f"shop_r1_{c}" for c in T.COMPONENTS]
    pairs = [(o, g) for o in OUTPUTS for g in GOLDS]
    outs = [o for o, _ in pairs]
    conversational = [[{"role": "assistant", "content": o}] for o in outs]
    gold_json = [g.to_json() for _, g in pairs]
    for f in funcs:
        ref = [_reference(f.component, o, g, config) for o, g in pairs]
        assert f(prompts=[None] * len(outs), completions=outs, gold_action=gold_json) == ref
        assert f(prompts=[None] * len(outs), completions=conversational, gold_action=gold_json,
                 trainer_state=None, log_metric=print) == ref
        # gold given as separate columns (no gold_action)
        assert f(completions=outs, gold_type=[g.type for _, g in pairs], gold_name=[g.name for _, g in pairs],
                 gold_text=[g.text for _, g in pairs]) == ref
    assert any(_reference("exact_match", o, g, config) for o, g in pairs)  # the cases include matches
    weights = dict(zip(T.COMPONENTS, T.REWARD_WEIGHTS))
    total = [sum(weights[f.component] * v for f in funcs for v in [f(completions=[o], gold_action=[g])[0]])
             for o, g in zip(outs, gold_json)]
    assert total == [compute_reward(o, g, config).total for o, g in pairs]


def test_reward_funcs_score_through_score_output(monkeypatch):
    """One scoring path: the TRL rewards call shop_env.reward.score_output, once per completion."""
    import shop_env.reward as R

    calls = []
    real = R.score_output

    def spy(text, gold, config=None):
        calls.append((text, gold))
        return real(text, gold, config)

    monkeypatch.setattr(R, "score_output", spy)
    funcs = T.reward_funcs()
    gold_json = [GOLDS[1].to_json()] * 2
    for f in funcs:
        f(completions=OUTPUTS[2:4], gold_action=gold_json)
    assert [t for t, _ in calls] == OUTPUTS[2:4]  # shared cache: the other components reuse the score


def test_reward_func_needs_gold_column():
    with pytest.raises(ValueError, match="gold_action"):
        T.reward_funcs()[0](completions=["x"])


def test_completion_text_forms():
    assert T.completion_text("abc") == "abc"
    assert T.completion_text([{"role": "assistant", "content": "abc"}]) == "abc"
    assert T.completion_text([{"role": "assistant", "content": [{"type": "text", "text": "a"},
                                                                 {"type": "text", "text": "bc"}]}]) == "abc"
    assert T.completion_text(None) == ""


def test_build_dataset_rows(store):
    ds = T.build_dataset(store, split="all", max_chars=3000)
    st = open_store(store)
    expected = [(s, k) for s in range(len(st)) for k in range(len(st[s]))]
    assert len(ds) == len(expected) == 5
    for row, (s, k) in zip(ds, expected):
        session = st[s]
        gold = session.steps[k].action
        assert row["prompt"] == build_prompt(session, k, max_chars=3000).messages
        assert Action.from_dict(json.loads(row["gold_action"])) == gold
        assert (row["gold_type"], row["gold_name"], row["gold_text"]) == (gold.type, gold.name, gold.text)
        assert (row["session_id"], row["step_index"]) == (session.session_id, k)
    assert len(T.build_dataset(store, split="all", limit=2)) == 2


def test_missing_extras_name_the_install_command(monkeypatch, store):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'shop-r1\[trl\]'"):
        T.build_dataset(store, split="all")
    monkeypatch.setitem(sys.modules, "trl", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'shop-r1\[trl\]'"):
        T.make_grpo_trainer("unused", None, output_dir="unused")


def test_import_shop_env_does_not_import_extras():
    code = ("import sys, shop_env, shop_env.integrations, shop_env.integrations.trl, shop_env.integrations.verl, "
            "shop_env.integrations.sb3; print(sorted(m for m in ('trl', 'datasets', 'sb3_contrib', 'verl') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


class _Spy(T.ShopR1Reward):
    """Records what TRL passes in and what the reward returned."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls = []

    def __call__(self, prompts=None, completions=(), **kwargs):
        out = super().__call__(prompts=prompts, completions=completions, **kwargs)
        self.calls.append((list(completions), list(kwargs["gold_action"]), out))
        return out


def test_grpo_trainer_few_steps_on_tiny_model(store, tmp_path):
    torch = pytest.importorskip("torch")
    from agents.training.tiny import build_tiny_model

    torch.set_num_threads(1)
    texts = [s.page_html for sess in open_store(store) for s in sess.steps] + OUTPUTS[:5]
    model_path = build_tiny_model(tmp_path / "tiny", texts=texts * 20, vocab_size=400, max_positions=4096)
    ds = T.build_dataset(store, split="all", max_chars=1500)
    trainer = T.make_grpo_trainer(model_path, ds, output_dir=tmp_path / "out", num_generations=2,
                                  prompts_per_step=2, max_completion_length=12, max_steps=2,
                                  learning_rate=1e-3, use_cpu=True)
    spy = _Spy("total", None)
    trainer.reward_funcs[-1] = spy  # same name and behaviour, plus a record of every call
    trainer.train()
    assert trainer.state.global_step == 2
    logs = [h for h in trainer.state.log_history if "rewards/shop_r1_total/mean" in h]
    assert len(logs) == 2
    for c in T.COMPONENTS:
        assert f"rewards/shop_r1_{c}/mean" in logs[0]
    # TRL handed conversational completions and the dataset's gold column to the reward,
    # and the logged total is the mean of compute_reward over what was generated.
    assert len(spy.calls) == 2
    for (completions, golds, out), log in zip(spy.calls, logs):
        assert len(completions) == 4 and isinstance(completions[0], list)
        ref = [compute_reward(T.completion_text(c), Action.from_dict(json.loads(g))).total
               for c, g in zip(completions, golds)]
        assert out == ref
        assert log["rewards/shop_r1_total/mean"] == pytest.approx(sum(ref) / len(ref))


def test_trl_example_script_runs(tmp_path):
    import runpy

    pytest.importorskip("torch").set_num_threads(1)
    from agents.training.tiny import build_tiny_model

    model_path = build_tiny_model(tmp_path / "tiny", texts=OUTPUTS[:5] * 50, vocab_size=300, max_positions=8192)
    main = runpy.run_path("examples/trl_grpo.py")["main"]
    summary = main(["--model", str(model_path), "--steps", "2", "--rows", "4", "--num-generations", "2",
                    "--prompts-per-step", "1", "--max-completion-length", "8", "--max-chars", "1500",
                    "--out", str(tmp_path / "out")])
    assert len(summary["curve"]) == 2 and set(summary["last_step"]) == set(T.COMPONENTS)
    assert summary["curve"][-1] == summary["last_step"]["total"] and summary["last"] == summary["curve"][-1]
