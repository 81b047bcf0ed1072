"""Named interactive elements: the ``Element`` record, element kinds, and a fast reader.

``named_elements`` is called by the environment on every step, so it does not build a tree:
one regex pass finds start tags (quote-aware: a quoted attribute value may contain ">")
that carry ``name=...``, and the element's text is read up to its matching end tag
(nested elements of the same tag are counted; void elements have no text). On a 10 kB
page it takes about 0.3 ms (``benchmarks/bench_simplify.py`` prints it). Tests check it
against a DOM reference on simplified pages, fixtures and random tag soup; on arbitrary
raw HTML with unbalanced tags the text is a best effort (the names are exact).
"""
from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass

import lxml.etree as etree


# Roles that make any element interactive, and how each maps onto an action kind.
CLICK_ROLES = frozenset({"button", "link", "checkbox", "radio", "tab", "option", "menuitem",
                         "menuitemcheckbox", "menuitemradio", "switch", "treeitem"})
INPUT_ROLES = frozenset({"textbox", "searchbox", "combobox"})
SELECT_ROLES = frozenset({"listbox"})
INTERACTIVE_ROLES = CLICK_ROLES | INPUT_ROLES | SELECT_ROLES
INTERACTIVE_TAGS = frozenset({"a", "area", "button", "input", "select", "textarea"})
# input types that are clicked, not typed into
CLICK_INPUT_TYPES = frozenset({"button", "submit", "reset", "image", "checkbox", "radio",
                               "file", "color", "range"})
TEXT_MAX = 200


@dataclass(frozen=True)
class Element:
    """One named interactive element of a simplified page.

    ``name``: the dotted ``name`` attribute (what actions refer to); ``kind``: ``click``,
    ``input`` (type_and_submit target) or ``select``; ``tag``: the HTML tag; ``text``: its
    visible text (for inputs: value, placeholder or aria-label), collapsed, at most 200 chars.
    """

    name: str
    kind: str
    tag: str
    text: str = ""


def element_kind(tag: str, type_: str | None = None, role: str | None = None) -> str | None:
    """``click`` | ``input`` | ``select`` for an interactive element, ``None`` otherwise."""
    tag = tag.lower()
    role = (role or "").strip().lower()
    if tag == "input":
        return "click" if (type_ or "text").strip().lower() in CLICK_INPUT_TYPES else "input"
    if tag == "textarea":
        return "input"
    if tag == "select":
        return "select"
    if role in INPUT_ROLES:
        return "input"
    if role in SELECT_ROLES:
        return "select"
    if tag in ("a", "area", "button") or role in CLICK_ROLES:
        return "click"
    return None


def collapse(text: str | None, limit: int = TEXT_MAX) -> str:
    """Collapse whitespace runs to one space, strip, truncate to ``limit`` characters."""
    if not text:
        return ""
    return " ".join(text.split())[:limit].rstrip()


