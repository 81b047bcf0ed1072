"""SFT: one example per step on the env's prompt, target-only labels, no target without its page,
loss falls on a fixed batch, accumulation, checkpoints and resume."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from agents.llm import LLMAgent
from agents.training.sft import (SFTConfig, build_sft_examples, collate, sft_index, sft_loss, tokenize_example,
                                 train_sft)
from tests.tiny_data import cached_easy_model
from shop_env.actions import format_model_output
from shop_env.data.store import open_store
from shop_env.prompts import build_prompt


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def easy():
    model_dir, store_dir = cached_easy_model()
    return model_dir, store_dir, open_store(store_dir)


@pytest.fixture()
def tok(easy):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(easy[0])


@pytest.mark.parametrize("template", ["chat", "plain"])
def test_labels_cover_exactly_the_target(easy, tok, template):
    if template == "plain":
        tok.chat_template = None
    session = easy[2][0]
    examples = build_sft_examples(session)
    assert [e.step_index for e in examples] == list(range(len(session.steps)))
    for e in examples:
        step = session.steps[e.step_index]
        assert e.target == format_model_output(step.rationale or "", step.action)
        assert e.messages == build_prompt(session, e.step_index).messages
        ids, labels = tokenize_example(tok, e, max_length=10_000)
        assert len(ids) == len(labels)
        assert tok.decode([t for t in labels if t != -100]) == e.target + tok.eos_token
        context = tok.decode([t for t, lab in zip(ids, labels) if lab == -100])
        assert all(m["content"] in context for m in e.messages)
        # Too long for max_length: skipped, never cut.
        assert tokenize_example(tok, e, max_length=len(ids) - 1) is None
        assert tokenize_example(tok, e, max_length=len(ids)) == (ids, labels)


def test_no_example_whose_target_was_cut_from_its_page():
    from shop_env.actions import Action
    from shop_env.data.model import Session, Step
    from tests._env_sessions import page

    target = "buybox.purchase_form.buy_now"
    late = page(1, ["a.b"], filler=50) + f'<a name="{target}">Buy now</a>'  # target at the end: cut first
    early = f'<a name="{target}">Buy now</a>' + page(1, ["a.b"], filler=50)
    for html, trained in ((late, False), (early, True)):
        s = Session("cut", [Step(page(0, ["x.y"]), Action("click", "x.y")), Step(html, Action("click", target))])
        budget = len(build_prompt(s, 1, context="latest_step").text) - 40
        p = build_prompt(s, 1, context="latest_step", max_chars=budget)
        assert p.current_page_cut and p.target_kept == trained
        examples = build_sft_examples(s, context="latest_step", max_chars=budget)
        assert [e.step_index for e in examples] == ([0, 1] if trained else [0])
        for e in examples:  # every trained target's element is in its prompt
            assert f'name="{s.steps[e.step_index].action.name}"' in e.messages[1]["content"]


@pytest.mark.parametrize("template", ["chat", "plain"])
def test_mask_name_trains_a_cut_target_without_its_name(tok, template):
    from shop_env.actions import Action
    from shop_env.data.model import Session, Step
    from tests._env_sessions import page

    if template == "plain":
        tok.chat_template = None
    target = "search_results.quiet_fan.product_title"
    late = page(1, ["a.b"], filler=50) + f'<a name="{target}">Quiet fan</a>'  # cut by the budget
    s = Session("cut", [Step(page(0, ["x.y"]), Action("click", "x.y"), rationale="Open it."),
                        Step(late, Action("click", target), rationale="The quiet fan looks right.")])
    budget = len(build_prompt(s, 1, context="latest_step").text) - 40
    skipped = build_sft_examples(s, context="latest_step", max_chars=budget)
    masked = build_sft_examples(s, context="latest_step", max_chars=budget, cut_targets="mask_name")
    assert [e.step_index for e in skipped] == [0] and [e.step_index for e in masked] == [0, 1]
    assert masked[0] == skipped[0]  # a visible target is trained whole either way
    cut = masked[1]
    assert cut.messages == build_prompt(s, 1, context="latest_step", max_chars=budget).messages
    (start, end), = cut.untrained
    assert cut.target[start:end] == target
    ids, labels = tokenize_example(tok, cut, max_length=10_000)
    trained = tok.decode([t for t in labels if t != -100])
    assert "quiet_fan" not in trained and "product_title" not in trained
    assert '"rationale": "The quiet fan looks right."' in trained and '"type": "click"' in trained
    # Only the name's tokens lose their loss: the rest equals the full target's labels.
    full_ids, full_labels = tokenize_example(tok, replace(cut, untrained=()), max_length=10_000)
    assert full_ids == ids
    lost = [i for i, (a, b) in enumerate(zip(full_labels, labels)) if a != b]
    assert lost and tok.decode([ids[i] for i in lost]).strip('"') == target
    with pytest.raises(ValueError, match="cut_targets must be one of"):
        build_sft_examples(s, context="latest_step", max_chars=budget, cut_targets="guess")


def test_sft_index_covers_every_step(easy):
    store = easy[2]
    cfg = SFTConfig(model="m", limit_sessions=3)
    assert sft_index(store, cfg) == [(s, k) for s in range(3) for k in range(store.n_steps(s))]


def test_sft_index_keeps_only_the_asked_action_types(easy):
    store = easy[2]
    everything = sft_index(store, SFTConfig(model="m"))
    searches = sft_index(store, SFTConfig(model="m", action_types=("type_and_submit",)))
    assert searches == [(s, k) for s, k in everything if store[s].steps[k].action.type == "type_and_submit"]
    assert 0 < len(searches) < len(everything)
    assert sft_index(store, SFTConfig(model="m", action_types="type_and_submit")) == searches  # as --set gives it
    with pytest.raises(ValueError, match="unknown action type.*'search'"):
        sft_index(store, SFTConfig(model="m", action_types=("search",)))


def test_collate_pads_right_and_masks_labels():
    b = collate([([5, 6, 7], [-100, 6, 7]), ([8], [8])], pad_id=0)
    assert b["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert b["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]


def _rows(easy, tok, n=2):
    return [tokenize_example(tok, e, 10_000) for i in range(n) for e in build_sft_examples(easy[2][i])]


def test_loss_falls_on_a_fixed_batch(easy, tok):
    model = LLMAgent.from_pretrained(str(easy[0]), device="cpu").model.train()
    rows = _rows(easy, tok)
    batch = collate(rows, tok.pad_token_id)
    n_tok = int((batch["labels"][:, 1:] != -100).sum())
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(30):
        loss = sft_loss(model, batch, n_tok)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    assert losses[0] > 4.0  # random init: about log(V)
    assert losses[-1] < 0.3 * losses[0]
    assert min(losses[-5:]) < min(losses[:5])


def test_accumulated_gradients_equal_one_big_batch(easy, tok):
    model = LLMAgent.from_pretrained(str(easy[0]), device="cpu").model.train()
    rows = _rows(easy, tok, 3)
    n_tok = sum(sum(1 for t in lab[1:] if t != -100) for _, lab in rows)
    sft_loss(model, collate(rows, tok.pad_token_id), n_tok).backward()
    big = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    for r in rows:
        sft_loss(model, collate([r], tok.pad_token_id), n_tok).backward()
    for g, p in zip(big, model.parameters()):
        torch.testing.assert_close(p.grad, g, atol=1e-5, rtol=1e-4)


def test_train_sft_checkpoints_and_resumes(easy, tmp_path):
    cfg = dict(model=str(easy[0]), data=str(easy[1]), split="all", out=str(tmp_path / "sft"), lr=1e-3,
               batch_size=2, grad_accum=2, save_every=2, progress=False, lr_schedule="linear", warmup_ratio=0.25)
    final = train_sft(SFTConfig(max_steps=3, **cfg))
    out = tmp_path / "sft"
    assert (out / "latest").read_text() == "checkpoint-000003"
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-000002", "checkpoint-000003"]
    assert list((out / "tb").glob("events.out.tfevents.*"))
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    agent = LLMAgent.from_pretrained(str(final), device="cpu", max_new_tokens=4)
    assert len(agent.act(["hi"])) == 1
    # A rerun with more steps resumes at step 4 instead of starting over.
    train_sft(SFTConfig(max_steps=4, **cfg))
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [d["step"] for d in lines] == [1, 2, 3, 4]
    state = json.loads((out / "checkpoint-000004" / "trainer_state.json").read_text())
    assert state["step"] == 4 and state["kind"] == "sft"


def test_logged_learning_rate_is_the_one_each_update_used(easy, tmp_path, optimizer_lrs):
    used = optimizer_lrs
    out = tmp_path / "lr"
    train_sft(SFTConfig(model=str(easy[0]), data=str(easy[1]), split="all", out=str(out), lr=1e-3, max_steps=4,
                        batch_size=1, grad_accum=1, lr_schedule="linear", warmup_ratio=0.5, save_every=0,
                        progress=False, tensorboard=False, context="latest_step"))
    logged = [json.loads(line)["train/lr"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(used) == 4 and len(set(used)) > 1  # warm-up then decay: the rates differ
    assert logged == pytest.approx(used)


def test_a_finished_run_without_periodic_checkpoints_can_be_extended(easy, tmp_path):
    """save_every=0 still checkpoints at the end, so more --max-steps continue the run."""
    cfg = dict(model=str(easy[0]), data=str(easy[1]), split="all", out=str(tmp_path / "x"), lr=1e-3,
               batch_size=1, grad_accum=1, save_every=0, progress=False, tensorboard=False, context="latest_step")
    train_sft(SFTConfig(max_steps=2, **cfg))
    first = (tmp_path / "x" / "metrics.jsonl").read_text().splitlines()
    train_sft(SFTConfig(max_steps=3, **cfg))
    lines = (tmp_path / "x" / "metrics.jsonl").read_text().splitlines()
    assert lines[:2] == first and [json.loads(x)["step"] for x in lines] == [1, 2, 3]


def test_no_resume_replaces_an_earlier_runs_checkpoints(easy, tmp_path):
    cfg = dict(model=str(easy[0]), data=str(easy[1]), split="all", out=str(tmp_path / "y"), lr=1e-3,
               batch_size=1, grad_accum=1, save_every=1, save_total_limit=2, progress=False, tensorboard=False,
               context="latest_step")
    train_sft(SFTConfig(max_steps=4, **cfg))
    train_sft(SFTConfig(max_steps=2, resume=False, **cfg))
    out = tmp_path / "y"
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-000001", "checkpoint-000002"]
    assert (out / "latest").read_text() == "checkpoint-000002"
    fresh = (out / "metrics.jsonl").read_text().splitlines()
    train_sft(SFTConfig(max_steps=3, **cfg))  # resumes the no-resume run at step 3
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert lines[:2] == fresh and [json.loads(x)["step"] for x in lines] == [1, 2, 3]


def test_epochs_set_the_number_of_steps(easy, tmp_path):
    out = tmp_path / "e"
    train_sft(SFTConfig(model=str(easy[0]), data=str(easy[1]), split="all", out=str(out), epochs=0.25,
                        batch_size=4, grad_accum=1, limit_sessions=32, progress=False, tensorboard=False,
                        context="latest_step", max_length=256))
    # latest_step: one example per step -> 64 examples; a quarter epoch at 4 per step = 4 steps.
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 4


def test_loss_on_target_logits_equals_full_logit_reference(easy, tok):
    """sft_loss projects only the target positions; the value and gradients must equal the
    cross-entropy over the full logits (labels -100 elsewhere)."""
    model = LLMAgent.from_pretrained(str(easy[0]), device="cpu").model.train()
    rows = _rows(easy, tok, 3)
    batch = collate(rows, tok.pad_token_id)
    n_tok = int((batch["labels"][:, 1:] != -100).sum())
    loss = sft_loss(model, batch, n_tok)
    loss.backward()
    ours = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    ref = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), batch["labels"][:, 1:].flatten(),
                                            ignore_index=-100, reduction="sum") / n_tok
    ref.backward()
    torch.testing.assert_close(loss, ref, atol=1e-5, rtol=1e-5)
    for g, p in zip(ours, model.parameters()):
        torch.testing.assert_close(g, p.grad, atol=1e-6, rtol=1e-4)


def test_full_fine_tuning_in_bfloat16_warns_that_small_updates_are_lost(easy):
    import warnings

    from agents.training.utils import Runtime, load_for_training
    with pytest.warns(UserWarning, match="no float32 copy"):
        model, _ = load_for_training(easy[0], Runtime("cpu"), dtype="bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_for_training(easy[0], Runtime("cpu"))  # float32 weights: nothing to say
