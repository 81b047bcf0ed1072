"""verl adapter: parquet export round trip (pyarrow) and compute_score == compute_reward."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from shop_env.actions import Action, format_model_output
from shop_env.data.model import Session, Step
from shop_env.data.store import write_store
from shop_env.integrations import verl as V
from shop_env.prompts import build_prompt
from shop_env.reward import RewardConfig, compute_reward

GOLDS = [
    Action("type_and_submit", "nav_bar.search_input", "wireless earbuds"),
    Action("click", "search_results.auralux_earbuds.product_title"),
    Action("terminate"),
]
OUTPUTS = [
    format_model_output("I search.", Action("type_and_submit", "nav_bar.search_input", "wireless earbuds")),
    format_model_output("I search.", Action("type_and_submit", "nav_bar.search_input", "bluetooth earbuds")),
    format_model_output("I click.", Action("click", "search_results.auralux_earbuds.product_title")),
    format_model_output("I click.", Action("click", "search_results.other.product_title")),
    format_model_output("I leave.", Action("terminate")),
    '{"rationale": "x", "action": {"type": "click"}}',
    "not json at all",
    "",
]


def _session(sid: str, n: int) -> Session:
    steps = [Step(page_html=f'<html><body><input name="nav_bar.search_input"/><a name="p.{k}">item {k}</a>'
                            f'</body></html>', action=GOLDS[k % len(GOLDS)], url=f"https://shop.example/{k}")
             for k in range(n)]
    return Session(session_id=sid, steps=steps, user_id=f"u{sid}")


@pytest.fixture()
def store(tmp_path):
    return write_store(tmp_path / "store", [_session("a", 3), _session("b", 2)])


@pytest.mark.parametrize("gold", GOLDS)
@pytest.mark.parametrize("out", OUTPUTS)
def test_compute_score_equals_compute_reward(out, gold):
    got = V.compute_score(V.DATA_SOURCE, out, gold.to_json())
    ref = compute_reward(out, gold)
    assert got["score"] == ref.total
    assert (got["format"], got["type"], got["attribute"], got["value"]) == (ref.format, ref.type, ref.attribute,
                                                                            ref.value)
    # ground truth may also arrive as a dict (verl keeps non-tensor data as objects)
    assert V.compute_score(V.DATA_SOURCE, out, gold.to_dict())["score"] == ref.total


def test_compute_score_reward_kwargs_and_presets():
    gold = GOLDS[1]
    out = OUTPUTS[2]
    assert V.compute_score(V.DATA_SOURCE, out, gold.to_json())["score"] == pytest.approx(0.5 + 0.3 + 0.2 + 1000.0)
    small = V.compute_score(V.DATA_SOURCE, out, gold.to_json(), dars_factor=10.0)["score"]
    assert small == compute_reward(out, gold, RewardConfig(dars_factor=10.0)).total == pytest.approx(11.0)
    binary = V.compute_score(V.DATA_SOURCE, out, gold.to_json(), preset="binary")
    assert binary["score"] == 1.0 and binary["exact_match"] == 1.0
    assert V.compute_score(V.DATA_SOURCE, OUTPUTS[3], gold.to_json())["exact_match"] == 0.0


def test_compute_score_strips_chat_end_markers_and_never_raises_on_output():
    gold = GOLDS[2]
    assert V.compute_score(V.DATA_SOURCE, OUTPUTS[4] + "<|im_end|>", gold.to_json())["score"] == 0.8
    assert V.compute_score(V.DATA_SOURCE, OUTPUTS[4] + "<|im_end|>\n<|endoftext|>", gold.to_json())["score"] == 0.8
    for bad in ["<|im_end|>", "{", "\x00", "{}" * 1000]:
        assert V.compute_score(V.DATA_SOURCE, bad, gold.to_json())["score"] == 0.0
    with pytest.raises(ValueError):
        V.compute_score(V.DATA_SOURCE, OUTPUTS[4], "not json")


def test_export_round_trip(store, tmp_path):
    out = V.export_verl_parquet(store, tmp_path / "verl" / "train.parquet", split="all", max_chars=2000,
                                batch_rows=2)
    table = pq.read_table(out)
    assert table.schema.equals(V.VERL_SCHEMA)
    rows = table.to_pylist()
    assert len(rows) == 5  # one row per replayed step (3 + 2)
    from shop_env.data.store import open_store
    st = open_store(store)
    expected = [(s, k) for s in range(len(st)) for k in range(len(st[s]))]
    for i, (row, (s, k)) in enumerate(zip(rows, expected)):
        session = st[s]
        prompt = build_prompt(session, k, max_chars=2000)
        assert row["data_source"] == V.DATA_SOURCE
        assert row["prompt"] == prompt.messages
        assert row["reward_model"]["style"] == "rule"
        assert Action.from_dict(json.loads(row["reward_model"]["ground_truth"])) == session.steps[k].action
        assert row["extra_info"] == {"split": "all", "index": i, "session_id": session.session_id,
                                     "step_index": k, "target_kept": prompt.target_kept,
                                     "gold_type": session.steps[k].action.type}
        # the exported ground truth feeds compute_score directly
        perfect = format_model_output("r", session.steps[k].action)
        assert V.compute_score(row["data_source"], perfect, row["reward_model"]["ground_truth"],
                               row["extra_info"])["exact_match"] == 1.0


def test_export_limit_and_empty(store, tmp_path):
    rows = pq.read_table(V.export_verl_parquet(store, tmp_path / "a.parquet", split="all", limit=2)).to_pylist()
    assert [r["extra_info"]["index"] for r in rows] == [0, 1]
    empty = write_store(tmp_path / "empty", [])
    t = pq.read_table(V.export_verl_parquet(empty, tmp_path / "e.parquet", split="all"))
    assert t.num_rows == 0 and t.schema.equals(V.VERL_SCHEMA)
    assert not list(tmp_path.glob(".*.tmp"))
