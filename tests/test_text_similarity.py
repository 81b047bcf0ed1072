"""ROUGE-L: equal to rouge-score (no stemmer) on random pairs, LCS equal to a plain DP."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer, tokenize as rs_tokenize

from shop_env.reward import rouge_l as reward_rouge_l
from shop_env.text_similarity import lcs_length, rouge_l, similarity_above, tokenize

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

# Pieces that exercise the tokenizer: case, digits, separators, non-ASCII letters that are
# separators ("é", CJK), ones that lowercase into ASCII ("İ" -> "i̇", Kelvin sign -> "k"),
# and a lone surrogate.
PIECES = ["a", "b", "c", "add", "to", "cart", "Cart", "BUY", "now", "x1", "42", "2b", "é",
          "İ", "\u212a", "ß", "手机", "_", ".", "-", " ", "\n", "\t", "'", "\ud800", "ﬁ"]


def reference_fmeasure(prediction: str, reference: str) -> float:
    return SCORER.score(reference, prediction)["rougeL"].fmeasure


def plain_lcs(a, b) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def random_text(rng: random.Random, max_pieces: int) -> str:
    return "".join(rng.choice(PIECES) + rng.choice(["", " ", "_", "."])
                   for _ in range(rng.randint(0, max_pieces)))


def test_equals_rouge_score_on_10k_random_pairs():
    rng = random.Random(1234)
    pairs = [(random_text(rng, 25), random_text(rng, 25)) for _ in range(10_000)]
    # a few long ones, where the bit vectors span several machine words
    pairs += [(random_text(rng, 300), random_text(rng, 300)) for _ in range(50)]
    worst = max(abs(rouge_l(p, r) - reference_fmeasure(p, r)) for p, r in pairs)
    assert worst <= 1e-9
    # and the pairs are not trivial: many partial overlaps
    partial = sum(0.0 < reference_fmeasure(p, r) < 1.0 for p, r in pairs[:2000])
    assert partial > 500


@settings(deadline=None, max_examples=300)
@given(st.text(alphabet=st.characters(blacklist_categories=())), st.text())
def test_equals_rouge_score_on_arbitrary_unicode(prediction, reference):
    assert tokenize(prediction) == tuple(rs_tokenize.tokenize(prediction, None))
    assert abs(rouge_l(prediction, reference) - reference_fmeasure(prediction, reference)) <= 1e-9


@settings(deadline=None, max_examples=300)
@given(st.text(alphabet=st.characters(max_codepoint=127)), st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_equals_rouge_score(prediction, reference):
    assert tokenize(prediction) == tuple(rs_tokenize.tokenize(prediction, None))
    assert abs(rouge_l(prediction, reference) - reference_fmeasure(prediction, reference)) <= 1e-9


@settings(deadline=None, max_examples=300)
@given(st.lists(st.sampled_from("abcde"), max_size=150), st.lists(st.sampled_from("abcde"), max_size=150))
def test_bit_parallel_lcs_equals_plain_dp(a, b):
    assert lcs_length(a, b) == plain_lcs(a, b) == lcs_length(b, a)


def test_spec_example_and_tokenizer_details():
    assert tokenize("Add_to_Cart.BUY-now 2x") == ("add", "to", "cart", "buy", "now", "2x")
    assert tokenize("İstanbul") == ("i", "stanbul")  # "İ".lower() is "i" + combining dot
    assert tokenize("\u212aelvin café 手机") == ("kelvin", "caf")
    # SPEC: add_to_cart vs add_to_cart.buy_now is 0.75 (3 of 3 and 3 of 5 tokens), and the
    # float is what rouge-score returns too
    assert rouge_l("add_to_cart", "add_to_cart.buy_now") == pytest.approx(0.75, abs=1e-12)
    assert rouge_l("add_to_cart", "add_to_cart.buy_now") == reference_fmeasure("add_to_cart", "add_to_cart.buy_now")
    assert rouge_l("", "x") == rouge_l("x", "") == rouge_l("手机", "手机") == 0.0
    assert rouge_l("Phone Case", "phone-case") == 1.0
    assert reward_rouge_l is rouge_l


@pytest.mark.parametrize("prediction, reference, threshold, expected", [
    ("a b c d", "a b c e", 0.75, 0.0),            # F = 0.75 exactly: not above
    ("add_to_cart", "add_to_cart.buy_now", 0.75, 0.0),  # F = 0.75 mathematically (float 0.7499..)
    ("a b c d", "a b c d e", 0.75, 8 / 9),       # F = 8/9 > 0.75
    ("a b c d", "a b c e", 0.7499, 0.75),
    ("a b", "c d", 0.0, 0.0),                     # F = 0 never exceeds 0
    ("手机壳", " 手机壳 ", 0.75, 1.0),              # identical text without tokens
    ("手机壳", "手机", 0.75, 0.0),
    ("  ", "  ", 0.75, 0.0),                       # empty text is never similar
    ("x", "x", 1.0, 0.0),                          # nothing exceeds 1.0
    ("a b c d e f g", "a b c d e f g h i j k l m", 0.7, 0.0),  # F = 0.7 exactly, float 0.7 < 7/10
    ("a b c d e f g", "a b c d e f g h i j k l", 0.7, 14 / 19),
])
def test_similarity_above_is_strict_and_exact(prediction, reference, threshold, expected):
    assert similarity_above(prediction, reference, threshold) == pytest.approx(expected, abs=1e-12)


def test_gate_matches_exact_rational_comparison():
    """similarity_above passes iff 2*lcs/(n+m) > threshold as exact rationals (the threshold read as the decimal it prints as)."""
    from fractions import Fraction
    thresholds = sorted({2 * k / s for s in range(2, 24) for k in range(s // 2 + 1)} | {0.75, 0.7499, 0.7501})
    checked = 0
    for lcs in range(0, 10):
        for n in range(max(lcs, 1), 12):
            for m in range(max(lcs, 1), 12):
                pred = " ".join(["a"] * lcs + ["p"] * (n - lcs))
                ref = " ".join(["a"] * lcs + ["r"] * (m - lcs))
                for t in thresholds:
                    if t > 1:
                        continue
                    expected = Fraction(2 * lcs, n + m) > Fraction(repr(t))
                    assert (similarity_above(pred, ref, t) > 0.0) == expected, (lcs, n, m, t)
                    checked += 1
    assert checked > 10_000


def test_caches_stay_bounded_and_results_do_not_depend_on_them(monkeypatch):
    import shop_env.text_similarity as ts
    ts.clear_caches()
    monkeypatch.setattr(ts, "_CACHE_ENTRIES", 8)
    rng = random.Random(3)
    pairs = [(random_text(rng, 10), random_text(rng, 10)) for _ in range(200)]
    first = [rouge_l(p, r) for p, r in pairs]
    assert len(ts._TOKENS) <= 8 and len(ts._MASKS) <= 8
    assert [rouge_l(p, r) for p, r in pairs] == first == [reference_fmeasure(p, r) for p, r in pairs]
    long_text = "word " * 1000
    rouge_l(long_text, long_text + " more")
    assert long_text not in ts._TOKENS  # long strings are never kept
