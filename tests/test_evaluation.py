"""Evaluation harness: oracle, reports, baselines ordering, session metrics, crash-safe resume."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from shop_env.actions import Action
from shop_env.data.model import Session, Step
from shop_env.data.store import open_store, write_store
from shop_env.errors import DataError
from shop_env.evaluation import Report, comparison_table, evaluate, load_reports
from shop_env.evaluation.results import STEPS_FILE, read_step_log
from shop_env.evaluation.session_metrics import (LEAVE, PURCHASE, is_purchase, js_divergence,
                                                 session_outcomes, total_variation, until_mismatch)

HOME = '<div><input name="nav_bar.search_input" type="text"/><a name="nav_bar.deals">Deals</a></div>'
RESULTS = ('<div><input name="nav_bar.search_input"/>{items}'
           '<a name="refinements.customer_reviews">4 stars</a></div>')
ITEM = '<a name="search_results.{slug}.product_title">{title}</a>'
PRODUCT = ('<div><input name="nav_bar.search_input"/><span>{title}</span>'
           '<button name="buybox.purchase_form.add_to_cart">Add to Cart</button>'
           '<button name="buybox.purchase_form.buy_now">Buy Now</button></div>')


def make_sessions(n: int, seed: int = 0) -> list[Session]:
    """Small Amazon-like sessions: search, browse results/products, then buy or leave."""
    rng = random.Random(seed)
    sessions = []
    for i in range(n):
        q = rng.choice(["red running shoes", "coffee maker", "yoga mat", "usb c cable"])
        steps = [Step(HOME, Action("type_and_submit", "nav_bar.search_input", q), rationale="I search.")]
        for _ in range(rng.randint(1, 3)):
            slugs = [f"item_{rng.randint(0, 99)}" for _ in range(3)]
            page = RESULTS.format(items="".join(ITEM.format(slug=s, title=s.replace("_", " ")) for s in slugs))
            steps.append(Step(page, Action("click", f"search_results.{rng.choice(slugs)}.product_title"),
                              rationale="This one looks good."))
            if rng.random() < 0.3:
                steps.append(Step(PRODUCT.format(title="x"), Action("click", "buybox.purchase_form.add_to_cart")))
        buy = rng.random() < 0.4
        last = Action("click", "buybox.purchase_form.buy_now") if buy else Action("terminate")
        steps.append(Step(PRODUCT.format(title="final"), last, rationale="Done."))
        sessions.append(Session(f"sess-{seed}-{i}", steps, user_id=f"user-{i}", source="test"))
    return sessions


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("store") / "store"
    return write_store(path, make_sessions(16, seed=1), synthetic=True, source="test")


def all_keys(store) -> set[tuple[str, int]]:
    return {(s.session_id, k) for s in store for k in range(len(s))}


def test_replay_oracle_scores_100_percent(store_path, tmp_path):
    from agents.baselines import ReplayPolicy
    store = open_store(store_path)
    report = evaluate(ReplayPolicy(store), store, out=tmp_path / "replay")
    assert report.n_steps == store.num_steps and report.n_sessions == len(store)
    for key in ("exact", "exact_strict", "type_accuracy", "type_macro_f1"):
        assert report.table2[key]["value"] == 1.0, key
    assert report.extra["env_exact_rate"] == 1.0  # the environment's flags agree with the scorer
    assert report.session["until_mismatch"]["fully_matched_sessions"] == 1.0
    assert report.session["outcome"]["accuracy"] == 1.0
    assert report.session["type_distribution"]["total_variation"] == 0.0


def test_report_files_written_and_parse(store_path, tmp_path):
    from agents.baselines import RandomPolicy
    out = tmp_path / "rand"
    report = evaluate(RandomPolicy(seed=1), open_store(store_path), out=out)
    data = json.loads((out / "report.json").read_text())
    assert data["n_steps"] == report.n_steps
    loaded = Report.load(out)
    assert loaded.table2 == report.table2 and loaded.session == report.session
    md = (out / "report.md").read_text()
    assert "| random |" in md and "Type F1" in md and "SYNTHETIC" in md
    for png in ("per_type.png", "confusion.png"):
        raw = (out / png).read_bytes()
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 2000
    # Confusion counts add up to the steps, and per-type n to the gold counts.
    assert sum(map(sum, loaded.confusion["matrix"])) == report.n_steps
    assert sum(v["n"] for v in loaded.table3.values()) == report.n_steps
    lo, v, hi = (report.table2["type_accuracy"][k] for k in ("ci_low", "value", "ci_high"))
    assert 0.0 <= lo <= v <= hi <= 1.0 and hi > lo
    table = comparison_table(load_reports([out, out / "report.json"]), paper=True)
    assert table.count("| random |") == 2 and "paper: Shop-R1" in table


def test_random_below_majority_on_type_accuracy(store_path, tmp_path):
    from agents.baselines import MajorityTypePolicy, RandomPolicy
    train = write_store(tmp_path / "train", make_sessions(30, seed=7))
    majority = MajorityTypePolicy.fit(open_store(train))
    store = open_store(store_path)
    r_rand = evaluate(RandomPolicy(seed=0), store)
    r_maj = evaluate(majority, store)
    assert r_rand.table2["type_accuracy"]["value"] < r_maj.table2["type_accuracy"]["value"]


def test_callable_policy_garbage_and_limit(store_path):
    store = open_store(store_path)
    outputs = iter(["not json", "", '{"rationale": "x", "action": {"type": "terminate"}}', "{" * 5000] * 1000)
    report = evaluate(lambda obs: next(outputs), store, limit=3)
    assert report.n_sessions == 3
    assert report.n_steps == sum(len(store[i]) for i in range(3))
    assert report.extra["parse_failure_rate"] >= 0.5
    assert report.table3["click"]["exact"] == 0.0


def test_policy_returning_wrong_count_is_an_error(store_path):
    class Bad:
        name = "bad"

        def act(self, observations, infos):
            return []
    with pytest.raises(RuntimeError, match="returned 0 outputs"):
        evaluate(Bad(), open_store(store_path), limit=2)


def test_resume_refuses_other_settings(store_path, tmp_path):
    from agents.baselines import RandomPolicy
    store = open_store(store_path)
    evaluate(RandomPolicy(seed=0), store, out=tmp_path / "o", limit=1)
    with pytest.raises(ValueError, match="other settings"):
        evaluate(RandomPolicy(seed=0), store, out=tmp_path / "o", limit=1, context="latest_step")
    evaluate(RandomPolicy(seed=0), store, out=tmp_path / "o", limit=1, context="latest_step", resume=False)


def test_resume_refuses_another_reward_or_env_factory(store_path, tmp_path):
    """Rewards differing only in their values (and factories) must not share a logged run."""
    from agents.baselines import RandomPolicy
    from shop_env.evaluation.runner import default_env_factory
    from shop_env.reward import RewardConfig
    store, out = open_store(store_path), tmp_path / "o"
    evaluate(RandomPolicy(seed=0), store, out=out, limit=1, env_kwargs={"reward_config": RewardConfig()})
    with pytest.raises(ValueError, match="other settings.*threshold"):
        evaluate(RandomPolicy(seed=0), store, out=out, limit=1,
                 env_kwargs={"reward_config": RewardConfig(threshold=0.5)})
    with pytest.raises(ValueError, match="other settings.*env_factory"):
        evaluate(RandomPolicy(seed=0), store, out=out, limit=1, env_kwargs={"reward_config": RewardConfig()},
                 env_factory=default_env_factory)
    from functools import partial
    small = tmp_path / "small"
    evaluate(RandomPolicy(seed=0), store, out=small, limit=1, env_factory=partial(default_env_factory, max_chars=100))
    with pytest.raises(ValueError, match="other settings.*env_factory"):
        evaluate(RandomPolicy(seed=0), store, out=small, limit=1,
                 env_factory=partial(default_env_factory, max_chars=9000))


def test_report_scores_with_the_reward_threshold(sample_test):
    """Table 2's exact match uses the environment's threshold, so it equals the env's own flags."""
    from shop_env.reward import RewardConfig
    store = sample_test
    gold_of = {(s.session_id, k): step.action for s in store for k, step in enumerate(s.steps)}

    class HalfQuery:
        """The gold action, but a search types only the first half of the gold query's words."""
        name = "half"

        def act(self, observations, infos):
            outs = []
            for info in infos:
                gold = gold_of[info["session_id"], info["step_index"]]
                action = gold.to_dict()
                if gold.type == "type_and_submit":
                    words = gold.text.split()
                    action["text"] = " ".join(words[:(len(words) + 1) // 2])
                outs.append(json.dumps({"rationale": "r", "action": action}))
            return outs
    exact = {}
    for threshold in (0.5, 0.75):
        rep = evaluate(HalfQuery(), store, limit=20, env_kwargs={"reward_config": RewardConfig(threshold=threshold)})
        exact[threshold] = rep.table2["exact"]["value"]
        assert rep.extra["threshold"] == threshold
        assert rep.table2["exact"]["value"] == pytest.approx(rep.extra["env_exact_rate"])
    assert exact[0.5] > exact[0.75]


def test_evaluate_refuses_until_mismatch_replay(store_path):
    with pytest.raises(ValueError, match="teacher forcing"):
        evaluate(lambda obs: "{}", open_store(store_path), limit=1, env_kwargs={"replay": "until_mismatch"})


def test_distribution_distances_are_the_same_float_in_every_process():
    """Summed in a fixed order: set iteration order (PYTHONHASHSEED) must not move the last bit."""
    code = ("from shop_env.evaluation.session_metrics import js_divergence as js, total_variation as tv\n"
            "p = {'click': 0.1, 'type_and_submit': 0.2, 'terminate': 0.3, 'invalid': 0.4, 'x': 1e-9}\n"
            "q = {'click': 0.35, 'type_and_submit': 0.05, 'terminate': 0.45, 'y': 0.15}\n"
            "print(repr(js(p, q)), repr(tv(p, q)))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
            for seed in range(8)}
    assert len(outs) == 1, outs


class CountingPolicy:
    """Wraps a policy and records every (session_id, step_index) it is asked about."""

    def __init__(self, inner):
        self.inner, self.name, self.calls = inner, inner.name, []

    def act(self, observations, infos):
        self.calls += [(i["session_id"], int(i["step_index"])) for i in infos]
        return self.inner.act(observations, infos)


def test_torn_tail_is_repaired_and_corrupt_line_reported(store_path, tmp_path):
    from agents.baselines import RandomPolicy
    store = open_store(store_path)
    out = tmp_path / "torn"
    full = evaluate(RandomPolicy(seed=2), store, out=out, limit=4)
    log = out / STEPS_FILE
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:5]) + lines[5][: len(lines[5]) // 2])  # a kill mid-write
    pol = CountingPolicy(RandomPolicy(seed=2))
    again = evaluate(pol, store, out=out, limit=4)
    assert len(pol.calls) == len(lines) - 5 and len(set(pol.calls)) == len(pol.calls)
    assert again.table2 == full.table2
    assert len(log.read_bytes().splitlines()) == len(lines)
    log.write_bytes(b"".join(lines[:2]) + b"{oops\n" + b"".join(lines[2:]))
    with pytest.raises(DataError, match=r"steps\.jsonl.*row 3"):
        read_step_log(log)


CHILD = """
import sys, time
from agents.baselines import RandomPolicy
from shop_env.evaluation import evaluate

class Slow(RandomPolicy):
    def act(self, observations, infos):
        time.sleep(0.08)
        return super().act(observations, infos)

evaluate(Slow(seed=5, name="random"), sys.argv[1], split="all", out=sys.argv[2], batch_size=2)
print("finished")
"""


def test_sigkilled_evaluation_resumes_without_recompute_or_double_count(store_path, tmp_path):
    from agents.baselines import RandomPolicy
    store = open_store(store_path)
    out = tmp_path / "killed"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    proc = subprocess.Popen([sys.executable, str(script), str(store_path), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = out / STEPS_FILE
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if log.exists() and log.read_bytes().count(b"\n") >= 6:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    before = read_step_log(log)
    assert 6 <= len(before) < store.num_steps

    pol = CountingPolicy(RandomPolicy(seed=5, name="random"))
    resumed = evaluate(pol, store_path, split="all", out=out, batch_size=2)
    calls = set(pol.calls)
    assert len(calls) == len(pol.calls)                      # nothing asked twice
    assert not calls & set(before)                           # nothing logged is recomputed
    assert calls | set(before) == all_keys(store)            # and nothing is missing
    lines = log.read_bytes().splitlines()
    assert len(lines) == store.num_steps == resumed.n_steps  # each step logged exactly once
    reference = evaluate(RandomPolicy(seed=5, name="random"), store, batch_size=3)
    assert resumed.table2 == reference.table2 and resumed.session == reference.session


def test_session_metrics_match_independent_references():
    from scipy.spatial.distance import jensenshannon
    from sklearn.metrics import f1_score
    rng = random.Random(0)
    sessions = {}
    gold, pred = [], []
    for i in range(40):
        g, p = rng.choice([PURCHASE, LEAVE]), rng.choice([PURCHASE, LEAVE])
        gold.append(g)
        pred.append(p)
        sessions[f"s{i}"] = [{"exact": True, "gold_outcome": None, "pred_outcome": None},
                             {"exact": rng.random() < 0.5, "gold_outcome": g, "pred_outcome": p}]
    res = session_outcomes(sessions)
    assert res["purchase_f1"] == pytest.approx(f1_score(gold, pred, pos_label=PURCHASE))
    assert res["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"))
    um = until_mismatch(sessions)
    assert um["mean_steps_matched"] == pytest.approx(
        sum(1 + s[1]["exact"] for s in sessions.values()) / 40)
    p = {"click": 0.5, "terminate": 0.5}
    q = {"click": 0.2, "type_and_submit": 0.3, "terminate": 0.5}
    keys = ["click", "type_and_submit", "terminate"]
    ref = jensenshannon([p.get(k, 0) for k in keys], [q[k] for k in keys], base=2) ** 2
    assert js_divergence(p, q) == pytest.approx(ref)
    assert total_variation(p, q) == pytest.approx(0.3)


def test_is_purchase():
    assert is_purchase(Action("click", "buybox.purchase_form.buy_now"))
    assert is_purchase({"type": "click", "name": "checkout.place_order"})
    assert not is_purchase(Action("click", "buybox.purchase_form.add_to_cart"))
    assert not is_purchase(Action("terminate"))
    assert not is_purchase(Action("click", "search_results.buy_nowhere.product_title"))
    assert is_purchase(Action("click", "x.y"), {"click_type": "purchase"})
    assert not is_purchase(Action("click", "buybox.buy_now"), {"click_type": "review"})
    assert not is_purchase(Action("click", "cart.proceed_to_checkout"))  # not bought yet


def test_prediction_of_the_recorded_element_inherits_its_click_type():
    from shop_env.data.model import Session, Step
    from shop_env.evaluation.runner import make_record
    gold = Action("click", "x.confirm")  # a purchase only by its recorded click_type
    session = Session("s", [Step("<a name='x.confirm'>ok</a>", gold, metadata={"click_type": "purchase"})])
    info = {"gold": gold.to_dict(), "exact_match": True, "type_match": True}
    same = make_record(session=session, session_index=0, step_index=0, output="", reward=1.0,
                       info={**info, "parsed": {"action": gold.to_dict()}})
    other = make_record(session=session, session_index=0, step_index=0, output="", reward=0.0,
                        info={**info, "parsed": {"action": {"type": "click", "name": "x.other"}}})
    assert same["gold_outcome"] == same["pred_outcome"] == "purchase"
    assert other["pred_outcome"] == "leave"


# -- on the embedded (synthetic) sample ---------------------------------------------------
@pytest.fixture(scope="module")
def sample_test():
    from shop_env.paths import sample_data_dir
    return open_store(sample_data_dir(), split="test")


def test_sample_oracle_is_exact_and_outcomes_match_the_generator(sample_test, tmp_path):
    from agents.baselines import ReplayPolicy
    report = evaluate(ReplayPolicy(sample_test), sample_test, out=tmp_path / "oracle")
    assert report.n_steps == sample_test.num_steps and report.n_sessions == len(sample_test)
    assert report.table2["exact"]["value"] == 1.0 and report.table2["type_macro_f1"]["value"] == 1.0
    assert report.session["outcome"]["purchase_f1"] == 1.0
    # Our purchase detector agrees with the generator's own record of each session's outcome.
    for s in sample_test:
        expected = s.metadata["outcome"] == "purchase"
        assert is_purchase(s.steps[-1].action, s.steps[-1].metadata) == expected, s.session_id
    assert report.session["outcome"]["gold_purchase_rate"] == pytest.approx(
        sum(s.metadata["outcome"] == "purchase" for s in sample_test) / len(sample_test))


def test_sample_random_below_majority_on_type_accuracy(sample_test):
    from agents.baselines import MajorityTypePolicy, RandomPolicy, page_elements
    from shop_env.env import ShopSessionEnv
    from shop_env.paths import sample_data_dir
    majority = MajorityTypePolicy.fit(open_store(sample_data_dir(), split="train"))
    r_maj = evaluate(majority, sample_test)
    r_rand = evaluate(RandomPolicy(seed=0), sample_test)
    assert r_rand.table2["type_accuracy"]["value"] < r_maj.table2["type_accuracy"]["value"]
    # Not luck of one seed: the random policy's *expected* type accuracy (uniform over the
    # types the page allows) is below the majority's too.
    env = ShopSessionEnv(sample_test)
    expected = []
    for i in range(len(sample_test)):
        _, info = env.reset(options={"session_index": i})
        for step in sample_test[i].steps:
            clicks, inputs, _ = page_elements(info)
            allowed = {"terminate"} | ({"click"} if clicks else set()) | ({"type_and_submit"} if inputs else set())
            expected.append((step.action.type in allowed) / len(allowed))
            _, _, done, _, info = env.step("")
    assert sum(expected) / len(expected) < r_maj.table2["type_accuracy"]["value"]


def test_cli_eval_and_compare(store_path, tmp_path, capsys):
    from shop_env.cli import main
    out = tmp_path / "cli_rule"
    assert main(["eval", "--policy", "rule", "--data", str(store_path), "--split", "all", "--limit", "3",
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| rule |" in printed and "Per action type" in printed
    n_lines = len((out / STEPS_FILE).read_bytes().splitlines())
    # Running the same command again resumes: nothing is recomputed or appended.
    assert main(["eval", "--policy", "rule", "--data", str(store_path), "--split", "all", "--limit", "3",
                 "--out", str(out), "--no-progress"]) == 0
    assert len((out / STEPS_FILE).read_bytes().splitlines()) == n_lines
    capsys.readouterr()
    assert main(["compare", str(out / "report.json"), str(out), "--paper"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| policy | Exact match | Type acc. | Type F1 |")
    assert table.count("| rule |") == 2 and "paper: Shop-R1 | 27.72% | 36.40% | 31.28%" in table


def test_until_mismatch_agrees_with_the_environment_mode(sample_test):
    """Leading exact matches from the teacher-forced run == the env's until_mismatch episodes."""
    from agents.baselines import RuleBasedPolicy
    from shop_env.env import ShopSessionEnv
    pol = RuleBasedPolicy()
    report = evaluate(pol, sample_test, limit=40)
    env = ShopSessionEnv(sample_test, replay="until_mismatch")
    matched = []
    for i in range(40):
        obs, info = env.reset(options={"session_index": i})
        n = 0
        while True:
            obs, _, done, _, step_info = env.step(pol.act([obs], [info])[0])
            n += step_info["exact_match"]
            info = step_info
            if done:
                break
        matched.append(n)
    assert sum(matched) > 0  # the rule shopper does match some leading steps
    assert report.session["until_mismatch"]["mean_steps_matched"] == pytest.approx(sum(matched) / 40)
