"""GRPO: advantages, k3 KL, clipped loss, logging, resume, LoRA, and reward rising on an easy subset."""
from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch

import agents.training.grpo as grpo
from agents.training.grpo import GRPOConfig, group_advantages, k3_kl, policy_loss, train_grpo
from agents.llm import LLMAgent
from agents.training.sft import SFTConfig, train_sft
from tests.tiny_data import cached_easy_model
from shop_env.data.store import open_store
from shop_env.prompts import build_prompt
from shop_env.reward import compute_reward


pytestmark = pytest.mark.usefixtures("torch_one_thread")


# --- pure pieces ------------------------------------------------------------------------------

def test_group_advantages_match_numpy():
    rng = np.random.default_rng(0)
    r = rng.normal(size=24)
    got = group_advantages(torch.tensor(r), 8).numpy()
    g = r.reshape(3, 8)
    want = ((g - g.mean(1, keepdims=True)) / (g.std(1, keepdims=True) + 1e-4)).ravel()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert torch.all(group_advantages(torch.ones(8), 4) == 0)  # equal rewards: no signal
    np.testing.assert_allclose(group_advantages(torch.tensor(r), 8, scale=False).numpy(),
                               (g - g.mean(1, keepdims=True)).ravel(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        group_advantages(torch.ones(7), 4)


def test_batch_scaling_divides_by_the_std_of_all_rewards():
    rng = np.random.default_rng(1)
    r = rng.normal(size=24)
    g = r.reshape(3, 8)
    want = ((g - g.mean(1, keepdims=True)) / (r.std() + 1e-4)).ravel()
    np.testing.assert_allclose(group_advantages(torch.tensor(r), 8, "batch").numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(group_advantages(torch.tensor(r), 8, "batch", batch_std=2.0).numpy(),
                               ((g - g.mean(1, keepdims=True)) / (2.0 + 1e-4)).ravel(), rtol=1e-5, atol=1e-6)
    assert torch.equal(group_advantages(torch.tensor(r), 8, "group"), group_advantages(torch.tensor(r), 8, True))
    assert torch.equal(group_advantages(torch.tensor(r), 8, "none"), group_advantages(torch.tensor(r), 8, False))
    with pytest.raises(ValueError, match="scale_rewards must be one of"):
        group_advantages(torch.tensor(r), 8, "batchh")


def test_a_tied_group_ranked_by_a_small_bonus_keeps_small_advantages_only_under_batch_scaling():
    """Group 1 ties on the environment reward (0.8 each) and differs only by 0.005 x self-certainty;
    group 2 has a right and a wrong action type. Group std makes the bonus as strong as the type."""
    bonus = 0.005 * np.array([7.1, 7.3, 7.0, 7.2])
    r = torch.tensor(np.concatenate([0.8 + bonus, [1.0, 0.5, 1.0, 0.5] + bonus]))
    by_group = group_advantages(r, 4, "group").view(2, 4).abs().max(dim=1).values
    by_batch = group_advantages(r, 4, "batch").view(2, 4).abs().max(dim=1).values
    assert by_group[0] > 0.5 * by_group[1]
    assert by_batch[0] < 0.05 * by_batch[1]


def test_k3_is_an_unbiased_nonnegative_kl_estimate():
    p = torch.tensor([0.5, 0.2, 0.2, 0.1])
    q = torch.tensor([0.25, 0.25, 0.25, 0.25])
    draws = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    k3 = k3_kl(p.log()[draws], q.log()[draws])
    assert torch.all(k3 >= 0)
    exact = float((p * (p.log() - q.log())).sum())  # KL(p || q), samples from p
    assert float(k3.mean()) == pytest.approx(exact, rel=0.03)
    assert float(k3_kl(torch.tensor(-1.3), torch.tensor(-1.3))) == 0.0


def test_clipped_loss_gradients():
    adv = torch.tensor([1.0, -1.0])
    mask = torch.ones(2, 3)
    old = torch.zeros(2, 3)
    # Inside the clip range the gradient is -A/T per token (sequence mean), outside it is zero.
    for shift, expect_zero in ((0.05, False), (0.5, True)):
        logp = torch.full((2, 3), shift, requires_grad=True)
        loss, stats = policy_loss(logp, old, None, adv, mask, clip_eps=0.2, beta=0.0)
        loss.backward()
        g = logp.grad
        if expect_zero:  # ratio e^0.5 > 1.2 with A > 0 is clipped; with A < 0 the unclipped min is taken
            assert torch.all(g[0] == 0) and torch.all(g[1] != 0)
        else:
            torch.testing.assert_close(g[0], -torch.exp(torch.tensor(shift)).expand(3) / 3)
    # The KL term pulls toward the reference: at logp == ref its gradient vanishes.
    logp = torch.zeros(1, 2, requires_grad=True)
    loss, _ = policy_loss(logp, logp.detach(), torch.zeros(1, 2), torch.zeros(1), torch.ones(1, 2),
                          clip_eps=0.2, beta=1.0)
    loss.backward()
    assert torch.all(logp.grad.abs() < 1e-7)
    # token_mean sums over tokens; padding never counts.
    lp = torch.zeros(1, 4)
    l1, st = policy_loss(lp, lp, None, torch.ones(1), torch.tensor([[1, 1, 0, 0]]), clip_eps=0.2, beta=0,
                         loss_type="token_mean")
    assert float(l1) == -2.0 and float(st["tokens"]) == 2.0


# --- training on the easy toy store ---------------------------------------------------------------

@pytest.fixture(scope="module")
def sft_model(tmp_path_factory):
    """A tiny model SFT-ed briefly on the easy store (latest-step prompts, as RL uses below)."""
    model_dir, store_dir = cached_easy_model()
    out = tmp_path_factory.mktemp("sft")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        final = train_sft(SFTConfig(model=str(model_dir), data=str(store_dir), split="all", out=str(out),
                                    max_steps=60, lr=4e-3, batch_size=4, grad_accum=1, warmup_ratio=0.0,
                                    lr_schedule="constant", context="latest_step", progress=False,
                                    tensorboard=False, seed=0))
    finally:
        torch.set_num_threads(n)
    return final, store_dir


def rl_config(sft_model, out, **kw) -> GRPOConfig:
    final, store = sft_model
    base = dict(model=str(final), data=str(store), split="all", out=str(out), lr=1e-3, temperature=0.6,
                num_generations=8, prompts_per_step=2, max_new_tokens=40, context="latest_step",
                action_types=["terminate"], max_step_index=1, micro_batch_size=16, progress=False,
                save_every=2, seed=0)
    base.update(kw)
    return GRPOConfig(**base)


def mean_reward(model_dir, store_dir, n=48) -> float:
    """Mean reward of n samples (T=0.6, fixed seed) on a terminate step of the easy store."""
    store = open_store(store_dir)
    session = next(s for s in store if s.steps[1].action.type == "terminate")
    prompt = build_prompt(session, 1, context="latest_step")
    agent = LLMAgent.from_pretrained(str(model_dir), device="cpu", max_new_tokens=40, seed=123)
    gens = agent.generate([prompt.messages], n)[0]
    return float(np.mean([compute_reward(g.text, session.steps[1].action).total for g in gens]))


def test_reward_rises_on_the_easy_subset(sft_model, tmp_path):
    """Gold is always terminate; after SFT the model splits between click and terminate."""
    before = mean_reward(sft_model[0], sft_model[1])
    final = train_grpo(rl_config(sft_model, tmp_path / "rl", max_steps=12, save_every=0))
    after = mean_reward(final, sft_model[1])
    assert after > before + 0.1, (before, after)
    lines = [json.loads(line) for line in (tmp_path / "rl" / "metrics.jsonl").read_text().splitlines()]
    assert [d["step"] for d in lines] == list(range(1, 13))
    for key in ("reward/reward", "reward/format", "reward/type", "reward/attribute", "reward/value",
                "reward/self_certainty", "train/kl", "train/entropy", "rollout/length", "rollout/exact_match",
                "rollout/type_match", "train/loss", "train/clip_fraction"):
        assert all(np.isfinite(d[key]) for d in lines), key
    assert lines[-1]["train/kl"] > 0 and lines[0]["train/entropy"] > 0
    assert list((tmp_path / "rl" / "tb").glob("events.out.tfevents.*"))


def test_logged_learning_rate_is_the_one_each_update_used(sft_model, tmp_path, optimizer_lrs):
    used = optimizer_lrs
    train_grpo(rl_config(sft_model, tmp_path / "lr", max_steps=3, save_every=0, num_generations=2,
                         max_new_tokens=8, lr_schedule="linear", warmup_steps=2, tensorboard=False))
    logged = [json.loads(line)["train/lr"] for line in (tmp_path / "lr" / "metrics.jsonl").read_text().splitlines()]
    assert len(used) == 3 and len(set(used)) > 1
    assert logged == pytest.approx(used)


def test_resume_continues_at_the_same_step_with_the_same_data(sft_model, tmp_path, monkeypatch):
    straight = train_grpo(rl_config(sft_model, tmp_path / "a", max_steps=4, action_types=None))
    # Second run: killed during step 3 (after the step-2 checkpoint), then rerun.
    calls = {"n": 0}
    real = grpo._score

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(grpo, "_score", dying)
    with pytest.raises(KeyboardInterrupt):
        train_grpo(rl_config(sft_model, tmp_path / "b", max_steps=4, action_types=None))
    monkeypatch.setattr(grpo, "_score", real)
    assert (tmp_path / "b" / "latest").read_text() == "checkpoint-000002"
    resumed = train_grpo(rl_config(sft_model, tmp_path / "b", max_steps=4, action_types=None))

    def read(path, name):
        return [json.loads(line) for line in (path.parent / name).read_text().splitlines()]

    assert read(straight, "history.jsonl") == read(resumed, "history.jsonl")
    ma, mb = read(straight, "metrics.jsonl"), read(resumed, "metrics.jsonl")
    assert [d["step"] for d in mb] == [1, 2, 3, 4]
    for a, b in zip(ma, mb):
        assert a["reward/reward"] == pytest.approx(b["reward/reward"], abs=1e-6)
    wa = LLMAgent.from_pretrained(str(straight), device="cpu").model.state_dict()
    wb = LLMAgent.from_pretrained(str(resumed), device="cpu").model.state_dict()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-6, rtol=1e-5)
    # A different seed gives a different data order.
    assert len({tuple(map(tuple, h["examples"])) for h in read(straight, "history.jsonl")}) > 1


def test_lora_and_gradient_checkpointing_run(sft_model, tmp_path):
    cfg = rl_config(sft_model, tmp_path / "lora", max_steps=2, lora={"r": 4, "alpha": 8},
                    gradient_checkpointing=True, num_generations=4, prompts_per_step=1, save_every=1)
    final = train_grpo(cfg)
    assert (tmp_path / "lora" / "checkpoint-000002" / "model" / "adapter_config.json").exists()
    merged = LLMAgent.from_pretrained(str(final), device="cpu").model  # a plain, merged model
    base = LLMAgent.from_pretrained(str(sft_model[0]), device="cpu").model
    changed = [k for k, v in merged.state_dict().items() if not torch.equal(v, base.state_dict()[k])]
    assert changed and all("proj" in k for k in changed)  # only adapted linear layers moved
    lines = [json.loads(x) for x in (tmp_path / "lora" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(d["train/kl"]) for d in lines)  # KL against the adapter-free base


def test_bad_config_is_reported(sft_model, tmp_path):
    with pytest.raises(ValueError, match="unknown reward preset"):
        train_grpo(rl_config(sft_model, tmp_path / "x", reward="nope"))
    with pytest.raises(ValueError, match="no RL examples"):
        train_grpo(rl_config(sft_model, tmp_path / "y", action_types=["nothing"]))
    with pytest.raises(ValueError, match="scale_rewards must be one of"):
        train_grpo(rl_config(sft_model, tmp_path / "z", scale_rewards="per_group"))
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_batch_scaling_reaches_the_update(sft_model, tmp_path, monkeypatch):
    """With ``scale_rewards="batch"`` the update gets group-centred rewards over the batch's std."""
    import agents.training.grpo as grpo

    seen = []
    real = grpo.group_advantages

    def spy(rewards, group_size, scale, **kw):
        adv = real(rewards, group_size, scale, **kw)
        seen.append((rewards.clone(), scale, adv.clone()))
        return adv

    monkeypatch.setattr(grpo, "group_advantages", spy)
    train_grpo(rl_config(sft_model, tmp_path / "b", max_steps=2, save_every=0, scale_rewards="batch",
                         action_types=None, max_step_index=None))
    assert len(seen) == 2
    for rewards, scale, adv in seen:
        r = rewards.double().numpy()
        g = r.reshape(-1, 8)
        assert scale == "batch"
        np.testing.assert_allclose(adv.numpy(), ((g - g.mean(1, keepdims=True)) / (r.std() + 1e-4)).ravel(),
                                   rtol=1e-4, atol=1e-6)


# --- memory layout, reference dtype, self-certainty from the training forward, safe resume ------------

def _metrics(out):
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("dtype", ["auto", "bfloat16"])
def test_kl_is_exactly_zero_at_the_first_step(sft_model, tmp_path, dtype):
    """The reference model is loaded in the policy's dtype, so before any update KL == 0 exactly."""
    cfg = rl_config(sft_model, tmp_path / dtype, max_steps=3, beta=0.5, dtype=dtype, save_every=0,
                    micro_batch_size=1, action_types=None, max_step_index=None)
    train_grpo(cfg)
    kl = [d["train/kl"] for d in _metrics(tmp_path / dtype)]
    assert kl[0] == 0.0 and max(kl[1:]) > 0.0  # once updated, the policy has moved away


def test_step_uses_no_square_attention_masks(sft_model, tmp_path, sdpa_masks):
    """Generation and loss forwards never build an [N, 1, Q, K] mask with Q > 1 (dense padding masks)."""
    train_grpo(rl_config(sft_model, tmp_path / "m", max_steps=1, action_types=None, max_step_index=None,
                         save_every=0, generation_rows=5, micro_batch_size=3, max_new_tokens=12))
    assert sdpa_masks and all(m is None or m[-2] == 1 for m in sdpa_masks), sorted(set(sdpa_masks), key=str)


class _HFAsVLLM:
    """Stands in for agents.vllm_generation.VLLMGenerator: samples with the HF loop and returns no
    self-certainty, as vLLM does, so the trainer must compute it from its own forward pass."""

    def __init__(self, model, agent):
        self.model, self.agent, self.loads = model, agent, 0

    def sample(self, prompts, num_samples, *, seed):
        from agents.sampling import sample_prompts

        a = self.agent
        batch = sample_prompts(self.model, prompts, num_samples, max_new_tokens=a.max_new_tokens,
                               stop_ids=a.stop_ids, pad_id=a.pad_id, temperature=a.temperature, top_p=a.top_p,
                               generator=torch.Generator().manual_seed(seed), with_self_certainty=False,
                               max_rows=a.max_rows)
        assert float(batch.token_self_certainty.abs().sum()) == 0.0
        return batch

    def load_weights(self, model):
        self.loads += 1


def test_self_certainty_from_the_training_forward_equals_sampling_time(sft_model, tmp_path, monkeypatch):
    """The vLLM path's bonus (training model's forward, before the update) equals what the HF sampler
    recorded while sampling: per token, per sample, and in the logged step-1 reward."""
    from agents.training.grpo_update import forward_self_certainty, row_chunks

    agent = LLMAgent.from_pretrained(str(sft_model[0]), device="cpu", max_new_tokens=24, seed=0, max_rows=5)
    store = open_store(sft_model[1])
    prompts = [build_prompt(store[i], 1, context="latest_step").messages for i in range(2)]
    rollout = agent.sample(prompts, 4, generator=torch.Generator().manual_seed(1))
    batch = rollout.batch
    chunks = row_chunks(rollout.prompts, batch.mask, 4, 3)
    agent.model.train()  # the trainer's model is in training mode
    sc, lp = forward_self_certainty(agent.model, chunks, batch.tokens, batch.mask, agent.temperature)
    m = batch.mask.bool()
    torch.testing.assert_close(sc[m], batch.token_self_certainty[m], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(lp[m], batch.logprobs[m], atol=1e-4, rtol=1e-4)
    recomputed = agent.generations(type(batch)(batch.tokens, batch.mask, batch.logprobs, sc, batch.finished), 4)
    for a, b in zip(rollout.generations, recomputed):
        assert a.text == b.text and b.self_certainty == pytest.approx(a.self_certainty, abs=1e-4)
    assert any(g.self_certainty > 0 for g in recomputed)

    # Through the trainer: one run with the HF sampler, one with the vLLM path (HF stand-in).
    engines = []

    def fake_engine(config, agent, ckpt):
        engines.append(_HFAsVLLM(agent.model, agent))
        return engines[-1]

    kw = dict(max_steps=2, save_every=0, max_new_tokens=24, action_types=None, max_step_index=None)
    train_grpo(rl_config(sft_model, tmp_path / "hf", **kw))
    monkeypatch.setattr(grpo, "_vllm_generator", fake_engine)
    train_grpo(rl_config(sft_model, tmp_path / "vllm", generation_backend="vllm", **kw))
    hf, vl = _metrics(tmp_path / "hf"), _metrics(tmp_path / "vllm")
    assert engines and engines[0].loads == 2  # weights pushed after every optimizer step
    assert vl[0]["reward/self_certainty"] > 0
    for key in ("reward/self_certainty", "reward/reward", "train/loss"):
        assert vl[0][key] == pytest.approx(hf[0][key], abs=1e-5), key


def test_vllm_backend_without_vllm_names_the_install_command(sft_model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # vLLM absent, whether or not it is installed
    with pytest.raises(ImportError, match=r"pip install 'shop-r1\[vllm\]'"):
        train_grpo(rl_config(sft_model, tmp_path / "v", generation_backend="vllm", max_steps=1))


class _Planted:
    """Unpickling this runs ``open(path, "w")``: what a malicious trainer.pt could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_resume_refuses_a_pickle_that_runs_code(sft_model, tmp_path):
    out = tmp_path / "run"
    train_grpo(rl_config(sft_model, out, max_steps=1, save_every=1, num_generations=4, prompts_per_step=1))
    ckpt = out / "checkpoint-000001"
    blob = torch.load(ckpt / "trainer.pt", weights_only=True)  # what we write is weights-only loadable
    assert set(blob) == {"optimizer", "scheduler", "rng"}
    marker = tmp_path / "pwned"
    torch.save({**blob, "optimizer": _Planted(marker)}, ckpt / "trainer.pt")
    with pytest.raises(ValueError, match="refusing to load") as err:
        train_grpo(rl_config(sft_model, out, max_steps=2, save_every=1, num_generations=4, prompts_per_step=1))
    assert "trainer.pt" in str(err.value)
    assert not marker.exists()


def test_configs_are_typed_and_documented_field_by_field():
    """Every field of GRPOConfig/SFTConfig has a type without Any and a TRL-style doc entry whose
    stated default is the real default."""
    import ast
    import dataclasses
    import re
    import typing

    from agents.training.sft import SFTConfig

    for cls in (GRPOConfig, SFTConfig):
        hints = typing.get_type_hints(cls)
        doc = cls.__doc__
        for f in dataclasses.fields(cls):
            assert hints[f.name] is not typing.Any and "Any" not in str(hints[f.name]), (cls.__name__, f.name)
            assert f"\n        {f.name} (`" in doc, f"{cls.__name__}.{f.name} is not documented"
            if f.default is not dataclasses.MISSING:
                stated = re.search(rf"\n        {f.name} \(.*defaults to `(.+?)`\):", doc).group(1)
                assert ast.literal_eval(stated) == f.default, (cls.__name__, f.name, stated)


def test_paper_rl_settings_checkpoint_and_use_micro_batch_1():
    from agents.training.settings import grpo_config, list_settings, load_setting

    with_rl = [load_setting(n) for n in list_settings() if load_setting(n).rl is not None]
    assert len(with_rl) >= 6
    for setting in with_rl:
        cfg = grpo_config(setting, model="m")
        assert cfg.gradient_checkpointing and cfg.micro_batch_size == 1, setting.name


def test_qwen2_sampling_and_loss_build_no_square_masks_and_match_one_prompt_at_a_time(sdpa_masks):
    """On a Qwen2 (GQA) model: rows of two prompts of different lengths decoded together
    (left-padded merged caches) give the same greedy tokens as each prompt alone, and neither
    sampling nor the loss forward hands SDPA a mask with more than one query row."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    from agents.sampling import sample_prompts
    from agents.training.grpo_update import completion_forward, row_chunks

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(Qwen2Config(
        vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, attn_implementation="sdpa")).eval()
    prompts = [torch.randint(0, 256, (n,)) for n in (37, 90)]
    kw = dict(max_new_tokens=6, stop_ids=[-1], pad_id=0, temperature=0.0)
    alone = [sample_prompts(model, [p], 1, **kw).tokens for p in prompts]
    sdpa_masks.clear()
    together = sample_prompts(model, prompts, 3, max_rows=4, **kw)  # chunk 2 mixes both prompts
    assert torch.equal(together.tokens[:3], alone[0].expand(3, -1))
    assert torch.equal(together.tokens[3:], alone[1].expand(3, -1))
    assert any(m is not None and m[-2] == 1 for m in sdpa_masks)  # the mixed chunk's padding mask: one query row
    assert all(m is None or m[-2] == 1 for m in sdpa_masks), sorted(set(sdpa_masks), key=str)
    sdpa_masks.clear()
    model.train()
    for chunk in row_chunks(prompts, together.mask, 3, 2):
        logp, _, _ = completion_forward(model, chunk, together.tokens, 1.0)
        logp.sum().backward()
    assert sdpa_masks and all(m is None for m in sdpa_masks)  # the loss forward: SDPA's causal kernel, no mask


def test_vllm_backend_refuses_lora_but_takes_lora_false(tmp_path):
    """lora=False means no LoRA (as everywhere else); only a real adapter is refused."""
    from types import SimpleNamespace

    from shop_env.errors import MissingExtraError

    cfg = dict(model="m", out=str(tmp_path), generation_backend="vllm")
    agent = SimpleNamespace(stop_ids=[2], pad_id=0)
    with pytest.raises(ValueError, match="needs full fine-tuning"):
        grpo._vllm_generator(GRPOConfig(lora=True, **cfg), agent=agent, ckpt=None)
    with pytest.raises(MissingExtraError):  # past the check: vLLM itself is not installed here
        grpo._vllm_generator(GRPOConfig(lora=False, **cfg), agent=agent, ckpt=None)
