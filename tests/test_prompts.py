"""Prompt builder: context modes, persona, budget truncation (oldest pages first)."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shop_env.actions import Action
from shop_env.data.model import Session, Step
from shop_env.prompts import CHARS_PER_TOKEN, SYSTEM_PROMPT, PromptBuilder, build_prompt, count_tokens
from tests._env_sessions import SEARCH, make_session, page, train_tokenizer

OMITTED = "(page omitted to fit the context budget)\n"


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer()


def test_whole_session_shows_pages_and_history_in_order_and_never_the_target():
    s = make_session("a", 5, persona="Budget shopper.")
    for k in range(5):
        p = build_prompt(s, k)
        assert p.messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
        assert p.messages[1]["role"] == "user" and len(p.messages) == 2
        assert p.text == SYSTEM_PROMPT + "\n\n" + p.messages[1]["content"]
        user = p.messages[1]["content"]
        positions = [user.index(s.steps[i].page_html) for i in range(k + 1)]
        assert positions == sorted(positions)
        for i in range(k):
            assert f"[Action {i + 1}] {s.steps[i].action.describe()}\n" in user
        assert f"[Action {k + 1}]" not in user  # the action to predict is not shown
        assert s.steps[k].rationale not in user  # nor its rationale
        assert user.index(f"[Page {k + 1}, current]") > (positions[-2] if k else -1)
        assert p.dropped_pages == [] and p.target_kept and p.fits


def test_latest_step_shows_only_current_page_and_full_history():
    s = make_session("b", 4)
    p = build_prompt(s, 3, context="latest_step")
    user = p.messages[1]["content"]
    assert s.steps[3].page_html in user
    for i in range(3):
        assert s.steps[i].page_html not in user
        assert f"[Action {i + 1}] {s.steps[i].action.describe()}" in user
    assert p.dropped_pages == []  # pages the mode never shows are not "dropped"
    assert "(none yet)" in build_prompt(s, 0, context="latest_step").text


def test_persona_on_off_and_absent():
    s = make_session("c", 2, persona={"age": 31, "likes": "deals"})
    assert "Shopper persona:\nage: 31\nlikes: deals\n" in build_prompt(s, 1).text  # key: value lines
    assert "persona" not in build_prompt(s, 1, include_persona=False).messages[1]["content"]
    s.persona = None
    assert "persona" not in build_prompt(s, 1).messages[1]["content"]


def test_bad_arguments():
    s = make_session("d", 2)
    with pytest.raises(ValueError, match="context"):
        build_prompt(s, 0, context="everything")
    with pytest.raises(ValueError, match="max_chars"):
        build_prompt(s, 0, max_chars=0)
    with pytest.raises(IndexError, match="step_index 2"):
        build_prompt(s, 2)


def _reference_dropped(s: Session, k: int, budget: int) -> int | None:
    """Independent reference: how many oldest pages must go (None: even all is not enough).

    Dropping page i replaces its HTML plus newline by the placeholder line; nothing else moves.
    """
    size = len(build_prompt(s, k).text)
    for m in range(k + 1):
        if size <= budget:
            return m
        if m < k:
            size -= len(s.steps[m].page_html) + 1 - len(OMITTED)
    return None


@settings(deadline=None, max_examples=60)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 7), frac=st.floats(0.0, 1.2))
def test_char_budget_drops_oldest_pages_first_exactly_as_needed(seed, n, frac):
    s = make_session(f"h{seed}", n, rng=random.Random(seed), filler=8)
    k = n - 1
    full = len(build_prompt(s, k).text)
    budget = max(1, int(full * frac))
    p = build_prompt(s, k, max_chars=budget)
    assert p == build_prompt(s, k, max_chars=budget)  # deterministic
    ref = _reference_dropped(s, k, budget)
    if ref is not None:  # whole history and the uncut current page fit
        assert p.dropped_pages == list(range(ref))
        assert p.n_chars == len(p.text) <= budget and p.fits
        assert not p.current_page_cut and p.dropped_actions == 0 and p.target_kept
        for i in range(k):
            assert f"[Action {i + 1}] {s.steps[i].action.describe()}" in p.text
        assert s.steps[k].page_html in p.text
    else:  # the current page or more had to give way
        assert p.dropped_pages == list(range(k)) and p.current_page_cut
        assert p.fits == (len(p.text) <= budget)


def test_current_page_cut_is_a_prefix_and_target_kept_is_reported():
    target = "buybox.purchase_form.buy_now"
    html = page(0, ["a.b"], filler=50) + f'<a name="{target}">Buy now</a>'
    s = Session("cut", [Step(html, Action("click", target))])
    full = len(build_prompt(s, 0).text)
    p = build_prompt(s, 0, max_chars=full - 40)  # only the tail (with the target) has to go
    assert p.current_page_cut and p.fits and len(p.text) <= full - 40
    kept = p.messages[1]["content"].split("[Page 1, current]\n", 1)[1].split("\n(... rest of the page cut", 1)[0]
    assert html.startswith(kept) and kept.endswith(">")
    assert not p.target_kept and f'name="{target}"' not in p.text
    s2 = Session("cut2", [Step(f'<a name="{target}">Buy now</a>' + page(0, ["a.b"], filler=50), Action("click", target))])
    p2 = build_prompt(s2, 0, max_chars=len(build_prompt(s2, 0).text) - 40)
    assert p2.current_page_cut and p2.target_kept
    assert build_prompt(Session("t", [Step(html, Action("terminate"))]), 0, max_chars=full - 40).target_kept


def test_budget_too_small_folds_old_steps_and_says_it_does_not_fit():
    s = make_session("tiny", 4)
    p = build_prompt(s, 3, max_chars=len(SYSTEM_PROMPT) + 250)
    assert p.current_page_cut and p.dropped_actions >= 1
    assert "[Steps 1-" in p.text
    q = build_prompt(s, 3, max_chars=10)
    assert not q.fits and q.n_chars > 10 and q.dropped_actions == 3


def test_larger_budgets_never_drop_more():
    s = make_session("mono", 7, filler=8)
    full = len(build_prompt(s, 6).text)
    drops = [len(build_prompt(s, 6, max_chars=b).dropped_pages) for b in range(full // 3, full + 1, 97)]
    assert drops == sorted(drops, reverse=True)


def test_token_budget_is_exact_with_a_tokenizer(tok):
    s = make_session("tk", 6, filler=8)
    full = count_tokens(tok, build_prompt(s, 5).text)
    last = None
    for budget in (full, full - 1, int(full * 0.8), int(full * 0.5)):
        p = build_prompt(s, 5, max_tokens=budget, tokenizer=tok)
        assert p.n_tokens == count_tokens(tok, p.text) <= budget
        assert p.dropped_pages == list(range(len(p.dropped_pages)))
        if last is not None:
            assert len(p.dropped_pages) >= last
        last = len(p.dropped_pages)
    assert build_prompt(s, 5, max_tokens=full, tokenizer=tok).dropped_pages == []
    assert build_prompt(s, 5, max_tokens=full - 1, tokenizer=tok).dropped_pages == [0]


def test_chars_and_tokens_limits_both_hold(tok):
    s = make_session("both", 6, filler=8)
    full = build_prompt(s, 5)
    p = build_prompt(s, 5, max_tokens=count_tokens(tok, full.text), max_chars=len(full.text) - 100, tokenizer=tok)
    assert len(p.text) <= len(full.text) - 100 and p.dropped_pages == [0]
    assert p.n_tokens == count_tokens(tok, p.text)


def test_max_tokens_without_tokenizer_is_a_char_estimate():
    s = make_session("est", 5, filler=8)
    a = build_prompt(s, 4, max_tokens=500)
    b = build_prompt(s, 4, max_chars=500 * CHARS_PER_TOKEN)
    assert a == b and a.n_tokens is None


class _CountingTokenizer:
    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def encode(self, text, add_special_tokens=False):
        self.calls.append(text)
        return self.inner.encode(text, add_special_tokens=add_special_tokens)


def test_tokenizer_use_is_bounded(tok):
    s = make_session("cache", 6, filler=8)
    # a tokenizer with only max_chars is never called
    counting = _CountingTokenizer(tok)
    b = PromptBuilder(max_chars=3000, tokenizer=counting)
    for k in range(6):
        b.build(s, k)
    assert counting.calls == []
    # with max_tokens each page block is counted at most once per session, whatever the step
    counting = _CountingTokenizer(tok)
    b = PromptBuilder(max_tokens=900, tokenizer=counting)
    for k in range(6):
        b.build(s, k)
    for i in range(6):
        block = f"[Page {i + 1}] {s.steps[i].url}\n{s.steps[i].page_html}\n"
        assert counting.calls.count(block) <= 1


def test_search_input_name_is_on_every_test_page():  # guards the fixtures the env tests rely on
    s = make_session("fx", 3)
    assert all(f'name="{SEARCH}"' in st_.page_html for st_ in s.steps)
