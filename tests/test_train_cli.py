"""The paper's settings map onto the right stages and reward presets; `shop-r1 train` runs end to end."""
from __future__ import annotations

import json

import pytest

from agents.training.settings import grpo_config, list_settings, load_setting, sft_config
from agents.training.grpo import reward_config
from shop_env.cli import main
from shop_env.errors import DataError
from shop_env.reward import RewardConfig

EXPECTED = {  # setting: (has SFT, reward preset or None)
    "zero_shot": (False, None), "rl_binary": (False, "binary"), "sft": (True, None),
    "sft_rl_binary": (True, "binary"), "shop_r1": (True, "shop_r1"), "no_sft": (False, "shop_r1"),
    "no_format": (True, "no_format"), "no_rationale": (True, "no_rationale"), "no_dars": (True, "no_dars"),
    "binary_action": (True, "binary_action"),
}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_every_paper_setting_is_bundled_and_maps_correctly():
    assert set(list_settings()) == set(EXPECTED)
    for name, (has_sft, preset) in EXPECTED.items():
        s = load_setting(name)
        assert (s.sft is not None) == has_sft, name
        assert (s.rl or {}).get("reward") == preset, name
        assert s.paper["exact"] > 0
        if has_sft:
            c = sft_config(s, model="m")
            assert (c.epochs, c.lr) == (4.0, 2e-5)
            assert (c.max_prompt_tokens, c.max_length, c.batch_size) == (32000, 32768, 1)  # 32k context
        if preset:
            c = grpo_config(s, model="m")
            assert (c.lr, c.max_steps, c.num_generations, c.temperature) == (1e-7, 500, 8, 0.6)
            assert c.prompts_per_step == 64  # the paper's global batch counts prompts (as verl's train_batch_size)
            assert (c.max_prompt_tokens, c.micro_batch_size, c.gradient_checkpointing) == (32000, 1, True)


def test_cpu_preset_replaces_sizes_and_keeps_the_method():
    s = load_setting("sft_rl_binary")
    sft, rl = sft_config(s, "cpu", model="m"), grpo_config(s, "cpu", model="m", lr=1e-4)
    assert (sft.context, sft.max_chars, sft.max_prompt_tokens, sft.max_length) == ("latest_step", 6000, None, 4096)
    assert (rl.context, rl.max_chars, rl.max_prompt_tokens) == ("latest_step", 6000, None)
    assert rl.reward == "binary" and rl.lr == 1e-4  # the setting's reward; explicit overrides win
    assert rl.prompts_per_step * rl.num_generations <= 16
    with pytest.raises(ValueError, match="unknown preset 'gpu9'"):
        sft_config(s, "gpu9", model="m")


def test_reward_presets_are_the_ablations():
    r = {name: reward_config(load_setting(name).rl["reward"]) for name, (_, p) in EXPECTED.items() if p}
    assert r["shop_r1"] == RewardConfig() and r["shop_r1"].rationale_weight == 0.005
    assert r["shop_r1"].value_factor == 1000.0 and r["shop_r1"].kl_beta == 0.001
    assert r["no_format"].format_reward is False
    assert r["no_rationale"].rationale_weight == 0.0
    assert r["no_dars"].value_factor == 1.0
    assert r["binary_action"].action_reward == "binary" and r["binary_action"].format_reward
    assert r["rl_binary"].action_reward == "binary" and not r["rl_binary"].format_reward
    assert r["rl_binary"].rationale_weight == 0.0


def test_bad_settings_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "bad", "rl": {"reward": "shop_r1", "lr_typo": 1}}))
    with pytest.raises(DataError, match="lr_typo") as e:
        load_setting(bad)
    assert str(bad) in str(e.value)
    bad.write_text(json.dumps({"name": "bad", "rl": {"reward": "nope"}}))
    with pytest.raises(DataError, match="rl.reward"):
        load_setting(bad)
    with pytest.raises(ValueError, match="unknown setting"):
        load_setting("no_such_setting")


def test_cli_builds_trains_and_reports_errors(tmp_path, capsys):
    from tests.tiny_data import write_easy_store

    store = write_easy_store(tmp_path / "store", 8)
    assert main(["train", "tiny-model", str(tmp_path / "tiny"), "--data", str(store), "--vocab-size", "600"]) == 0
    common = ["--data", str(store), "--split", "all", "--set", "progress=false", "--set", "tensorboard=false"]
    assert main(["train", "sft", "--model", str(tmp_path / "tiny"), "--out", str(tmp_path / "sft"),
                 "--max-steps", "1", "--context", "latest_step", "--set", "grad_accum=1", *common]) == 0
    assert main(["train", "rl", "--model", str(tmp_path / "sft" / "final"), "--out", str(tmp_path / "rl"),
                 "--max-steps", "1", "--num-generations", "2", "--set", "prompts_per_step=1",
                 "--set", "max_new_tokens=4", "--context", "latest_step", *common]) == 0
    assert (tmp_path / "rl" / "final" / "config.json").exists()
    assert main(["train", "sft", "--config", "rl_binary", "--model", "x", "--out", str(tmp_path / "z")]) == 2
    assert "has no SFT stage" in capsys.readouterr().err
    assert main(["train", "settings"]) == 0
    assert "shop_r1" in capsys.readouterr().out


