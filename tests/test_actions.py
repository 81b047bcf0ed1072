"""parse_model_output: accepts exactly the SPEC format (plus the documented leniency) and
never raises on any str."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shop_env.actions import (MAX_OUTPUT_CHARS, Action, ParsedOutput, format_model_output,
                              parse_model_output)

CLICK = Action("click", "search_results.acme_phone_case.product_title")
SUBMIT = Action("type_and_submit", "nav_bar.search_input", "phone case")
TERM = Action("terminate")
VALID = format_model_output("I want a cheaper one.", SUBMIT)


def out(rationale="I look.", **action) -> str:
    return json.dumps({"rationale": rationale, "action": action})


@pytest.mark.parametrize("action", [CLICK, SUBMIT, TERM, Action("click", ""), Action("type_and_submit", "", "")])
def test_roundtrip_of_the_sft_target_format(action):
    parsed = parse_model_output(format_model_output("I want to see the reviews.", action))
    assert parsed == ParsedOutput(True, action, "I want to see the reviews.", None)
    assert parsed.to_dict() == {"ok": True, "action": action.to_dict(), "rationale": "I want to see the reviews.",
                                "error": None}


@pytest.mark.parametrize("text", [
    "  \n" + VALID + "\n\t ",
    "```json\n" + VALID + "\n```",
    "```JSON \n" + VALID + "```",
    "```\n" + VALID + "\n```",
    "\n```json\n  " + VALID + "  \n```\n",
    json.dumps({"action": SUBMIT.to_dict(), "rationale": "I want a cheaper one."}),  # key order
    json.dumps({"rationale": "I want a cheaper one.", "action": SUBMIT.to_dict()}, indent=2),
])
def test_documented_leniency(text):
    parsed = parse_model_output(text)
    assert parsed.ok and parsed.action == SUBMIT and parsed.rationale == "I want a cheaper one."


NESTED = {"type": "click", "name": "a", "action": {"type": "terminate"}}


@pytest.mark.parametrize("text, fragment", [
    ("", "JSON object"),
    ("   ", "JSON object"),
    ("terminate", "JSON object"),
    ("Sure! " + VALID, "JSON object"),
    (VALID + " Hope this helps.", "Extra data"),
    (VALID + VALID, "Extra data"),
    ("[" + VALID + "]", "JSON object"),
    ('"' + VALID.replace('"', "'") + '"', "JSON object"),
    ("```python\n" + VALID + "\n```", "language"),
    ("```json\n" + VALID + "\n```\n```json\n" + VALID + "\n```", "more than one"),
    ("```json" + VALID + "```", "malformed code fence"),
    ("```json\n" + VALID, "JSON object"),  # unclosed fence
    ("{'rationale': 'x', 'action': {'type': 'terminate'}}", "invalid JSON"),
    (VALID[:-1], "invalid JSON"),
    (out(type="click", name="a", text=""), "extra ['text']"),
    (out(type="terminate", name=""), "extra ['name']"),
    (out(type="click"), "missing ['name']"),
    (out(type="type_and_submit", name="a"), "missing ['text']"),
    (out(type="Click", name="a"), "action type"),
    (out(type="scroll"), "action type"),
    (out(type=None), "action type"),
    (out(type=["click"], name="a"), "action type"),
    (out(name="a"), "action type"),
    (out(type="click", name=3), "action.name must be a string"),
    (out(type="click", name=None), "action.name must be a string"),
    (out(type="type_and_submit", name="a", text=["b"]), "action.text must be a string"),
    (out(rationale=None, type="terminate"), "rationale must be a string"),
    (out(rationale={"a": 1}, type="terminate"), "rationale must be a string"),
    (json.dumps({"rationale": "x"}), "missing ['action']"),
    (json.dumps({"action": {"type": "terminate"}}), "missing ['rationale']"),
    (json.dumps({"rationale": "x", "action": {"type": "terminate"}, "confidence": 1}), "extra ['confidence']"),
    (json.dumps({"rationale": "x", "action": [{"type": "terminate"}]}), "action must be a JSON object"),
    (json.dumps({"rationale": "x", "action": "terminate"}), "action must be a JSON object"),
    (json.dumps({"rationale": "x", "action": NESTED}), "extra ['action']"),
    (json.dumps({"rationale": "x", "action": {"action": {"type": "terminate"}}}), "action type"),
    ('{"rationale": "x", "rationale": "y", "action": {"type": "terminate"}}', "duplicate key 'rationale'"),
    ('{"rationale": "x", "action": {"type": "click", "type": "terminate"}}', "duplicate key 'type'"),
    ('{"rationale": "x", "action": {"type": "terminate"}, "z": {"a": 1, "a": 2}}', "duplicate key"),
    ('{"rationale": NaN, "action": {"type": "terminate"}}', "NaN"),
    ('{"rationale": "x", "action": {"type": "terminate"}, "p": Infinity}', "Infinity"),
    ('{"rationale": "x", "action": {"type": "terminate"}, "p": -Infinity}', "-Infinity"),
    ('{"rationale": "x\\ud800", "action": {"type": "terminate"}}', "lone surrogate"),
    ('{"rationale": "x\ud800", "action": {"type": "terminate"}}', "lone surrogate"),
    ('{"rationale": "x", "action": {"type": "click", "name": "\\udfff"}}', "lone surrogate"),
    ('{"rationale": "line\nbreak", "action": {"type": "terminate"}}', "Invalid control character"),
    ("{" * 20_000, "invalid JSON"),
    ('{"a":' * 10_000 + "1" + "}" * 10_000, "nested too deeply"),
    ('{"rationale": "x", "action": ' + "[" * 5_000 + "]" * 5_000 + "}", "nested too deeply"),
    ("x" * (MAX_OUTPUT_CHARS + 1), "longer than"),
])
def test_rejections_name_the_problem(text, fragment):
    parsed = parse_model_output(text)
    assert not parsed.ok and parsed.action is None and parsed.rationale is None
    assert fragment in parsed.error, parsed.error
    assert json.loads(json.dumps(parsed.to_dict())) == {"ok": False, "action": None, "rationale": None,
                                                        "error": parsed.error}


def test_escaped_surrogate_pairs_and_unicode_are_accepted():
    parsed = parse_model_output('{"rationale": "I like \\ud83d\\ude00 café", "action": {"type": "click", "name": "手机"}}')
    assert parsed.ok and parsed.rationale == "I like \U0001F600 café" and parsed.action.name == "手机"


@pytest.mark.parametrize("value", [None, b"{}", 3, ["x"], {"rationale": "x"}])
def test_non_str_input_is_rejected_not_raised(value):
    parsed = parse_model_output(value)  # type: ignore[arg-type]
    assert not parsed.ok and "must be a str" in parsed.error


def test_huge_inputs_are_cheap():
    one_mb = "x" * (1 << 20)
    candidates = [one_mb, "[" * (1 << 20), "{" + " " * (1 << 20) + "}", '{"rationale": "' + one_mb + '"}',
                  " " * (1 << 20) + VALID, "\ud800" * (1 << 20),
                  '{"rationale": "' + "y" * (MAX_OUTPUT_CHARS - 60) + '", "action": {"type": "terminate"}}']
    start = time.perf_counter()
    results = [parse_model_output(c) for c in candidates]
    assert time.perf_counter() - start < 2.0  # generous: the length cap makes each O(1) or one pass
    assert [r.ok for r in results] == [False] * 6 + [True]


# --- property tests ---------------------------------------------------------------------------

ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=300)
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | ANY_TEXT
JSON_VALUES = st.recursive(JSON_SCALARS, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.sampled_from(["rationale", "action", "type", "name", "text", "x"])
                                             | ANY_TEXT, kids, max_size=4), max_leaves=20)


def check_consistent(text: str) -> None:
    parsed = parse_model_output(text)
    assert isinstance(parsed, ParsedOutput)
    if parsed.ok:
        # independent check: what was accepted is exactly the canonical object
        body = text.strip()
        if body.startswith("```"):
            body = body[body.index("\n") + 1:-3]
        assert json.loads(body) == {"rationale": parsed.rationale, "action": parsed.action.to_dict()}
        parsed.rationale.encode("utf-8")
    else:
        assert parsed.action is None and parsed.error


@settings(deadline=None, max_examples=500)
@given(ANY_TEXT)
def test_never_raises_on_random_text(text):
    check_consistent(text)


@settings(deadline=None, max_examples=500)
@given(JSON_VALUES)
def test_never_raises_on_random_json(value):
    check_consistent(json.dumps(value, ensure_ascii=False))
    check_consistent(json.dumps(value))


@settings(deadline=None, max_examples=300)
@given(ANY_TEXT, st.sampled_from([CLICK, SUBMIT, TERM]), st.data())
def test_mutated_valid_outputs_never_raise(rationale, action, data):
    text = format_model_output(rationale, action)
    pos = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(st.text(alphabet=st.sampled_from('{}[]",:\\ nNaI\ud800`'), max_size=4))
    check_consistent(text[:pos] + insert + text[pos + cut:])


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=200), st.text(max_size=50), st.text(max_size=50),
       st.sampled_from(["click", "type_and_submit", "terminate"]))
def test_any_well_formed_action_round_trips(rationale, name, text, kind):
    action = Action(kind, name if kind != "terminate" else "", text if kind == "type_and_submit" else "")
    parsed = parse_model_output(format_model_output(rationale, action))
    assert parsed.ok and parsed.action == action and parsed.rationale == rationale