# A start tag, attribute values quoted or not (a quoted value may contain ">").
_START = re.compile(r"""<([a-zA-Z][a-zA-Z0-9:-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*/?>""")
_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_MARKUP = re.compile(r"""<!--.*?-->|<[a-zA-Z/!?](?:[^>"']|"[^"]*"|'[^']*')*>""", re.S)
_ALT = re.compile(r"""<img\b(?:[^>"']|"[^"]*"|'[^']*')*?\salt\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_NAME_ATTR = re.compile(r"(?:^|\s)name\s*=", re.I)


def _boundary(m: re.Match[str]) -> str:
    """A tag separates words; a comment is not there at all (as in the DOM's text)."""
    return "" if m.group(0).startswith("<!--") else " "


def _attrs(src: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _ATTR.finditer(src):
        key = m.group(1).lower()
        if key not in out:
            val = m.group(2)
            if val is None:
                val = m.group(3) if m.group(3) is not None else (m.group(4) or "")
            out[key] = _html.unescape(val) if "&" in val else val
    return out


def _inner_alt(inner: str) -> str:
    m = _ALT.search(inner)
    if not m:
        return ""
    return _html.unescape(m.group(1) if m.group(1) is not None else m.group(2))


_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"})
_TAG_CACHE: dict[str, re.Pattern[str]] = {}


def _open_close(tag: str) -> re.Pattern[str]:
    pat = _TAG_CACHE.get(tag)
    if pat is None:
        pat = _TAG_CACHE[tag] = re.compile(rf"<(/?){re.escape(tag)}(?=[\s/>])", re.I)
    return pat


def _inner(page: str, tag: str, start: int) -> str:
    """Markup between a start tag ending at ``start`` and its matching end tag (nested
    elements of the same tag are counted, tags inside comments are not); unclosed: a
    bounded stretch."""
    depth, pos, pattern = 1, start, _open_close(tag)
    while (m := pattern.search(page, pos)) is not None:
        comment = page.find("<!--", pos, m.start())
        if comment != -1:  # skip the comment, then look again
            end = page.find("-->", comment + 4)
            if end == -1:
                break
            pos = end + 3
            continue
        if m.group(1):
            depth -= 1
            if depth == 0:
                return page[start:m.start()]
        else:
            depth += 1
        pos = m.end()
    return page[start:start + 4 * TEXT_MAX]


def named_elements(simplified_html: str, *, any_tag: bool = False) -> list[Element]:
    """List the interactive elements of an already simplified page, in document order.

    Reads ``name`` attributes only; named elements that are not interactive (for example a
    recipe container such as ``<div name="search_results">``) are skipped, unless
    ``any_tag``: then every named element is a candidate, of kind ``click`` when its tag and
    role say nothing else (recorded pages such as OPeRA's name click targets on plain
    ``div``/``span`` elements; the environment offers elements this way). Text: the
    element's text with one space at each tag boundary, whitespace collapsed; for inputs,
    their value, placeholder or aria-label; empty text falls back to aria-label, value,
    placeholder, alt, title, then an inner image's alt. Fast: regular expressions over the
    string, no DOM (see the module docstring).
    """
    if not simplified_html:
        return []
    out: list[Element] = []
    page = simplified_html
    for m in _START.finditer(page):
        raw_attrs = m.group(2)
        if not raw_attrs or not _NAME_ATTR.search(raw_attrs):
            continue
        attrs = _attrs(raw_attrs)
        name = attrs.get("name")
        if not name:
            continue
        tag = m.group(1).lower()
        kind = element_kind(tag, attrs.get("type"), attrs.get("role")) or ("click" if any_tag else None)
        if kind is None:
            continue
        if tag == "input":
            text = attrs.get("value") or attrs.get("placeholder") or attrs.get("aria-label") or ""
        else:
            inner = "" if tag in _VOID or m.group(0).endswith("/>") else _inner(page, tag, m.end())
            text = _html.unescape(_MARKUP.sub(_boundary, inner)) if "<" in inner or "&" in inner else inner
            text = collapse(text) or attrs.get("aria-label") or attrs.get("value") or \
                attrs.get("placeholder") or attrs.get("alt") or attrs.get("title") or \
                _inner_alt(inner)
        out.append(Element(name=name, kind=kind, tag=tag, text=collapse(text)))
    return out


# elements carrying a name attribute, the root included, in document order (C-level)
_WITH_NAME = etree.XPath("descendant-or-self::*[@name]")


def elements_from_tree(root) -> list[Element]:
    """The same records as :func:`named_elements`, read from a parsed page (``simplify``
    uses it on the parse of its own output; tests check both readers agree)."""
    out: list[Element] = []
    for el in _WITH_NAME(root):
        get = el.get
        name = get("name")
        if not name:
            continue
        tag = el.tag
        kind = element_kind(tag, get("type"), get("role"))
        if kind is None:
            continue
        if tag == "input":
            text = get("value") or get("placeholder") or get("aria-label") or ""
        else:
            text = collapse(" ".join(el.itertext()))
            if text:  # already collapsed: collapse() again would return it unchanged
                out.append(Element(name=name, kind=kind, tag=tag, text=text))
                continue
            text = get("aria-label") or get("value") or get("placeholder") or get("alt") or \
                get("title") or \
                next((img.get("alt") for img in el.iter("img") if img.get("alt") is not None), "")
        out.append(Element(name=name, kind=kind, tag=tag, text=collapse(text)))
    return out
