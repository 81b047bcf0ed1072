"""Cleaning passes on an lxml tree: junk, hidden elements, attributes, empty wrappers.

Speed matters (the simplifier runs over every page of a log), so each pass is either one
C-level lxml call (``strip_elements`` / ``strip_tags``) or one Python walk over the tree
that does only dictionary look-ups per element; libxml2's XPath turned out slower than a
Python walk for these whole-document predicates.
"""
from __future__ import annotations

import operator
import re
from urllib.parse import urlsplit

import lxml.etree as etree

from shop_env.html.parse import Node

# Elements removed with their content (their tail text is kept).
JUNK_TAGS = ("script", "style", "noscript", "template", "iframe", "frame", "frameset",
             "object", "embed", "canvas", "link", "meta", "base", "audio", "video", "source",
             "track", "noembed", "noframes")
# Elements whose text the parser reads raw but the serializer escapes: re-parsing their
# output would escape it again on every round. They show their text as it is: <pre>.
RAW_TEXT_TAGS = ("xmp", "plaintext")

# Attribute whitelist (SPEC "Observation": name, role, aria-*, type, value, alt, title).
# Decisions: ``placeholder`` kept (it is what a user reads in an empty input); the boolean
# states ``checked``, ``selected``, ``disabled``, ``open`` kept (a ticked filter is page
# content; an open dialog must stay open when the page is simplified again);
# ``href`` dropped by default (long, tracking-laden, user-specific; opt in with keep_href);
# aria-* attributes that only point at ids (which are dropped) are dropped too.
KEEP_ATTRS = frozenset({"name", "role", "type", "value", "alt", "title", "placeholder",
                        "checked", "selected", "disabled", "open"})
DROP_ARIA = frozenset({"aria-labelledby", "aria-describedby", "aria-controls", "aria-owns",
                       "aria-activedescendant", "aria-details", "aria-errormessage",
                       "aria-flowto"})

# Containers removed when they hold nothing; wrappers unwrapped when they carry nothing.
PRUNABLE = frozenset({"div", "span", "font", "center", "p", "b", "i", "u", "em", "strong",
                      "small", "ul", "ol", "li", "dl", "dt", "dd", "section", "article",
                      "header", "footer", "aside", "nav", "main", "figure"})
WRAPPERS = frozenset({"div", "span", "font", "center"})
INLINE_WRAPPERS = frozenset({"span", "font"})
BLOCK = frozenset({"div", "section", "article", "header", "footer", "aside", "nav", "main",
                   "ul", "ol", "dl", "table", "form", "p", "figure", "h1", "h2", "h3", "h4",
                   "h5", "h6", "fieldset", "center"})
_DROP = "shop-r1-drop"
_UNWRAP = "shop-r1-unwrap"
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


def is_kept_attribute(name: str) -> bool:
    """Is ``name`` on the attribute whitelist (without the opt-in ``href``)?"""
    return name in KEEP_ATTRS or (name.startswith("aria-") and name[5:].isalpha()
                                  and name.isascii() and name not in DROP_ARIA)


def remove_junk(root: Node) -> None:
    """Drop scripts, styles, embeds, head metadata and the like, with their content; turn
    raw-text elements into ``<pre>``."""
    etree.strip_elements(root, *JUNK_TAGS, etree.Comment, etree.ProcessingInstruction,
                         with_tail=False)
    for el in root.iter(*RAW_TEXT_TAGS):
        el.tag = "pre"


def is_hidden(el: Node, hidden_classes: frozenset[str] = frozenset()) -> bool:
    """``hidden``, ``aria-hidden=true``, inline display:none / visibility:hidden,
    ``input type=hidden``, a closed ``dialog``, or one of the site's ``hidden_classes``."""
    get = el.get
    if hidden_classes:
        cls = get("class")
        if cls is not None and not hidden_classes.isdisjoint(cls.split()):
            return True
    if get("hidden") is not None:
        return True
    aria = get("aria-hidden")
    if aria is not None and aria.strip().lower() == "true":
        return True
    style = get("style")
    if style is not None and _HIDDEN_STYLE.search(style):
        return True
    tag = el.tag
    if tag == "input":
        return (get("type") or "").strip().lower() == "hidden"
    return tag == "dialog" and get("open") is None


def strip_svg(root: Node) -> None:
    """Drop svg/math internals; keep the outer element only if it carries a label."""
    marked = False
    for el in list(root.iter("svg", "math")):
        if not (el.get("aria-label") or el.get("title")):
            title = next((t for t in el if t.tag == "title" and (t.text or "").strip()), None)
            if title is not None:  # an icon's accessible name: its <title> child
                el.set("aria-label", " ".join(title.text.split()))
        if el.get("aria-label") or el.get("title") or el.get("role"):
            for child in list(el):
                el.remove(child)
            el.text = None
        else:
            el.tag = _DROP
            marked = True
    if marked:
        etree.strip_elements(root, _DROP, with_tail=False)


