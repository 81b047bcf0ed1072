"""``shop-r1 reproduce``: the paper's Table 2 rows for a small model, over seeds, on the CPU.

For each seed: a tiny random-initialised model (tokenizer trained on the training prompts)
is evaluated as is (``zero_shot``), after SFT (``sft``), after SFT + GRPO with the binary
exact-match reward (``sft_rl_binary``) and after SFT + GRPO with the Shop-R1 reward
(``shop_r1``); the rule baseline (``rule``) is evaluated once. Results go to
``OUT/table2.json`` and, as a bar chart, ``OUT/table2.png``: each row maps ``exact``,
``type_accuracy`` and ``type_macro_f1`` to ``{value, ci_low, ci_high}``, the value pooled
over the seeds and every test step, the interval a 95% percentile bootstrap that resamples
seeds and test sessions.
``_exact_by_gold_type`` says where each row's exact matches come from: per gold action type,
the share exact, the share typed right, and the share exact among those typed right.

**Data.** Training sessions come from the synthetic store (:mod:`shop_env.synth`, seed 0,
the same catalogue as the embedded sample) drawn from its *train* population (its users
and sessions are disjoint from the test population by construction); evaluation uses the
embedded sample's test split. :func:`assert_disjoint` checks that no test session (by id
or by content) is in the training or validation data, before anything is trained.
Settings were chosen on a validation store from the train population (``--eval-on val``),
never on the test split.

The run is resumable: finished models and evaluations under ``OUT`` are reused, and an
``OUT`` written with other settings is refused (nothing there is overwritten).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["ReproduceSettings", "FULL", "DEMO", "QUICK", "ROWS", "assert_disjoint", "pooled_table", "run_reproduce",
           "format_table", "exact_by_gold_type", "format_by_gold_type"]

ROWS = ("zero_shot", "sft", "sft_rl_binary", "shop_r1", "rule")
METRICS = ("exact", "type_accuracy", "type_macro_f1")
_LABELS = {"exact": "Exact match", "type_accuracy": "Type acc.", "type_macro_f1": "Type F1"}


@dataclass(frozen=True)
class ReproduceSettings:
    """Sizes of one reproduction run (all choices made on the validation store)."""

    train_sessions: int = 4000       # synthetic training sessions (train population)
    val_sessions: int = 100          # validation sessions (train population, after the training ones)
    context: str = "latest_step"
    max_chars: int = 6000            # prompt budget (system prompt included) for SFT, RL and evaluation; at 2600 no click target is visible
    vocab_size: int = 2048
    hidden_size: int = 128
    num_layers: int = 3
    tokenizer_texts: int = 6000      # prompt/target texts that train the tokenizer
    search_sft_steps: int = 0        # a search-only SFT stage before the full SFT (0 = none): short prompts, many searches
    search_sft_batch: int = 8
    search_sft_lr: float = 1e-3
    search_sft_max_chars: int = 2500  # keeps the page of 96 of 101 validation searches, at about 770 tokens
    search_sft_long_steps: int = 0   # then searches at max_chars: the short-prompt copy does not carry over alone
    sft_steps: int = 3000            # validation exact (seed 0): 1500 steps 26.4%, 3000 steps 34.0%
    sft_batch: int = 1               # many small steps: a tiny model learns faster from updates than from batch size
    sft_lr: float = 2e-3
    sft_warmup: float = 0.03
    sft_cut_targets: str = "skip"    # SFTConfig.cut_targets: a step whose target element the budget cut from its page
    rl_steps: int = 15               # validation: at lr 1e-4, 15/30/45 steps all within noise of SFT;
    rl_lr: float = 1e-4              # at 5e-4 binary RL collapses onto terminate and Shop-R1 onto click
    rl_scale_rewards: str = "group"  # GRPOConfig.scale_rewards; "batch" avoids Shop-R1's click collapse at 3e-4
    num_generations: int = 8
    prompts_per_step: int = 4
    temperature: float = 0.6
    max_new_tokens: int = 96
    eval_sessions: int | None = None  # None = the whole evaluation split
    eval_batch: int = 32


FULL = ReproduceSettings()
DEMO = ReproduceSettings(train_sessions=1000, sft_steps=1500, rl_steps=4, eval_sessions=40)
"""``make demo``'s size: one seed in a few minutes (the table is noisier than ``make reproduce``'s)."""
QUICK = ReproduceSettings(train_sessions=60, val_sessions=4, vocab_size=1024, hidden_size=32, num_layers=1,
                          tokenizer_texts=400, sft_steps=3, sft_batch=2, sft_lr=1e-2, sft_warmup=0.0,
                          rl_steps=1, rl_lr=1e-5, num_generations=2, prompts_per_step=2, max_new_tokens=24,
                          eval_sessions=2, eval_batch=8, search_sft_steps=2, search_sft_batch=2,
                          search_sft_long_steps=1)


def session_fingerprint(session) -> str:
    """A hash of what a session shows and does (persona, pages, actions): equal sessions collide."""
    h = hashlib.sha256(json.dumps(session.persona, sort_keys=True, default=str).encode())
    for step in session.steps:
        h.update(step.page_html.encode())
        h.update(json.dumps(step.action.to_dict(), sort_keys=True).encode())
    return h.hexdigest()


def assert_disjoint(test_store, *train_stores) -> None:
    """Raise ``AssertionError`` if any test session's id or content occurs in a training store."""
    ids = {s.session_id for s in test_store}
    prints = {session_fingerprint(s) for s in test_store}
    for store in train_stores:
        for s in store:
            if s.session_id in ids or session_fingerprint(s) in prints:
                raise AssertionError(f"test session leaked into {store.path}: {s.session_id}")


