"""OPeRA-shaped fixtures, built in code in the real column schema and folder layout.

All 16 ``filtered_action`` columns are strings, as in the published dataset card. Session
ids follow OPeRA's ``<user uuid>_<start>_<end>`` pattern. The user table has OPeRA's
columns (``user_id``, ``survey`` as a JSON string, ``raw_survey``, the transcripts).

:func:`opera_rows` is one small action file with odd rows; :func:`write_opera_release`
writes a whole download (both variants: ``OPeRA_filtered`` / ``OPeRA_full`` with action
shards ``action/{train,test}-00000-of-00001.parquet``, ``user/`` and ``session/`` tables
per split, ``images/``), with long pages, empty rationales, purchase clicks, a target
missing from its page, a user in both splits, and the full variant's scroll / navigation /
tab_activate rows without terminate.

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


SURVEY_1 = {"Demographic Information": {"Age": "25-34", "Gender": "Female", "Household income": ""},
            "Shopping Preference": {"Frequency": "Weekly", "Priorities": ["price", "reviews"]},
            "Personality": {"Openness": 4, "Conscientiousness": 5},
            "Self Description": "Budget-minded home cook who reads reviews."}
SURVEY_2 = {"Demographic Information": {"Age": "45-54", "Gender": "Male"},
            "Shopping Preference": {"Frequency": "Monthly"}, "Self Description": None}
TRANSCRIPT = "Interviewer: How do you shop online?\nParticipant: " + "I compare prices and read reviews. " * 320


def user_rows() -> list[dict[str, Any]]:
    """OPeRA's user table columns; the transcript is long (11k characters), as in the dataset."""
    return [
        {"user_id": USER_1, "survey": json.dumps(SURVEY_1), "raw_survey": json.dumps({"q1": "a"}),
         "interview_transcript": TRANSCRIPT, "interview_transcript_processed": TRANSCRIPT[:2000]},
        {"user_id": USER_2, "survey": json.dumps(SURVEY_2), "raw_survey": None,
         "interview_transcript": None, "interview_transcript_processed": None},
    ]


# What the importer makes of SURVEY_1 / SURVEY_2: the survey's keys, missing values dropped.
PERSONA_1 = {"Demographic Information": {"Age": "25-34", "Gender": "Female"},
             "Shopping Preference": {"Frequency": "Weekly", "Priorities": ["price", "reviews"]},
             "Personality": {"Openness": 4, "Conscientiousness": 5},
             "Self Description": "Budget-minded home cook who reads reviews."}
PERSONA_2 = {"Demographic Information": {"Age": "45-54", "Gender": "Male"},
             "Shopping Preference": {"Frequency": "Monthly"}}


