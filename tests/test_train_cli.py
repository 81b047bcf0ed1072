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
        if preset:
            c = grpo_config(s, model="m")
            assert (c.lr, c.max_steps, c.num_generations, c.temperature) == (1e-7, 500, 8, 0.6)
            assert c.num_generations * c.prompts_per_step == 64  # the paper's global batch


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