def _clean_href(href: str) -> str:
    """Path of a link without query string or fragment (those carry session/tracking ids)."""
    try:
        parts = urlsplit(href.strip())
    except ValueError:
        return ""
    if parts.scheme and parts.scheme not in ("http", "https"):
        return ""
    return f"{parts.scheme + '://' if parts.scheme else ''}{parts.netloc}{parts.path}"


# Inputs whose value is personal data (user-specific, SPEC "Observation"): their value is
# dropped. Decided by type, or by the autocomplete token browsers use for autofill.
PERSONAL_TYPES = frozenset({"password", "email", "tel"})
PERSONAL_AUTOCOMPLETE = ("name", "given-name", "additional-name", "family-name", "nickname",
                         "email", "tel", "street-address", "address-line", "address-level", "postal-code",
                         "country", "cc-", "bday", "username", "new-password", "current-password",
                         "one-time-code", "organization", "sex")
# A text field named or identified like a personal one (name="email", id="shipping-city",
# "firstName"): words of its name/id that start so, or are so; and a value that is an
# email address wherever it was typed.
_PERSONAL_WORD_STARTS = ("email", "phone", "mobile", "street", "address", "postal", "postcode", "zipcode",
                         "firstname", "lastname", "fullname", "surname")
_PERSONAL_WORDS = frozenset({"zip", "city", "tel"})
_TEXT_TYPES = frozenset({"", "text", "search", "email", "tel", "number", "url"})
_EMAIL_VALUE = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


def _personal_field_name(text: str) -> bool:
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", text).lower()) if w]
    joined = ["".join(pair) for pair in zip(words, words[1:])]  # "first_name" -> "firstname"
    return any(w.startswith(_PERSONAL_WORD_STARTS) or w in _PERSONAL_WORDS for w in words + joined)


def _personal(el: Node) -> bool:
    kind = (el.get("type") or "").strip().lower()
    if kind in PERSONAL_TYPES:
        return True
    tokens = (el.get("autocomplete") or "").lower().split()
    if any(t.startswith(PERSONAL_AUTOCOMPLETE) for t in tokens):
        return True
    if el.tag != "input" or kind in _TEXT_TYPES:
        if any(_personal_field_name(el.get(key) or "") for key in ("name", "id")):
            return True
    return bool(_EMAIL_VALUE.search(el.get("value") or ""))


_PLAIN_ATTR_NAME = re.compile(r"[A-Za-z_][-A-Za-z0-9_.:]*\Z")


def strip_attributes(root: Node, seen: set[str] | None = None, keep_href: bool = False) -> None:
    """Drop values of personal-data inputs, then keep only whitelisted attributes (one C
    call when the caller collected the attribute names ``seen`` on the page); trim hrefs."""
    keep = KEEP_ATTRS | {"href"} if keep_href else KEEP_ATTRS
    if seen is None:
        seen = set()
        for el in root.iter():
            seen.update(el.keys())
    _drop_personal_values(root)
    drop = [k for k in seen if k not in keep and not is_kept_attribute(k)]
    if drop and not all(_PLAIN_ATTR_NAME.match(k) for k in drop):
        # lxml reads "*" and "{...}" in names as wildcards/namespaces, and refuses control
        # characters: go element by element
        _strip_attributes_slowly(root, keep)
    elif drop:
        try:
            etree.strip_attributes(root, *drop)
        except ValueError:
            _strip_attributes_slowly(root, keep)
    if keep_href:
        _clean_hrefs(root)


def finalize_attributes(root: Node, named: list[Node], seen: set[str],
                        keep_href: bool = False) -> None:
    """The simplifier's last attribute pass: :func:`strip_attributes` (``seen``: every
    attribute name on the page), and the ``name`` attribute of each element of ``named``
    (every element carrying one) moved last, the canonical order that keeps re-runs
    identical."""
    for el in named:
        name = el.get("name")
        if name is not None and el.keys()[-1] != "name":
            del el.attrib["name"]
            el.set("name", name)
    strip_attributes(root, seen, keep_href)


def _drop_personal_values(root: Node) -> None:
    """Clear what a shopper typed or chose in personal-data fields: an input's value, a
    textarea's text (e.g. a street address), a select's chosen option."""
    for el in root.iter("input", "textarea", "select"):
        if not _personal(el):
            continue
        if el.tag == "input":
            el.attrib.pop("value", None)
        elif el.tag == "textarea":
            el.text = None
            for child in list(el):
                el.remove(child)
        else:
            for option in el.iter("option"):
                option.attrib.pop("selected", None)


def _clean_hrefs(root: Node) -> None:
    for el in root.iter():
        href = el.get("href")
        if href is not None:
            el.set("href", _clean_href(href))