def _synth_store(path: Path, n: int, start: int) -> Path:
    """Train-population synthetic sessions ``start .. start+n-1`` (seed 0) as one store at ``path``."""
    from shop_env.data.store import StoreWriter
    from shop_env.synth import DESCRIPTION, generate_sessions

    if (path / "manifest.json").exists():
        extra = json.loads((path / "manifest.json").read_text())
        if extra.get("n_sessions") == n and extra.get("start") == start:
            return path
    with StoreWriter(path, source="synthetic", synthetic=True, description=DESCRIPTION,
                     extra_manifest={"generator": "shop_env.synth", "seed": 0, "split": "train", "start": start,
                                     "n_sessions_requested": n}) as w:
        for s in generate_sessions(n, 0, split="train", start=start):
            w.write(s)
    return path


def _records(eval_dir: Path) -> list[dict[str, Any]]:
    rows = [json.loads(ln) for ln in (eval_dir / "steps.jsonl").read_text(encoding="utf-8").splitlines() if ln.strip()]
    rows = [r for r in rows if "session_index" in r]
    return sorted(rows, key=lambda r: (int(r["session_index"]), int(r["step_index"])))


def pooled_table(runs: Sequence[Sequence[dict[str, Any]]], *, resamples: int = 1000, seed: int = 0
                 ) -> dict[str, dict[str, float]]:
    """Table 2 metrics pooled over seeds (``runs``: one list of step records per seed, same steps).

    Value: over every (seed, step). Interval: 95% percentile bootstrap that resamples seeds
    and, within them, test sessions (steps of one session stay together).
    """
    from shop_env.metrics import macro_f1

    keys = [(r["session_index"], r["step_index"]) for r in runs[0]]
    for run in runs[1:]:
        if [(r["session_index"], r["step_index"]) for r in run] != keys:
            raise ValueError("every seed must cover the same evaluation steps")
    exact = np.array([[bool(r["exact"]) for r in run] for run in runs])
    gold = np.array([[r["gold"]["type"] for r in run] for run in runs], dtype=object)
    pred = np.array([[r["pred_type"] for r in run] for run in runs], dtype=object)
    typed = gold == pred

    def stats(si: np.ndarray, cols: np.ndarray) -> tuple[float, float, float]:
        g, p = gold[np.ix_(si, cols)].ravel(), pred[np.ix_(si, cols)].ravel()
        return (float(exact[np.ix_(si, cols)].mean()), float(typed[np.ix_(si, cols)].mean()),
                macro_f1(list(g), list(p)))

    sessions = sorted({k[0] for k in keys})
    steps_of = {s: np.array([i for i, k in enumerate(keys) if k[0] == s]) for s in sessions}
    n_seeds = len(runs)
    point = stats(np.arange(n_seeds), np.arange(len(keys)))
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(resamples):
        si = rng.integers(0, n_seeds, n_seeds)
        cols = np.concatenate([steps_of[sessions[j]] for j in rng.integers(0, len(sessions), len(sessions))])
        boot.append(stats(si, cols))
    lo, hi = np.percentile(np.array(boot), [2.5, 97.5], axis=0)
    return {m: {"value": point[i], "ci_low": float(lo[i]), "ci_high": float(hi[i])} for i, m in enumerate(METRICS)}


