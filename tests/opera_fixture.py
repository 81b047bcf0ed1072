"""A small OPeRA-shaped fixture, built in code in the real ``filtered_action`` column schema.

All 16 action columns are strings, as in the published dataset card. Session ids follow
OPeRA's ``<user uuid>_<start>_<end>`` pattern. The user file's survey columns are
illustrative (the importer keeps whatever columns it finds besides ``user_id``).

Odd rows on purpose (each maps to one documented behaviour of the importer):
a click without semantic_id, an input with empty input_text, an unknown action_type
``scroll``, timestamps out of order (session B), a duplicated action_id, a session with
one row (session C), and sessions whose rows are interleaved in the file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The ``filtered_action`` columns, as listed on the dataset card (all of dtype string).
OPERA_COLUMNS_FIXTURE = ("session_id", "action_id", "timestamp", "action_type", "click_type", "semantic_id",
                         "mouse_position", "element_meta", "url", "window_size", "page_meta", "simplified_html",
                         "rationale", "products", "input_text", "image")
USER_1 = "324934a2-5d58-49d9-bae8-545fba660731"
USER_2 = "8f1e2d3c-aaaa-4bbb-8ccc-0123456789ab"
SESSION_A = f"{USER_1}_2025-04-14T21:52:46.756000Z_2025-04-14T21:55:50.785000Z"
SESSION_B = f"{USER_2}_2025-04-15T10:00:00.000000Z_2025-04-15T10:01:00.000000Z"
SESSION_C = f"{USER_1}_2025-04-16T08:00:00.000000Z_2025-04-16T08:00:30.000000Z"


def page(title: str, *names: str) -> str:
    """A simplified page (UXAgent style) with the given named elements."""
    items = "".join(
        f'<input name="{n}" type="text" aria-label="Search"/>' if n.endswith("search_input")
        else f'<a name="{n}" role="link">{n.rsplit(".", 1)[-1]}</a>' for n in names)
    return (f'<html><head></head><body><div name="nav_bar" role="navigation"><div name="nav_bar.homepage">'
            f'Homepage</div></div><main><h1>{title}</h1>{items}</main></body></html>')


HOME = page("Amazon home", "nav_bar.search_input")
RESULTS = page("Results", "nav_bar.search_input", "search_results.tiger_rice_cooker.product_title",
               "refinements.customer_reviews")
PRODUCT = page("Tiger rice cooker", "nav_bar.search_input", "buybox.purchase_form.add_to_cart")


def _row(session_id: str, action_id: str, ts: str | None, action_type: str, *, semantic_id: str | None = None,
         click_type: str | None = None, input_text: str | None = None, html: str | None = HOME,
         rationale: str | None = None, url: str = "https://www.amazon.com/") -> dict[str, Any]:
    return {
        "session_id": session_id, "action_id": action_id, "timestamp": ts, "action_type": action_type,
        "click_type": click_type, "semantic_id": semantic_id,
        "mouse_position": json.dumps({"clientX": 10, "clientY": 20}) if action_type == "click" else None,
        "element_meta": json.dumps({"name": semantic_id}) if semantic_id else None,
        "url": url, "window_size": json.dumps({"width": 1920, "height": 934}),
        "page_meta": json.dumps({"search_term": [{"term": input_text or ""}]}), "simplified_html": html,
        "rationale": rationale, "products": None, "input_text": input_text, "image": action_id[:10],
    }


def opera_rows() -> list[dict[str, Any]]:
    """The fixture rows, in file order (sessions A and B interleaved)."""
    a, b, c = SESSION_A, SESSION_B, SESSION_C
    return [
        _row(a, "a-01", "2025-04-14T21:52:50.000Z", "input", semantic_id="nav_bar.search_input",
             input_text="rice cooker", rationale="I want a rice cooker."),
        _row(b, "b-02", "2025-04-15T10:00:20.000Z", "click", semantic_id="refinements.customer_reviews",
             click_type="filter", html=RESULTS),                                    # out of time order
        _row(a, "a-02", "2025-04-14T21:52:57.792Z", "click", click_type="product_link", html=RESULTS,
             semantic_id="search_results.tiger_rice_cooker.product_title", rationale="This one looks good."),
        _row(b, "b-01", "2025-04-15T10:00:05.000Z", "input", semantic_id="nav_bar.search_input",
             input_text="rice cooker 10 cup"),
        _row(a, "a-03", "2025-04-14T21:53:10.000Z", "click", click_type="other", html=PRODUCT,
             semantic_id=None),                                                    # click without semantic_id
        _row(b, "b-02", "2025-04-15T10:00:20.000Z", "click", semantic_id="refinements.customer_reviews",
             click_type="filter", html=RESULTS),                                    # duplicated action_id
        _row(b, "b-03", "2025-04-15T10:00:25.000Z", "input", semantic_id="nav_bar.search_input",
             input_text="", html=RESULTS),                                          # input with empty text
        _row(b, "b-04", "2025-04-15T10:00:30.000Z", "scroll", html=RESULTS),        # unknown action type
        _row(a, "a-04", "2025-04-14T21:53:30.000Z", "click", click_type="add_to_cart", html=PRODUCT,
             semantic_id="buybox.purchase_form.add_to_cart", rationale="I'll buy it."),
        _row(b, "b-05", "2025-04-15T10:00:40.000Z", "terminate", html=RESULTS),
        _row(a, "a-05", "2025-04-14T21:54:00.000Z", "terminate", html=PRODUCT),
        _row(c, "c-01", "2025-04-16T08:00:10.000Z", "terminate"),                   # one-row session
    ]


def user_rows() -> list[dict[str, Any]]:
    return [
        {"user_id": USER_1, "age": "25-34", "gender": "female", "shopping_frequency": "weekly",
         "persona": "Budget-minded home cook who reads reviews."},
        {"user_id": USER_2, "age": "45-54", "gender": "male", "shopping_frequency": "monthly", "persona": None},
    ]


# What the importer must report for opera_rows() with default options.
EXPECTED = {
    "rows_in": 12,
    "steps_written": 8,
    "sessions_written": 3,
    "skipped": {"click_without_name": 1, "duplicate_action_id": 1, "input_without_text": 1,
                "unknown_action_type": 1},
    "reordered_sessions": 1,
    "single_step_sessions": 1,
}
# session id -> expected [(type, name, text)] in timestamp order.
EXPECTED_ACTIONS = {
    SESSION_A: [("type_and_submit", "nav_bar.search_input", "rice cooker"),
                ("click", "search_results.tiger_rice_cooker.product_title", ""),
                ("click", "buybox.purchase_form.add_to_cart", ""), ("terminate", "", "")],
    SESSION_B: [("type_and_submit", "nav_bar.search_input", "rice cooker 10 cup"),
                ("click", "refinements.customer_reviews", ""), ("terminate", "", "")],
    SESSION_C: [("terminate", "", "")],
}


def write_table(rows: list[dict[str, Any]], path: Path, *, all_strings: bool = True) -> Path:
    """Write rows as Parquet (string columns, like the dataset), JSON Lines or JSON, by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        cols = list(dict.fromkeys(k for r in rows for k in r))
        schema = pa.schema([(c, pa.string()) for c in cols]) if all_strings else None
        table = pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows], schema=schema)
        pq.write_table(table, path, row_group_size=4)  # several row groups: exercises batching
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def write_opera_layout(root: Path, fmt: str = "parquet") -> Path:
    """The dataset's folder layout: ``OPeRA_filtered/{action,user}/...``; returns OPeRA_filtered."""
    base = root / "OPeRA_filtered"
    write_table(opera_rows(), base / "action" / f"train-00000-of-00001.{fmt}")
    write_table(user_rows(), base / "user" / "train" / f"train.{fmt}")
    (base / "images").mkdir(parents=True, exist_ok=True)
    return base
