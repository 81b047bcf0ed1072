"""`shop-r1 reproduce`: pooled Table 2 over seeds, the no-leak check, and its bad-input errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from agents.training.reproduce import QUICK, assert_disjoint, pooled_table, session_fingerprint
from shop_env.cli import main
from shop_env.data.store import StoreWriter, open_store
from shop_env.metrics import macro_f1
from shop_env.paths import sample_data_dir


def _records(rng, n_sessions=30, p_exact=0.3):
    rows = []
    for s in range(n_sessions):
        for k in range(int(rng.integers(1, 5))):
            gold = str(rng.choice(["click", "type_and_submit", "terminate"]))
            pred = gold if rng.random() < 0.6 else str(rng.choice(["click", "terminate", None]))
            rows.append({"session_index": s, "step_index": k, "gold": {"type": gold}, "pred_type": pred,
                         "exact": bool(pred == gold and rng.random() < p_exact / 0.6)})
    return rows


def test_pooled_table_values_and_intervals():
    rng = np.random.default_rng(0)
    a = _records(rng)
    b = [dict(r, exact=not r["exact"]) for r in a]  # a second "seed" on the same steps
    t = pooled_table([a, b], resamples=300)
    both = a + b
    assert t["exact"]["value"] == pytest.approx(np.mean([r["exact"] for r in both])) == pytest.approx(0.5)
    assert t["type_accuracy"]["value"] == pytest.approx(np.mean([r["gold"]["type"] == r["pred_type"] for r in both]))
    assert t["type_macro_f1"]["value"] == pytest.approx(macro_f1([r["gold"]["type"] for r in both],
                                                               [r["pred_type"] for r in both]))
    for m in t.values():
        assert m["ci_low"] <= m["value"] <= m["ci_high"]
    # Resampling seeds: two opposite seeds make the exact interval far wider than one seed's.
    one = pooled_table([a], resamples=300)["exact"]
    assert t["exact"]["ci_high"] - t["exact"]["ci_low"] > 2 * (one["ci_high"] - one["ci_low"])
    with pytest.raises(ValueError, match="same evaluation steps"):
        pooled_table([a, a[1:]])


def test_a_leaked_test_session_is_caught(tmp_path):
    test = open_store(sample_data_dir(), split="test")
    train = open_store(sample_data_dir(), split="train")
    assert_disjoint(test, train)  # the sample itself is clean
    leaked = test[3]
    renamed = type(leaked)("a-new-id", leaked.steps, user_id="someone", persona=leaked.persona)
    assert session_fingerprint(renamed) == session_fingerprint(leaked)
    for i, extra in enumerate((leaked, renamed)):  # by id, and by content under another id
        path = tmp_path / f"s{i}"
        with StoreWriter(path, source="synthetic", synthetic=True) as w:
            w.write(train[0])
            w.write(extra)
        with pytest.raises(AssertionError, match="leaked"):
            assert_disjoint(test, open_store(path))


def test_cli_bad_input(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["reproduce", "--out", str(out), "--quick", "--set", "sft_stepz=3"]) == 2
    assert "sft_stepz" in capsys.readouterr().err
    assert not out.exists()
    assert main(["reproduce", "--out", str(out), "--quick", "--set", "rl_scale_rewards=per_group"]) == 2
    assert "scale_rewards must be one of" in capsys.readouterr().err
    assert not out.exists()
    for bad, needle in (("context=latest", "context must be one of"), ("sft_steps=abc", "sft_steps"),
                        ("max_chars=0", "max_chars must be > 0")):
        assert main(["reproduce", "--out", str(out), "--quick", "--set", bad]) == 2
        assert needle in capsys.readouterr().err, bad
        assert not out.exists()  # so the corrected command is not refused
    out.mkdir()
    (out / "settings.json").write_text(json.dumps({"settings": {**QUICK.__dict__, "sft_steps": 99}, "eval_on": "test"}))
    assert main(["reproduce", "--out", str(out), "--quick"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "other settings" in err and f"settings.sft_steps: 99 -> {QUICK.sft_steps}" in err
    assert json.loads((out / "settings.json").read_text())["settings"]["sft_steps"] == 99  # untouched


def test_a_run_recorded_before_a_settings_field_existed_is_still_accepted(tmp_path):
    from dataclasses import asdict

    from agents.training.reproduce import DEMO, _check_out

    older = {k: v for k, v in asdict(DEMO).items() if not k.startswith("search_sft")}
    (tmp_path / "settings.json").write_text(json.dumps({"settings": older, "eval_on": "test"}))
    _check_out(tmp_path, {"settings": asdict(DEMO), "eval_on": "test"})  # the new fields at their defaults
    assert json.loads((tmp_path / "settings.json").read_text())["settings"] == asdict(DEMO)
    with pytest.raises(ValueError, match=r"settings\.search_sft_steps: 0 -> 5"):
        _check_out(tmp_path, {"settings": {**asdict(DEMO), "search_sft_steps": 5}, "eval_on": "test"})
    with pytest.raises(ValueError, match=r"eval_on: 'test' -> 'val'"):
        _check_out(tmp_path, {"settings": asdict(DEMO), "eval_on": "val"})


def test_a_variant_never_shares_an_out_with_the_plain_run(tmp_path):
    """An experiment's patched run (e.g. experiments/persona_last_layout.py) and a plain
    reproduce with the same sizes refuse each other's OUT."""
    from agents.training.reproduce import DEMO, _check_out, run_record

    _check_out(tmp_path, run_record(DEMO, "val", "persona_last_layout"))
    with pytest.raises(ValueError, match=r"variant: 'persona_last_layout' -> None"):
        _check_out(tmp_path, run_record(DEMO, "val"))
    _check_out(tmp_path / "plain", run_record(DEMO, "val"))
    with pytest.raises(ValueError, match=r"variant: None -> 'persona_last_layout'"):
        _check_out(tmp_path / "plain", run_record(DEMO, "val", "persona_last_layout"))


