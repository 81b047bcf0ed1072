"""LLMAgent on a tiny local model: templates, sampling, logprobs, self-certainty from the same pass."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agents.llm import LLMAgent, encode_chat, render_chat
from agents.sampling import SampleBatch, sample_prompts, sample_tokens, top_p_filter
from agents.self_certainty import rationale_char_span, self_certainty, token_self_certainty
from agents.training.tiny import build_tiny_model
from tests.tiny_data import cached_easy_model


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def model_dir():
    return cached_easy_model()[0]


@pytest.fixture()
def agent(model_dir):
    return LLMAgent.from_pretrained(str(model_dir), device="cpu", max_new_tokens=12, seed=3)


MSGS = [{"role": "system", "content": "You are a shopper."}, {"role": "user", "content": "<html>page</html>"}]


def full_logits(agent, rollout):
    """Raw next-token logits ``[N, T, V]`` of each row from one plain forward of prompt + tokens."""
    out = []
    for i, row in enumerate(rollout.batch.tokens):
        prompt = rollout.prompts[i // rollout.num_samples]
        with torch.no_grad():
            logits = agent.model(input_ids=torch.cat([prompt, row])[None]).logits.float()
        out.append(logits[0, prompt.shape[0] - 1:-1])
    return torch.stack(out)


def test_defaults_and_templates(agent):
    assert agent.temperature == 0.6 and agent.device.type == "cpu"
    chat = render_chat(agent.tokenizer, MSGS)
    assert chat.startswith("<|im_start|>system\n") and chat.endswith("<|im_start|>assistant\n")
    agent.tokenizer.chat_template = None
    plain = render_chat(agent.tokenizer, MSGS)
    assert plain == "### System:\nYou are a shopper.\n\n### User:\n<html>page</html>\n\n### Assistant:\n"
    ids, _ = agent.encode_prompts([MSGS])
    assert agent.tokenizer.decode(ids[0]) == plain  # the plain template is what the model sees
    with pytest.raises(ValueError):
        render_chat(agent.tokenizer, [{"role": "tool", "content": "x"}])


def test_logprobs_and_self_certainty_equal_a_separate_full_forward(agent):
    """The values recorded during sampling are what a second full pass would compute."""
    prompts = [MSGS, "a much longer user message so that left padding is exercised here"]
    gen = torch.Generator().manual_seed(0)
    agent.max_rows = 4  # chunks that split a group and mix two prompts (left-padded caches)
    rollout = agent.sample(prompts, 3, generator=gen)
    batch, gens = rollout.batch, rollout.generations
    assert len(rollout.prompts) == 2 and [g.prompt_index for g in gens] == [0, 0, 0, 1, 1, 1]
    assert rollout.prompts[0].shape != rollout.prompts[1].shape
    z = full_logits(agent, rollout)
    m = batch.mask.bool()
    want_lp = torch.log_softmax(z / agent.temperature, -1).gather(-1, batch.tokens[..., None]).squeeze(-1)
    torch.testing.assert_close(batch.logprobs[m], want_lp[m], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(batch.token_self_certainty[m], token_self_certainty(z)[m], atol=1e-4, rtol=1e-4)
    for i, g in enumerate(gens):  # per-sample value = self_certainty() over the rationale mask
        n = len(g.token_ids)
        want = self_certainty(z[i, :n], torch.tensor(g.rationale_mask))
        assert g.self_certainty == pytest.approx(float(want), abs=1e-4)
        assert g.logprobs == pytest.approx(want_lp[i, :n].tolist(), abs=1e-4)


def test_generation_fields_for_a_json_output(agent):
    """Rationale tokens are found through offsets; self-certainty averages exactly those."""
    text = json.dumps({"rationale": "I want the \"blue\" shoe é.", "action": {"type": "terminate"}}, ensure_ascii=False)
    ids = agent.tokenizer(text, add_special_tokens=False)["input_ids"] + [agent.tokenizer.eos_token_id]
    n = len(ids)
    sc = torch.arange(1, n + 1, dtype=torch.float32)[None]
    batch = SampleBatch(tokens=torch.tensor([ids]), mask=torch.ones(1, n, dtype=torch.long),
                        logprobs=-sc / 10, token_self_certainty=sc, finished=torch.tensor([True]))
    g = agent._to_generation(batch, 0, 0)
    assert g.text == text and g.finish_reason == "stop" and g.token_ids == ids
    s, e = rationale_char_span(text)
    picked = agent.tokenizer.decode([t for t, k in zip(ids, g.rationale_mask) if k])
    assert text[s:e] in picked and len(picked) <= len(text[s:e]) + 4  # covering tokens only
    assert not g.rationale_mask[-1] and not g.rationale_mask[0]
    assert g.self_certainty == pytest.approx(float(sc[0][torch.tensor(g.rationale_mask)].mean()))


@pytest.mark.parametrize("rationale", ["I like it", "I want a café", "买 a 咖啡 ok"])
def test_offsets_fallback_matches_fast_path(agent, monkeypatch, rationale):
    """Prefix decoding (used when a sampled tokenisation is not the canonical one) gives the
    fast path's offsets, also for the byte tokens of multi-byte characters."""
    text = '{"rationale": "%s", "action": {"type": "click", "name": "a.b"}}' % rationale
    ids = agent.tokenizer(text, add_special_tokens=False)["input_ids"] + [agent.tokenizer.eos_token_id]
    fast = agent.decode_with_offsets(ids)
    # Pretend re-encoding does not reproduce the ids: offsets then come from prefix decoding.
    monkeypatch.setattr(type(agent.tokenizer), "__call__", lambda self, *a, **k: {"input_ids": [-1]})
    assert agent.decode_with_offsets(ids) == fast
    assert fast[1][-1] == (len(text), len(text))  # the eos token: empty range at the end
    assert all(e > s for s, e in fast[1][:-1])  # every content token covers some text