# What the importer must report for opera_rows() with default options.
EXPECTED = {
    "rows_in": 12,
    "steps_written": 8,
    "sessions_written": 3,
    "skipped": {"click_without_name": 1, "duplicate_action_id": 1, "input_without_text": 1,
                "action_type_not_modelled": 1},
    "dropped_action_types": {"scroll": 1},
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


def write_table(rows: list[dict[str, Any]], path: Path, *, all_strings: bool = True, row_group_size: int = 4,
                use_dictionary: bool = True) -> Path:
    """Write rows as Parquet (string columns, like the dataset), JSON Lines or JSON, by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        cols = list(dict.fromkeys(k for r in rows for k in r))
        schema = pa.schema([(c, pa.string()) for c in cols]) if all_strings else None
        table = pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows], schema=schema)
        # several row groups by default: exercises batching
        pq.write_table(table, path, row_group_size=row_group_size, use_dictionary=use_dictionary)
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


# ---- a whole download, both variants -------------------------------------------------------
USER_3 = "0c0ffee0-1111-4222-8333-444455556666"
USER_IDS = (USER_1, USER_2, USER_3)


def opera_page(title: str, *names: str, filler: int = 0) -> str:
    """A page as OPeRA serves it: the nav bar first, product titles as named ``div``s without a role."""
    items = []
    for n in names:
        leaf = n.rsplit(".", 1)[-1]
        if leaf == "search_input":
            items.append(f'<input name="{n}" type="text" aria-label="Search"/>')
        elif leaf in ("product_title", "customer_reviews"):
            items.append(f'<div name="{n}">{n.split(".")[-2].replace("_", " ")}</div>')
        else:
            items.append(f'<span name="{n}" role="button">{leaf.replace("_", " ")}</span>')
    more = "".join(f'<div class="s-result"><span>Unrelated product {i} with a long description '
                   f'{"lorem ipsum " * 20}</span></div>' for i in range(filler))
    return (f'<div name="nav_bar" role="navigation"><input name="nav_bar.search_input" type="text"/>'
            f'</div><main><h1>{title}</h1>{"".join(items)}{more}</main>')


def _release_sessions() -> dict[str, list[dict[str, Any]]]:
    """split -> filtered_action rows. Train: a purchase (add to cart) and a leave; test: a purchase
    (buy now) on a long page, and a leave whose click target is missing from its page."""
    def sid(user: str, day: int) -> str:
        return f"{user}_2025-04-{day:02d}T10:00:00.000000Z_2025-04-{day:02d}T10:05:00.000000Z"

    def ts(day: int, sec: int) -> str:
        return f"2025-04-{day:02d}T10:{sec // 60:02d}:{sec % 60:02d}.000Z"

    home = opera_page("Amazon")
    results = opera_page("Results", "search_results.tiger_rice_cooker.product_title",
                         "search_results.zojirushi_cooker.product_title", "refinements.customer_reviews")
    product = opera_page("Tiger rice cooker", "buybox.add_to_cart", "buybox.buy_now")
    long_product = opera_page("Zojirushi cooker", "buybox.add_to_cart", "buybox.buy_now", filler=250)

    def rows(s: str, day: int, steps: list[tuple]) -> list[dict[str, Any]]:
        out = []
        for k, (atype, name, text, ctype, html, why) in enumerate(steps):
            out.append(_row(s, f"{s[:8]}-{day}-{k}", ts(day, 10 * k), atype, semantic_id=name, click_type=ctype,
                            input_text=text, html=html, rationale=why))
        return out

    t1, t2, s1, s2 = sid(USER_1, 1), sid(USER_2, 2), sid(USER_1, 20), sid(USER_3, 21)
    train = rows(t1, 1, [("input", "nav_bar.search_input", "rice cooker", None, home, "I need a rice cooker."),
                         ("click", "search_results.tiger_rice_cooker.product_title", None, "product_link", results, ""),
                         ("click", "buybox.add_to_cart", None, "purchase", product, "Good price."),
                         ("terminate", None, None, None, product, "")]) + \
        rows(t2, 2, [("input", "nav_bar.search_input", "cooker", None, home, None),
                     ("click", "refinements.customer_reviews", None, "filter", results, ""),
                     ("terminate", None, None, None, results, "Nothing I like.")])
    test = rows(s1, 20, [("input", "nav_bar.search_input", "zojirushi", None, home, ""),
                         ("click", "search_results.zojirushi_cooker.product_title", None, "product_link", results,
                          "Looks sturdy."),
                         ("click", "buybox.buy_now", None, "purchase", long_product, "Buying it now."),
                         ("terminate", None, None, None, long_product, None)]) + \
        rows(s2, 21, [("input", "nav_bar.search_input", "rice", None, home, "Just browsing."),
                      ("click", "search_results.gone_product.product_title", None, "product_link", results, ""),
                      ("terminate", None, None, None, results, "")])
    return {"train": train, "test": test}


# Expected sessions per split, for the filtered variant.
RELEASE_SESSIONS = {"train": 2, "test": 2}
RELEASE_STEPS = {"train": 7, "test": 7}
PURCHASE_SESSIONS = {"train": 1, "test": 1}


def _full_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The full variant of the same sessions: extra columns, scroll / navigation / tab_activate rows
    around the actions, and no terminate rows."""
    out = []
    for r in rows:
        if r["action_type"] == "terminate":
            continue
        base = {**r, "navigation_type": None, "simplified_html_new_page": None, "scroll_detail": None,
                "target": None, "image_new_page": None}
        scroll = {**base, "action_id": r["action_id"] + "-s", "action_type": "scroll", "semantic_id": None,
                  "click_type": None, "input_text": None, "scroll_detail": json.dumps({"dy": 400})}
        out += [scroll, base]
        if r["action_type"] == "click":
            nav = {**base, "action_id": r["action_id"] + "-n", "action_type": "navigation", "semantic_id": None,
                   "click_type": None, "navigation_type": "link", "timestamp": r["timestamp"][:-4] + "500Z"}
            out.append(nav)
    out.append({**out[-1], "action_id": out[-1]["action_id"] + "-t", "action_type": "tab_activate"})
    return out


FULL_DROPPED = {"train": {"scroll": 5, "navigation": 3, "tab_activate": 1},
                "test": {"scroll": 5, "navigation": 3, "tab_activate": 1}}


def session_rows(split_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OPeRA's per-session table (not read by the importer)."""
    counts: dict[str, int] = {}
    for r in split_rows:
        counts[r["session_id"]] = counts.get(r["session_id"], 0) + 1
    return [{"session_id": s, "user_id": s.split("_", 1)[0], "action_count": str(n)} for s, n in counts.items()]


def release_user_rows(split: str) -> list[dict[str, Any]]:
    third = {"user_id": USER_3, "survey": None, "raw_survey": None, "interview_transcript": None,
             "interview_transcript_processed": None}
    u1, u2 = user_rows()
    return [u1, u2] if split == "train" else [u1, third]


def write_opera_release(root: Path, variant: str = "filtered", *, row_group_size: int = 4) -> Path:
    """A download in the Hub's layout under ``root``; returns ``root/OPeRA_<variant>``."""
    base = root / f"OPeRA_{variant}"
    for split, rows in _release_sessions().items():
        if variant == "full":
            rows = _full_rows(rows)
        write_table(rows, base / "action" / f"{split}-00000-of-00001.parquet", row_group_size=row_group_size)
        write_table(release_user_rows(split), base / "user" / split / f"{split}.parquet")
        write_table(session_rows(rows), base / "session" / split / f"{split}.parquet")
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "images" / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return base
