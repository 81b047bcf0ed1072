"""Generic names for interactive elements: dotted paths of meaningful ancestors + own slug.

Rules (documented in the package docstring, tested in tests/test_html_naming.py):

* segment of a meaningful ancestor (``nav header form section aside main footer`` or a
  landmark role): slug of its ``aria-label``, else ``id``, else form ``name``, else its tag;
  an ancestor that already carries a ``name`` (recipe container, or a simplified page)
  contributes its whole name and the walk stops there;
* item context: inside a repeated item (``article``, ``li``, ``tr``, role listitem/row/
  article) holding two or more interactive elements, the item's label (aria-label, first
  heading, else first link text) is added, so "Add to cart" in each product card differs;
* own slug: aria-label, a form field's ``<label>``, visible text (the value of a
  submit/button input), img alt, title,
  placeholder, value, the raw page's form-field ``name``, id, then the tag; non-ASCII
  letters are transliterated (é -> e); at most 8 words / 60 characters;
* uniqueness: later duplicates get ``_2``, ``_3``... in the order names are handed out
  (recipe matches first, then the remaining elements in document order).

Stability: a name depends only on the element, its ancestors and (for the item label) its
item, so inserting unrelated content elsewhere (an ad block, a new product card) leaves
other names unchanged, except for duplicate suffixes when the new content repeats a name
that already exists in the same container.
"""
from __future__ import annotations

import copy
import functools
import re
import unicodedata
from typing import Iterable, Iterator

import lxml.etree as etree

from shop_env.html.parse import Node, text_of

MEANINGFUL_TAGS = frozenset({"nav", "header", "form", "section", "aside", "main", "footer"})
LANDMARK_ROLES = frozenset({"navigation", "search", "banner", "main", "contentinfo",
                            "complementary", "region", "form", "dialog"})
ITEM_TAGS = frozenset({"article", "li", "tr"})
ITEM_ROLES = frozenset({"listitem", "row", "article"})
ORIG_NAME_ATTR = "data-shop-orig-name"  # a raw page's form-field name, kept for slugs
MAX_WORDS = 8
MAX_CHARS = 60
MAX_SEGMENTS = 4  # innermost meaningful ancestors kept in a generic path

_NON_SLUG = re.compile(r"[^a-z0-9]+")
_HEADINGS = "h1 h2 h3 h4 h5 h6".split()

# cached: pages repeat the same texts ("Add to cart", filter labels...) many times
@functools.lru_cache(maxsize=4096)
def slugify(text: str | None, max_words: int = MAX_WORDS, max_chars: int = MAX_CHARS) -> str:
    """Lowercase ASCII slug: runs of ``[^a-z0-9]`` become ``_``, edges stripped, truncated."""
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = _NON_SLUG.sub(" ", text.lower()).split()
    slug = "_".join(words[:max_words])
    if len(slug) > max_chars:
        slug = slug[:max_chars].rsplit("_", 1)[0] if "_" in slug[:max_chars] else slug[:max_chars]
    return slug


_BUTTON_INPUTS = frozenset({"submit", "button", "reset"})


def _field_label(el: Node, labels: dict[str, Node]) -> str | None:
    """Text of the ``<label>`` of a form field: ``label[for=id]``, else an enclosing label."""
    ident = el.get("id")
    label = labels.get(ident) if ident else None
    if label is None:
        for depth, anc in enumerate(el.iterancestors()):
            if anc.tag == "label":
                label = anc
                break
            if depth >= 3:
                break
    return label_text(label) if label is not None else None


# Elements whose text is a field's content, not its label (what was typed, the options).
_FIELD_CONTENT = ("textarea", "select", "option", "optgroup", "datalist")


def label_text(label: Node) -> str:
    """A label's own words: a field inside it contributes nothing, so its content (an
    address typed in, the options offered) never reaches the name."""
    if not any(True for _ in label.iter(*_FIELD_CONTENT)):
        return text_of(label, MAX_WORDS)
    own = copy.deepcopy(label)
    own.tail = None
    etree.strip_elements(own, *_FIELD_CONTENT, with_tail=False)
    return text_of(own, MAX_WORDS)


def _slug_sources(el: Node, labels: dict[str, Node]) -> Iterator[str | None]:
    """Candidate texts for an element's own slug, best first (lazily computed)."""
    get = el.get
    tag = el.tag
    yield get("aria-label")
    if tag in ("input", "select", "textarea") and (get("type") or "").lower() not in _BUTTON_INPUTS:
        yield _field_label(el, labels)
    if tag == "input":
        kind = (get("type") or "text").strip().lower()
        if kind in _BUTTON_INPUTS:
            yield get("value")
        elif kind == "image":
            yield get("alt")
    elif tag == "area":  # a link of an image map: its alt is its label
        yield get("alt")
    elif tag not in ("textarea", "select"):
        yield text_of(el, MAX_WORDS)
        for img in el.iter("img"):
            yield img.get("alt")
        for icon in el.iter("svg"):  # an icon button: the svg's label (strip_svg keeps it)
            yield icon.get("aria-label")
    yield get("title")
    yield get("placeholder")
    if tag != "input":
        yield get("value")
    # a raw page's form-field name (moved aside), or on a re-run our own earlier name
    yield get(ORIG_NAME_ATTR)
    yield get("name")
    yield get("id")