def test_seeds_in_parallel_processes_give_the_same_table(tmp_path):
    from agents.training.reproduce import run_reproduce

    tables = []
    for jobs in (1, 2):
        run_reproduce(tmp_path / f"jobs{jobs}", seeds=2, settings=QUICK, say=lambda m: None, jobs=jobs)
        doc = json.loads((tmp_path / f"jobs{jobs}" / "table2.json").read_text())
        assert (tmp_path / f"jobs{jobs}" / "table2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        doc.pop("_meta")
        tables.append(doc)
    assert tables[0] == tables[1]
    for jobs in (1, 2):  # each seed trained its own models
        models = tmp_path / f"jobs{jobs}" / "seed1" / "models"
        assert (models / "shop_r1" / "final" / "config.json").exists()
        for stage, steps in (("sft_search", QUICK.search_sft_steps), ("sft_search_long", QUICK.search_sft_long_steps)):
            logged = [json.loads(ln) for ln in (models / stage / "metrics.jsonl").read_text().splitlines()]
            assert len(logged) == steps  # both search stages ran, before the full SFT (below)
        assert (models / "sft_search_long" / "final").stat().st_mtime <= (models / "sft" / "final").stat().st_mtime


def test_exact_by_gold_type_counts_each_type_over_seeds():
    from agents.training.reproduce import exact_by_gold_type

    rng = np.random.default_rng(1)
    runs = [_records(rng, n_sessions=20)]
    runs.append([dict(r, exact=not r["exact"]) for r in runs[0]])  # a second seed, same steps
    got = exact_by_gold_type(runs)
    for kind in ("click", "type_and_submit", "terminate"):
        rows = [r for r in runs[0] if r["gold"]["type"] == kind]
        assert got[kind]["steps"] == len(rows)
        assert got[kind]["exact"] == pytest.approx(0.5)  # one seed's hit is the other's miss
    only = exact_by_gold_type(runs[:1])
    clicks = [r for r in runs[0] if r["gold"]["type"] == "click"]
    assert only["click"]["exact"] == pytest.approx(sum(r["exact"] for r in clicks) / len(clicks))
    typed = [r for r in clicks if r["pred_type"] == "click"]
    assert only["click"]["type"] == pytest.approx(len(typed) / len(clicks))
    assert only["click"]["exact_given_type"] == pytest.approx(sum(r["exact"] for r in typed) / len(typed))
    for cell in only.values():  # exact matches need the right type, so the product is the whole
        assert cell["exact"] == pytest.approx(cell["type"] * cell["exact_given_type"])


def test_table2_figure_draws_each_value_with_its_interval():
    from shop_env.evaluation.plots import TABLE2_METRICS, table2_figure

    rng = np.random.default_rng(3)
    table = {"sft": pooled_table([_records(rng)], resamples=50), "rule": pooled_table([_records(rng)], resamples=50)}
    ax = table2_figure(table).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sft", "rule"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [label for _, label in TABLE2_METRICS]
    from matplotlib.container import BarContainer

    bar_sets = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bar_sets) == len(TABLE2_METRICS)
    for container, (key, _) in zip(bar_sets, TABLE2_METRICS):
        for bar, row in zip(container.patches, table):
            assert bar.get_height() == pytest.approx(100 * table[row][key]["value"])
        (lo_hi,) = container.errorbar.lines[2]  # the whiskers' vertical segments
        for seg, row in zip(lo_hi.get_segments(), table):  # [[x, low], [x, high]]
            cell = table[row][key]
            assert [seg[0][1], seg[1][1]] == pytest.approx([100 * cell["ci_low"], 100 * cell["ci_high"]])