def test_seeded_and_stops_at_eos(model_dir):
    a = LLMAgent.from_pretrained(str(model_dir), device="cpu", max_new_tokens=10, seed=7, temperature=1.0)
    b = LLMAgent.from_pretrained(str(model_dir), device="cpu", max_new_tokens=10, seed=7, temperature=1.0)
    c = LLMAgent.from_pretrained(str(model_dir), device="cpu", max_new_tokens=10, seed=8, temperature=1.0)
    ta = [g.token_ids for g in a.generate([MSGS], 4)[0]]
    assert ta == [g.token_ids for g in b.generate([MSGS], 4)[0]]
    assert ta != [g.token_ids for g in c.generate([MSGS], 4)[0]]
    # Force an immediate stop: make the eos token the argmax of every step.
    eos = a.tokenizer.eos_token_id

    def boost(module, inputs, output):
        output.logits[..., eos] = 1e4

    a.model.register_forward_hook(boost)
    g = a.generate([MSGS], 1, temperature=0.0)[0][0]
    assert g.token_ids == [eos] and g.finish_reason == "stop" and g.text == "" and g.self_certainty == 0.0


def test_greedy_matches_hf_generate(agent):
    ids, mask = agent.encode_prompts([MSGS, "short"])
    batch = sample_tokens(agent.model, ids, mask, max_new_tokens=8, stop_ids=agent.stop_ids,
                          pad_id=agent.pad_id, temperature=0.0)
    ref = agent.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=False,
                               pad_token_id=agent.pad_id, eos_token_id=agent.stop_ids)
    new = ref[:, ids.shape[1]:]
    assert torch.equal(new, batch.tokens[:, :new.shape[1]])


def test_prefill_once_per_prompt_and_no_square_masks(agent, sdpa_masks):
    """Each prompt's P tokens go through the model once however many samples it gets, and no
    attention call sees a mask with more than one query row (no dense [N, 1, P, P] padding mask)."""
    long_prompt = [{"role": "user", "content": "word " * 200}]
    rows = [r[m.bool()] for r, m in zip(*agent.encode_prompts([long_prompt, "short"]))]
    seen = []
    hook = agent.model.register_forward_pre_hook(lambda mod, args, kw: seen.append(tuple(kw["input_ids"].shape)),
                                                 with_kwargs=True)
    try:
        batch = sample_prompts(agent.model, rows, 8, max_new_tokens=6, stop_ids=[-1], pad_id=agent.pad_id,
                               max_rows=5, generator=torch.Generator().manual_seed(0))
    finally:
        hook.remove()
    assert batch.tokens.shape == (16, 6)
    prefills = [s for s in seen if s[1] > 1]
    assert prefills == [(1, rows[0].shape[0]), (1, rows[1].shape[0])]  # once each, batch 1
    assert all(s[1] == 1 and s[0] <= 5 for s in seen if s[1] == 1)  # decoding in chunks of <= 5 rows
    assert sdpa_masks and all(m is None or m[-2] == 1 for m in sdpa_masks)


def test_top_p_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_filter(logits, 0.7))
    assert kept.tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.01)).sum() == 1
    assert torch.equal(top_p_filter(logits, 1.0), logits)
    # Sampling with top_p never draws outside the nucleus.
    probs = torch.softmax(top_p_filter(logits.repeat(2000, 1), 0.7), -1)
    draws = torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(0))
    assert set(np.unique(draws.numpy())) <= {0, 1}


def test_act_uses_info_messages(agent):
    agent.temperature = 0.0
    out = agent.act(["ignored observation"], [{"messages": MSGS}])
    direct = agent.generate([MSGS], 1)[0][0].text
    assert out == [direct] and agent.last_generations[0].text == direct
    assert agent.act(["plain text prompt"], None)[0] == agent.generate(["plain text prompt"], 1)[0][0].text


def test_build_is_deterministic_and_reloads(tmp_path):
    texts = ["<html><a name='x.y'>hi</a></html>", '{"rationale": "I go.", "action": {"type": "terminate"}}'] * 5
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = build_tiny_model(tmp_path / "a", texts=texts, vocab_size=400, seed=1)
    assert torch.equal(torch.rand(3), expected_next)  # the caller's global RNG is untouched
    b = build_tiny_model(tmp_path / "b", texts=texts, vocab_size=400, seed=1)
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    ma, mb = LLMAgent.from_pretrained(str(a), device="cpu").model, LLMAgent.from_pretrained(str(b), device="cpu").model
    assert all(torch.equal(x, y) for x, y in zip(ma.state_dict().values(), mb.state_dict().values()))
    assert sum(p.numel() for p in ma.parameters()) < 200_000
    q = build_tiny_model(tmp_path / "q", texts=texts, vocab_size=400, arch="qwen2")
    assert LLMAgent.from_pretrained(str(q), device="cpu").model.config.model_type == "qwen2"


def test_encode_chat_marks_only_assistant_turns(agent):
    msgs = [*MSGS, {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"},
            {"role": "assistant", "content": "A2"}]
    ids, is_a = encode_chat(agent.tokenizer, msgs)
    assert agent.tokenizer.decode(ids) == render_chat(agent.tokenizer, msgs, add_generation_prompt=False)
    picked = agent.tokenizer.decode([t for t, a in zip(ids, is_a) if a])
    assert picked == "A1<|im_end|>A2<|im_end|>"