def _strip_attributes_slowly(root: Node, keep: frozenset[str]) -> None:
    """Fallback for pages whose attribute names lxml cannot take as arguments: rebuild the
    attributes of each element that carries something to drop."""
    for el in root.iter():
        items = el.items()
        if any(k not in keep and not is_kept_attribute(k) for k, _ in items):
            el.attrib.clear()
            for k, v in items:
                if k in keep or is_kept_attribute(k):
                    try:
                        el.set(k, v)
                    except ValueError:  # e.g. "aria-\x01"
                        pass


_PRUNE_TAGS = tuple(PRUNABLE | {"br"})


def prune(root: Node) -> None:
    """Remove attribute-less containers that hold no text; unwrap attribute-less wrappers
    whose only content is one element (a block element for div/center, anything for
    span/font). One post-order walk (:func:`_prune_plan`), then two lxml calls."""
    drop, unwrap = _prune_plan(root)
    for el in drop:
        el.tag = _DROP
    for el in unwrap:
        el.tag = _UNWRAP
    if drop:
        etree.strip_elements(root, _DROP, with_tail=False)
    if unwrap:
        etree.strip_tags(root, _UNWRAP)


def _prune_plan(root: Node) -> tuple[list[Node], list[Node]]:
    """What :func:`prune` removes (empty containers) and unwraps (wrappers)."""
    empty: set[Node] = set()
    inner: dict[Node, Node] = {}  # unwrapped wrapper -> the element it finally exposes
    for el in reversed(list(root.iter(*_PRUNE_TAGS))):  # descendants before ancestors
        if el.attrib:
            continue
        text = el.text
        if text and not text.isspace():
            continue
        if not len(el):  # a leaf without text (most candidates): empty
            empty.add(el)
            continue
        live = None
        n_live = 0
        has_text = False
        for child in el:
            tail = child.tail
            if tail and not tail.isspace():
                has_text = True
                break
            if child in empty and child.tag != "br":
                continue
            n_live += 1
            live = child
        if has_text:
            continue
        tag = el.tag
        if n_live == 0 or tag == "br" or (n_live == 1 and live.tag == "br" and live in empty):
            empty.add(el)
        elif n_live == 1 and tag in WRAPPERS:
            exposed = inner.get(live, live)
            if tag in INLINE_WRAPPERS or exposed.tag in BLOCK:
                inner[el] = exposed
    drop = []
    for el in empty:
        parent = el.getparent()
        if el.tag != "br" and parent is not None and parent not in empty:
            drop.append(el)
    return drop, list(inner)


def drop_elements(elements: list) -> None:
    """Remove elements with their content, keeping tails (one C call)."""
    if not elements:
        return
    for el in elements:
        el.tag = _DROP
    root = elements[0].getroottree().getroot()
    if root.tag == _DROP:  # the root itself was hidden: keep an empty page
        root.tag = "html"
        root.attrib.clear()
        for child in list(root):
            root.remove(child)
        root.text = None
        etree.SubElement(root, "body")
    etree.strip_elements(root, _DROP, with_tail=False)


# whitespace next to these tags never separates words on a rendered page
_BLOCK_TAG = (r"(</?(?:html|head|body|title|div|section|header|footer|nav|main|aside|"
              r"article|ul|ol|li|dl|dt|dd|table|thead|tbody|tfoot|tr|td|th|form|"
              r"fieldset|p|h[1-6]|select|option|optgroup|figure|br|hr)\b[^>]*>)")
_BLOCK_WS = re.compile(r" ?" + _BLOCK_TAG + r" ?")
# Fast equivalent (literal first character, so the regex engine skips ahead at C speed):
# drop the space before, then the space after, each block tag. Same result as _BLOCK_WS
# unless a "<" occurs inside a tag (libxml2 escapes it in attribute values, so only odd
# input gets there; it takes the one-regex path).
_SPACE_BEFORE = re.compile(" " + _BLOCK_TAG)
_SPACE_AFTER = re.compile(_BLOCK_TAG + " ")
_LT_IN_TAG = re.compile(r"<[^>]*<")
_GROUP1 = operator.methodcaller("group", 1)


def serialize(root: Node) -> str:
    """HTML text of the tree with whitespace runs collapsed to one space (none at all next
    to block-level tags)."""
    return _serialized(root, trim=True)


def serialize_collapsed(root: Node) -> str:
    """HTML text of the tree with whitespace runs collapsed to one space."""
    return _serialized(root, trim=False)


def _serialized(root: Node, trim: bool) -> str:
    head = root.find("head")
    if head is not None and len(head) == 0 and not (head.text or "").strip():
        root.remove(head)
    for li in root.iter("li"):
        # libxml2 writes an empty <li> without its end tag, so a following tail would be
        # read back inside it; an empty text node makes it write </li>
        if len(li) == 0 and not li.text:
            li.text = ""
    text = " ".join(etree.tostring(root, encoding="unicode", method="html").split())
    return trim_block_space(text) if trim else text


def trim_block_space(html: str) -> str:
    """Remove the single spaces next to block-level tags (they separate no words)."""
    if _LT_IN_TAG.search(html):
        return _BLOCK_WS.sub(_GROUP1, html)
    return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", html))
