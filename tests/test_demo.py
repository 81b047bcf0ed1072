"""`shop-r1 demo`: runs on the embedded SYNTHETIC sample and ends with the comparison table."""
from __future__ import annotations

import json

from shop_env.cli import main

TABLE_HEADER = "| policy | Exact match | Type acc. | Type F1 | steps | data |"


def _check_common(out, text: str, policies: list[str]) -> None:
    assert "SYNTHETIC data, TINY model" in text
    assert "import-opera" in text and "llm:runs/shop_r1 " in text  # the real-data command
    table = text[text.index(TABLE_HEADER):].split("\n\n")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0][2:] for r in rows] == policies
    replay = next(r for r in rows if r.startswith("| replay |"))
    assert replay.count("100.00% [100.00, 100.00]") >= 2  # the oracle is exact
    assert all("(synthetic)" in r for r in rows)
    assert TABLE_HEADER in (out / "comparison.md").read_text()
    for name in ("random", "majority", "rule", "replay"):
        report = json.loads((out / "eval" / name / "report.json").read_text())
        assert report["config"]["synthetic"] is True
        assert (out / "eval" / name / "confusion.png").stat().st_size > 1000


def test_demo_baselines_only(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--skip-training", "--out", str(out)]) == 0
    _check_common(out, capsys.readouterr().out, ["random", "majority", "rule", "replay"])


def test_demo_quick_with_tiny_model_training(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    _check_common(out, text, ["random", "majority", "rule", "replay"])
    # The model rows: the same Table 2 as `shop-r1 reproduce`, at the quick size.
    rows = [ln.split(" | ")[0][2:] for ln in text[text.index("| setting |"):].splitlines()[2:7]]
    assert rows == ["zero_shot", "sft", "sft_rl_binary", "shop_r1", "rule"]
    table = json.loads((out / "reproduce" / "table2.json").read_text())
    assert table["_meta"]["seeds"] == 1
    assert (out / "reproduce" / "seed0" / "models" / "shop_r1" / "final" / "config.json").exists()


def test_compact_tokenizer_schema_is_one_token_per_piece_and_round_trips():
    """The demo's tokenizer: each action type's JSON scaffold is one token; decode inverts encode."""
    from agents.training.tiny import SCHEMA_TOKENS, train_tokenizer
    from shop_env.actions import Action, format_model_output

    outputs = [format_model_output("I want \"shoes\" — now.",
                                   Action("type_and_submit", "nav_bar.search_input", "red shoes")),
               format_model_output("Looks good.", Action("click", "search_results.item_a.product_title")),
               format_model_output("Done, ça suffit.", Action("terminate"))]
    tok = train_tokenizer(outputs * 20, vocab_size=400, compact=True)
    plain = train_tokenizer(outputs * 20, vocab_size=400)
    schema_ids = {tok.convert_tokens_to_ids(t) for t in SCHEMA_TOKENS}
    assert len(schema_ids) == len(SCHEMA_TOKENS) and None not in schema_ids
    for text, scaffold in zip(outputs, SCHEMA_TOKENS[1:4]):
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text
        assert tok.convert_tokens_to_ids(scaffold) in ids  # the action type is a single token
        assert ids[0] == tok.convert_tokens_to_ids(SCHEMA_TOKENS[0])
        assert len(ids) < len(plain.encode(text, add_special_tokens=False))
    name_ids = tok.encode("nav_bar.search_input", add_special_tokens=False)
    assert tok.decode(name_ids) == "nav_bar.search_input" and len(name_ids) == 1  # identifiers stay whole


def test_prompt_texts_follow_the_budget(tmp_path):
    """Tokenizer texts for the demo: user turns within the prompt budget, then the repeated targets."""
    from agents.training.tiny import iter_prompt_texts
    from tests.tiny_data import write_easy_store
    from shop_env.actions import format_model_output
    from shop_env.data.store import open_store
    from shop_env.prompts import SYSTEM_PROMPT

    store = write_easy_store(tmp_path / "easy", n_sessions=3)
    texts = list(iter_prompt_texts(store, context="latest_step", max_chars=2000, target_repeats=2))
    steps = [s for session in open_store(store) for s in session.steps]
    assert len(texts) == 3 * len(steps)
    for i, step in enumerate(steps):
        user, t1, t2 = texts[3 * i:3 * i + 3]
        assert len(SYSTEM_PROMPT) + 2 + len(user) <= 2000 and "[Page " in user
        assert t1 == t2 == format_model_output(step.rationale or "", step.action)