def exact_by_gold_type(runs: Sequence[Sequence[dict[str, Any]]]) -> dict[str, dict[str, float | int]]:
    """Where a row's exact matches come from, per gold action type, over every seed.

    ``exact`` = ``type`` x ``exact_given_type``: the share of the type's steps matched exactly,
    the share whose predicted type is right, and the share of those that are also exact (the
    name and query given the right type). ``steps``: how many steps of the type one seed has.
    """
    from shop_env.actions import ACTION_TYPES

    out: dict[str, dict[str, float | int]] = {}
    for kind in ACTION_TYPES:
        records = [r for run in runs for r in run if r["gold"]["type"] == kind]
        typed = [r for r in records if r["pred_type"] == kind]
        out[kind] = {"exact": float(np.mean([bool(r["exact"]) for r in records])) if records else 0.0,
                     "type": len(typed) / len(records) if records else 0.0,
                     "exact_given_type": float(np.mean([bool(r["exact"]) for r in typed])) if typed else 0.0,
                     "steps": len(records) // max(len(runs), 1)}
    return out


def format_by_gold_type(by_type: dict[str, dict[str, dict[str, float | int]]]) -> str:
    """Per row and gold type: exact match, type right, and exact given the right type, in percent."""
    kinds = next(iter(by_type.values()))
    lines = ["Per gold action type: exact = type right x exact given the right type ("
             + ", ".join(f"{k}: {v['steps']} steps" for k, v in kinds.items()) + ")"]
    for row, cells in by_type.items():
        lines.append(f"  {row:<14}" + "  ".join(
            f"{k} {100 * v['exact']:5.1f}% = {100 * v['type']:5.1f}% x {100 * v['exact_given_type']:5.1f}%"
            for k, v in cells.items()))
    return "\n".join(lines)


def format_table(table: dict[str, dict[str, dict[str, float]]], title: str = "") -> str:
    """Markdown rows ``setting | exact | type acc | type F1`` with intervals, in percent."""
    head = "| setting | " + " | ".join(_LABELS[m] for m in METRICS) + " |"
    lines = ([title, ""] if title else []) + [head, "|---" * (len(METRICS) + 1) + "|"]
    for row, cells in table.items():
        lines.append(f"| {row} | " + " | ".join(
            f"{100 * c['value']:.2f}% [{100 * c['ci_low']:.2f}, {100 * c['ci_high']:.2f}]"
            for c in (cells[m] for m in METRICS)) + " |")
    return "\n".join(lines)


class _Run:
    """One reproduction under ``out``: data, per-seed models and evaluations, reused when present."""

    def __init__(self, out: Path, cfg: ReproduceSettings, eval_on: str, say: Callable[[str], None]) -> None:
        self.out, self.cfg, self.eval_on, self.say = out, cfg, eval_on, say
        self.t0 = time.time()

    def log(self, msg: str) -> None:
        self.say(f"[{time.time() - self.t0:7.1f}s] {msg}")

    def data(self, check: bool = True):
        """Write (or reuse) the training and validation stores; ``check``: prove no test session is in them."""
        from shop_env.data.store import open_store
        from shop_env.paths import sample_data_dir

        cfg = self.cfg
        root = self.out / "data"
        train = _synth_store(root / "train", cfg.train_sessions, 0)
        val = _synth_store(root / "val", cfg.val_sessions, cfg.train_sessions)
        test = open_store(sample_data_dir(), split="test")
        if check:
            assert_disjoint(test, open_store(train), open_store(val))
            self.log(f"data: {cfg.train_sessions} synthetic training sessions, {cfg.val_sessions} validation; "
                     f"no test session among them (ids and contents checked)")
        self.train_root = root
        self.eval_store = open_store(val) if self.eval_on == "val" else test

    def evaluate(self, policy, name: str, seed_dir: Path) -> list[dict[str, Any]]:
        from shop_env.evaluation import evaluate

        where = seed_dir / "eval" / name
        if not (where / "report.json").exists():
            evaluate(policy, self.eval_store, split="test", context=self.cfg.context, temperature=0.0,
                     limit=self.cfg.eval_sessions, out=where, seed=0, resume=True, batch_size=self.cfg.eval_batch,
                     env_kwargs={"max_chars": self.cfg.max_chars}, name=name)
        return _records(where)

    def model(self, seed: int, seed_dir: Path) -> Path:
        from agents.training.tiny import build_tiny_model, iter_prompt_texts

        base = seed_dir / "models" / "base"
        if not (base / "config.json").exists():
            texts = islice(iter_prompt_texts(self.train_root, context=self.cfg.context, max_chars=self.cfg.max_chars),
                           self.cfg.tokenizer_texts)
            build_tiny_model(base, texts=texts, compact=True, vocab_size=self.cfg.vocab_size,
                             hidden_size=self.cfg.hidden_size, num_layers=self.cfg.num_layers,
                             intermediate_size=2 * self.cfg.hidden_size, seed=seed)
        return base

    def search_sft(self, base: Path, seed: int, seed_dir: Path) -> Path:
        """The search-only stages (short prompts, then optionally the full budget); returns the
        last stage's model. Copying the persona's need into the query takes ~10k search
        examples to appear (docs/reproduce.md), which short prompts make affordable."""
        from agents.training.sft import SFTConfig, train_sft

        out = seed_dir / "models" / "sft_search"
        c = self.cfg
        stages = [(c.search_sft_steps, c.search_sft_max_chars, 0.05, out)]
        if c.search_sft_long_steps:
            stages.append((c.search_sft_long_steps, c.max_chars, 0.0, seed_dir / "models" / "sft_search_long"))
        model = base
        for steps, max_chars, warmup, where in stages:
            if (where / "final" / "config.json").exists():
                model = where / "final"
                continue
            model = train_sft(SFTConfig(model=str(model), out=str(where), data=str(self.train_root),
                                        action_types=("type_and_submit",), max_steps=steps, lr=c.search_sft_lr,
                                        batch_size=c.search_sft_batch, grad_accum=1, lr_schedule="constant",
                                        warmup_ratio=warmup, context=c.context, max_chars=max_chars,
                                        max_length=4096, seed=seed, save_every=0, tensorboard=False,
                                        progress=False))
        return model

    def sft(self, base: Path, seed: int, seed_dir: Path) -> Path:
        from agents.training.sft import SFTConfig, train_sft

        out = seed_dir / "models" / "sft"
        if (out / "final" / "config.json").exists():
            return out / "final"
        c = self.cfg
        if c.search_sft_steps:
            base = self.search_sft(base, seed, seed_dir)
            self.log("search SFT done")
        return train_sft(SFTConfig(model=str(base), out=str(out), data=str(self.train_root), max_steps=c.sft_steps,
                                   lr=c.sft_lr, batch_size=c.sft_batch, grad_accum=1, context=c.context,
                                   max_chars=c.max_chars, max_length=4096, warmup_ratio=c.sft_warmup, seed=seed,
                                   cut_targets=c.sft_cut_targets, save_every=0, tensorboard=False, progress=False))

    def rl(self, sft: Path, reward: str, seed: int, seed_dir: Path) -> Path:
        from agents.training.grpo import GRPOConfig, train_grpo

        out = seed_dir / "models" / reward
        if (out / "final" / "config.json").exists():
            return out / "final"
        c = self.cfg
        return train_grpo(GRPOConfig(model=str(sft), out=str(out), data=str(self.train_root), reward=reward,
                                     max_steps=c.rl_steps, lr=c.rl_lr, num_generations=c.num_generations,
                                     prompts_per_step=c.prompts_per_step, temperature=c.temperature,
                                     max_new_tokens=c.max_new_tokens, context=c.context, max_chars=c.max_chars,
                                     micro_batch_size=16, scale_rewards=c.rl_scale_rewards, seed=seed,
                                     save_every=0, tensorboard=False, progress=False))

    def agent(self, path: Path, name: str, seed: int):
        from agents import LLMAgent

        return LLMAgent.from_pretrained(str(path), device="cpu", temperature=0.0, seed=seed,
                                        max_new_tokens=self.cfg.max_new_tokens, name=name)


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def run_record(settings: ReproduceSettings, eval_on: str, variant: str | None = None) -> dict[str, Any]:
    """What ``OUT/settings.json`` records of a run (see :func:`run_reproduce`)."""
    record: dict[str, Any] = {"settings": asdict(settings), "eval_on": eval_on}
    if variant is not None:
        record["variant"] = variant
    return record


def _check_out(out: Path, record: dict[str, Any]) -> None:
    """Refuse an ``out`` whose recorded settings differ from ``record``, naming the keys that differ.

    A settings field missing from the recorded run was added later; it reads as its default,
    which keeps the behaviour the older run had.
    """
    path = out / "settings.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        old["settings"] = {**asdict(ReproduceSettings()), **old.get("settings", {})}
        was, now = _flat(old), _flat(record)
        diff = sorted(k for k in set(was) | set(now) if was.get(k) != now.get(k))
        if diff:
            shown = ", ".join(f"{k}: {was.get(k)!r} -> {now.get(k)!r}" for k in diff)
            raise ValueError(f"{out} holds a reproduction with other settings ({shown}); "
                             f"pass another --out or delete it")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")


def _train_and_evaluate_seed(out: Path, settings: ReproduceSettings, eval_on: str, seed: int,
                             say: Callable[[str], None], threads: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """One seed's rows (zero-shot, SFT, SFT + binary RL, Shop-R1): step records per row."""
    if threads is not None:  # a worker process of --jobs
        import torch
        from transformers.utils import logging as hf_logging

        torch.set_num_threads(threads)
        hf_logging.disable_progress_bar()
    run = _Run(out, settings, eval_on, lambda m: say(f"seed {seed}: {m}"))
    run.data(check=threads is None)
    d = out / f"seed{seed}"
    base = run.model(seed, d)
    rows = {"zero_shot": run.evaluate(run.agent(base, "zero_shot", seed), "zero_shot", d)}
    sft = run.sft(base, seed, d)
    run.log("SFT done")
    rows["sft"] = run.evaluate(run.agent(sft, "sft", seed), "sft", d)
    for row, reward in (("sft_rl_binary", "binary"), ("shop_r1", "shop_r1")):
        model = run.rl(sft, reward, seed, d)
        rows[row] = run.evaluate(run.agent(model, row, seed), row, d)
        run.log(f"{row} done")
    return rows


def _print(message: str) -> None:
    print(message, flush=True)


def check_settings(settings: ReproduceSettings) -> None:
    """Raise ``ValueError`` naming a setting of the wrong type, range or choice, before a run
    records anything in its output folder."""
    from agents.training.grpo_update import scale_mode
    from agents.training.sft import check_cut_targets
    from agents.training.utils import check_config_fields
    from shop_env.prompts import CONTEXT_MODES

    check_config_fields(settings)
    if settings.context not in CONTEXT_MODES:
        raise ValueError(f"context must be one of {CONTEXT_MODES}, got {settings.context!r}")
    scale_mode(settings.rl_scale_rewards)
    check_cut_targets(settings.sft_cut_targets, "sft_cut_targets")


def run_reproduce(out: str | Path, *, seeds: int = 3, settings: ReproduceSettings = FULL, eval_on: str = "test",
                  say: Callable[[str], None] = print, jobs: int = 1,
                  variant: str | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Train and evaluate every row over ``seeds`` seeds; write ``OUT/table2.json``; return the table.

    ``jobs > 1`` trains that many seeds at once, each in its own process with one torch
    thread (the seeds are independent, so the table is the same as with ``jobs=1``); their
    progress lines are printed, not passed to ``say``. ``variant`` names a change that the
    settings do not show (e.g. an experiment's patched prompt layout); it is recorded with
    them, so that runs of different variants never share an ``OUT``.
    """
    from agents.baselines import RuleBasedPolicy
    from shop_env.evaluation.plots import TABLE2_PNG, plot_table2, plots_wanted
    from shop_env.evaluation.results import write_text_atomic
    from transformers.utils import logging as hf_logging

    if eval_on not in ("test", "val"):
        raise ValueError(f"eval_on must be 'test' or 'val', got {eval_on!r}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    check_settings(settings)  # bad values fail now, before OUT records them
    out = Path(out)
    _check_out(out, run_record(settings, eval_on, variant))
    hf_logging.disable_progress_bar()
    run = _Run(out, settings, eval_on, say)
    run.data()
    rule = run.evaluate(RuleBasedPolicy(), "rule", out)
    if jobs == 1:
        per_seed = [_train_and_evaluate_seed(out, settings, eval_on, seed, say) for seed in range(seeds)]
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(jobs, seeds), mp_context=mp.get_context("spawn")) as pool:
            per_seed = list(pool.map(_train_and_evaluate_seed, [out] * seeds, [settings] * seeds,
                                     [eval_on] * seeds, range(seeds), [_print] * seeds, [1] * seeds))
    rows: dict[str, list[list[dict[str, Any]]]] = {r: [] for r in ROWS}
    for seed_rows in per_seed:
        for row, records in seed_rows.items():
            rows[row].append(records)
        rows["rule"].append(rule)
    table = {r: pooled_table(v) for r, v in rows.items()}
    by_type = {r: exact_by_gold_type(v) for r, v in rows.items()}
    doc = {**table, "_exact_by_gold_type": by_type,
           "_meta": {"seeds": seeds, "eval_on": eval_on, "settings": asdict(settings),
                     "n_steps": len(rule), "seconds": round(time.time() - run.t0, 1),
                     "interval": "95% bootstrap over seeds and evaluation sessions"}}
    write_text_atomic(out / "table2.json", json.dumps(doc, indent=2))
    seed_word = "seed" if seeds == 1 else "seeds"
    title = f"Table 2 ({eval_on} split, {seeds} {seed_word}, {len(rule)} steps per seed)"
    if plots_wanted(None):
        plot_table2(table, out / TABLE2_PNG, title)
    say(format_table(table, title))
    say("\n" + format_by_gold_type(by_type))
    return table


def settings_with(base: ReproduceSettings, **changes: Any) -> ReproduceSettings:
    """``base`` with fields replaced (unknown names raise ``ValueError`` naming them)."""
    known = set(asdict(base))
    bad = sorted(set(changes) - known)
    if bad:
        raise ValueError(f"unknown reproduce setting(s) {bad}; known: {sorted(known)}")
    return replace(base, **changes)