def own_slug(el: Node, labels: dict[str, Node] | None = None) -> str:
    """Slug for the element itself: aria-label, the ``<label>`` of a form field, visible
    text (value for button inputs), img alt, title, placeholder, value, form-field name,
    id; else the tag. ``labels`` maps ids to ``label[for]`` elements."""
    for src in _slug_sources(el, labels or {}):
        slug = slugify(src)
        if slug:
            return slug
    tag = el.tag if isinstance(el.tag, str) else "element"
    return slugify(tag) or "element"


def ancestor_segment(el: Node) -> str | None:
    """Segment contributed by a meaningful ancestor, or None if it is not meaningful."""
    role = (el.get("role") or "").lower()
    if el.tag not in MEANINGFUL_TAGS and role not in LANDMARK_ROLES:
        return None
    form_name = el.get(ORIG_NAME_ATTR) or el.get("name") if el.tag == "form" else None
    for src in (el.get("aria-label"), el.get("id"), form_name):
        slug = slugify(src, max_words=4, max_chars=30)
        if slug:
            return slug
    return el.tag if el.tag in MEANINGFUL_TAGS else slugify(role)


def is_item(el: Node) -> bool:
    return el.tag in ITEM_TAGS or (el.get("role") or "").lower() in ITEM_ROLES


def item_label(item: Node) -> str:
    """Slug naming a repeated item (product card, row): aria-label, first heading, first link."""
    slug = slugify(item.get("aria-label"))
    if slug:
        return slug
    for h in item.iter(*_HEADINGS):
        slug = slugify(text_of(h, MAX_WORDS))
        if slug:
            return slug
    for a in item.iter("a"):
        slug = own_slug(a) if text_of(a, 1).strip() else ""
        if slug:
            return slug
    return ""


# Naming context a node gives the elements inside it: (prefix from the nearest named
# ancestor-or-self, meaningful segments innermost first, nearest item ancestor-or-self).
_Ctx = tuple  # tuple[str | None, tuple[str, ...], Node | None]
_EMPTY_CTX: _Ctx = (None, (), None)


def _context(node: Node, memo: dict[Node, _Ctx]) -> _Ctx:
    """Context of ``node`` for the elements inside it, memoized so that targets sharing
    ancestors share the walk (total work ~ number of distinct ancestors, not targets x depth)."""
    path = []
    ctx = _EMPTY_CTX
    while node is not None:
        known = memo.get(node)
        if known is not None:
            ctx = known
            break
        name = node.get("name")
        if name:
            ctx = (name, (), None)
            memo[node] = ctx
            break
        path.append(node)
        node = node.getparent()
    for node in reversed(path):  # outermost first
        # inlined ancestor_segment / is_item tests: most ancestors are neither
        tag = node.tag
        role = node.get("role")
        if role is not None:
            role = role.lower()
        if tag in MEANINGFUL_TAGS or role in LANDMARK_ROLES:
            seg = ancestor_segment(node)
            if seg:
                ctx = (ctx[0], (seg,) + ctx[1], ctx[2])
        if tag in ITEM_TAGS or role in ITEM_ROLES:
            ctx = (ctx[0], ctx[1], node)
        memo[node] = ctx
    return ctx


def _contexts(targets: list[Node]) -> list[_Ctx]:
    """The naming context of each target's parent."""
    memo: dict[Node, _Ctx] = {}
    return [_context(parent, memo) if (parent := el.getparent()) is not None else _EMPTY_CTX
            for el in targets]


def generic_names(targets: Iterable[Node], taken: NameSet,
                  labels: dict[str, Node] | None = None) -> dict[Node, str]:
    """Assign a unique dotted name to every element of ``targets`` (in the order given).

    An ancestor carrying a ``name`` attribute (a recipe container, or any named element of
    an already simplified page) contributes its whole name as prefix and ends the walk.
    ``taken`` holds the names already used on the page and is updated.
    """
    targets = list(targets)
    chains = _contexts(targets)
    item_counts: dict[Node, int] = {}
    for _, _, item in chains:
        if item is not None:
            item_counts[item] = item_counts.get(item, 0) + 1
    item_labels: dict[Node, str] = {}
    result: dict[Node, str] = {}
    unique = taken.unique
    for el, (prefix, segments, item) in zip(targets, chains):
        own = own_slug(el, labels)
        path = segments[MAX_SEGMENTS - 1::-1]  # the innermost MAX_SEGMENTS, outermost first
        if prefix:
            path = (prefix,) + path
        if item is not None and item_counts[item] >= 2:
            label = item_labels.get(item)
            if label is None:
                label = item_labels[item] = item_label(item)
            if label and label != own:
                path += (label,)
        result[el] = unique(".".join(path + (own,)))
    return result


class NameSet:
    """Names used on one page; hands out unique ones (``base``, ``base_2``, ``base_3``...).

    A counter per base makes n duplicates of one base cost O(n), not O(n^2).
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._used: set[str] = set(names)
        self._next: dict[str, int] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._used

    def __len__(self) -> int:
        return len(self._used)

    def add(self, name: str) -> None:
        """Mark ``name`` as used (an existing name that must be kept)."""
        self._used.add(name)

    def unique(self, base: str) -> str:
        """``base`` if free, else the first free ``base_<n>`` (n >= 2); marks it used."""
        used = self._used
        if base not in used:
            used.add(base)
            return base
        n = self._next.get(base, 2)
        name = f"{base}_{n}"
        while name in used:
            n += 1
            name = f"{base}_{n}"
        self._next[base] = n + 1
        used.add(name)
        return name