def test_table2_figure_takes_a_value_outside_its_interval():
    """A pooled value may sit just outside its resampled interval: no whisker on that side."""
    from shop_env.evaluation.plots import table2_figure

    cell = {"value": 0.30, "ci_low": 0.31, "ci_high": 0.45}
    ax = table2_figure({"sft": {"exact": cell, "type_accuracy": cell, "type_macro_f1": cell}}).axes[0]
    (lo_hi,) = [c for c in ax.containers if hasattr(c, "errorbar")][0].errorbar.lines[2]
    assert [p[1] for p in lo_hi.get_segments()[0]] == pytest.approx([30.0, 45.0])


def test_format_by_gold_type_prints_every_row_and_type():
    from agents.training.reproduce import exact_by_gold_type, format_by_gold_type

    rng = np.random.default_rng(2)
    by_type = {"sft": exact_by_gold_type([_records(rng)]), "rule": exact_by_gold_type([_records(rng)])}
    text = format_by_gold_type(by_type)
    lines = text.splitlines()
    assert len(lines) == 3 and lines[1].split()[0] == "sft" and lines[2].split()[0] == "rule"
    c = by_type["sft"]["click"]
    assert f"click {100 * c['exact']:5.1f}% = {100 * c['type']:5.1f}% x {100 * c['exact_given_type']:5.1f}%" in lines[1]


def test_rl_settings_reach_the_grpo_config(tmp_path, monkeypatch):
    import agents.training.grpo as grpo
    from agents.training.reproduce import _Run, settings_with

    seen = []
    monkeypatch.setattr(grpo, "train_grpo", lambda config: seen.append(config) or tmp_path / "final")
    settings = settings_with(QUICK, rl_scale_rewards="batch", rl_steps=7, rl_lr=3e-4)
    run = _Run(tmp_path, settings, "val", lambda m: None)
    run.train_root = tmp_path / "data"
    run.rl(tmp_path / "sft", "shop_r1", 0, tmp_path / "seed0")
    (config,) = seen
    assert (config.scale_rewards, config.max_steps, config.lr, config.reward) == ("batch", 7, 3e-4, "shop_r1")