def test_bad_input_is_one_line_naming_it_and_nothing_written_is_lost(tmp_path, capsys):
    from tests.tiny_data import cached_easy_model

    model, store = cached_easy_model()
    common = ["--data", str(store), "--split", "all", "--set", "progress=false", "--set", "tensorboard=false",
              "--context", "latest_step"]
    out = tmp_path / "sft"

    def fails(argv, *needles):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        for n in needles:
            assert n in err, err

    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    fails(["train", "sft", "--model", str(not_a_model), "--out", str(out), *common], str(not_a_model), "not a model")
    fails(["train", "rl", "--model", "nope", "--out", str(out), *common], "'nope'", "not a model")
    fails(["train", "sft", "--preset", "gpu9", "--model", str(model), "--out", str(out), *common], "gpu9")
    fails(["train", "sft", "--model", str(model), "--out", str(out), "--set", "lr_typo=1", *common], "lr_typo")
    for bad in ("lr=-1", "batch_size=0", "max_steps=abc", "dtype=bf16", "lr_schedule=cosin", 'lora={"rank": 4}',
                "cut_targets=mask", "context=latest"):
        fails(["train", "sft", "--model", str(model), "--out", str(out), "--set", bad, *common],
              bad.split("=")[0], "from --set")
    fails(["train", "sft", "--model", str(model), "--out", str(out), *common, "--data", str(tmp_path / "none")],
          str(tmp_path / "none"))
    fails(["train", "rl", "--model", str(model), "--out", str(out), *common, "--split", "nope"], "nope")
    assert not out.exists()  # nothing written by a refused command
    assert main(["train", "sft", "--model", str(model), "--out", str(out), "--max-steps", "1", *common]) == 0
    capsys.readouterr()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    fails(["train", "sft", "--model", str(model), "--out", str(out), "--max-steps", "1", "--lr", "0.5", *common],
          str(out), "other settings", "lr")
    fails(["train", "rl", "--model", str(model), "--out", str(out), "--max-steps", "1", *common], "sft run")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # The same settings with more steps resume (allowed).
    assert main(["train", "sft", "--model", str(model), "--out", str(out), "--max-steps", "2", *common]) == 0
    capsys.readouterr()
    (out / "run_config.json").write_text("{broken")
    fails(["train", "sft", "--model", str(model), "--out", str(out), "--max-steps", "2", *common],
          str(out / "run_config.json"), "not valid JSON")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    fails(["train", "tiny-model", str(mine), "--vocab-size", "600"], str(mine), "does not hold a model")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path):
    """torchrun with 2 CPU processes: DDP via accelerate (gloo); rank 0 alone logs and saves."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.tiny_data import cached_easy_model

    model, store = cached_easy_model()
    exe = Path(sys.executable).parent
    cmd = [str(exe / "torchrun"), "--nproc_per_node", "2", str(exe / "shop-r1"), "train", "rl", "--model", str(model),
           "--data", str(store), "--split", "all", "--out", str(tmp_path / "rl"), "--max-steps", "2",
           "--num-generations", "2", "--context", "latest_step", "--device", "cpu", "--set", "prompts_per_step=1",
           "--set", "max_new_tokens=4", "--set", "progress=false", "--set", "tensorboard=false"]
    subprocess.run(cmd, check=True, timeout=300, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    history = [json.loads(x) for x in (tmp_path / "rl" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [1, 2]  # one writer, not two
    assert (tmp_path / "rl" / "final" / "config.json").exists()


def test_two_process_sft_where_the_processes_skip_different_examples(tmp_path):
    """torchrun, 2 CPU processes, a max_length that skips some examples on one process and
    not the other: every process must still run the same backwards (else DDP hangs)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.tiny_data import cached_easy_model

    model, store = cached_easy_model()
    exe = Path(sys.executable).parent
    out = tmp_path / "sft"
    cmd = [str(exe / "torchrun"), "--nproc_per_node", "2", str(exe / "shop-r1"), "train", "sft", "--model", str(model),
           "--data", str(store), "--split", "all", "--out", str(out), "--max-steps", "3", "--context", "latest_step",
           "--device", "cpu", "--lr", "1e-3", "--set", "batch_size=1", "--set", "grad_accum=2",
           "--set", "max_length=490", "--set", "save_every=0", "--set", "progress=false", "--set", "tensorboard=false"]
    subprocess.run(cmd, check=True, timeout=240, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert any(m["train/skipped"] > 0 for m in metrics)  # the case under test did occur
    assert (out / "final" / "config.json").exists()


def test_set_null_clears_a_preset_value_and_other_ranks_record_nothing(tmp_path):
    from agents.training.settings import check_run_dir, grpo_config, load_setting, sft_config

    sft = sft_config(load_setting("shop_r1"), "cpu", model="m", max_chars=None, sets={"max_chars": None})
    assert sft.max_chars is None  # a keyword None means "not given"; a --set null clears the preset's 6000
    assert sft_config(load_setting("shop_r1"), "cpu", model="m", max_chars=None).max_chars == 6000
    rl = grpo_config(load_setting("shop_r1"), None, model="m", sets={"max_prompt_tokens": None})
    assert rl.max_prompt_tokens is None
    check_run_dir(tmp_path / "rank1", sft, "sft", record=False)
    assert not (tmp_path / "rank1").exists()
    check_run_dir(tmp_path / "rank0", sft, "sft")
    check_run_dir(tmp_path / "rank0", sft, "sft", record=False)  # compares with the recorded run: same
    assert [p.name for p in (tmp_path / "rank0").iterdir()] == ["run_config.json"]


def test_any_torch_dtype_name_is_a_valid_dtype_setting():
    from agents.training.settings import load_setting, sft_config

    assert sft_config(load_setting("shop_r1"), model="m", dtype="float64").dtype == "float64"
    with pytest.raises(ValueError, match="torch dtype name"):
        sft_config(load_setting("shop_r1"), model="m", dtype="bf16")
