"""``simplify``: raw page -> simplified HTML whose interactive elements carry a ``name``."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import lxml.etree as etree

from shop_env.html import clean
from shop_env.html.elements import INTERACTIVE_ROLES, INTERACTIVE_TAGS, Element, collapse, element_kind, \
    elements_from_tree
from shop_env.html.naming import ORIG_NAME_ATTR, NameSet, generic_names, label_text
from shop_env.html.parse import Node, parse_html
from shop_env.html.recipes import Recipe, apply_recipe, load_recipe, recipe_for_url

# Elements whose ``name`` attribute is a form-field name on raw pages.
FORM_FIELD_TAGS = frozenset({"input", "select", "textarea", "button", "form", "iframe", "frame",
                             "map", "meta", "object", "param", "output", "fieldset", "a", "img",
                             "embed", "slot"})


@dataclass
class SimplifiedPage:
    """Result of :func:`simplify`.

    ``html``: the simplified page; ``elements``: its named interactive elements in document
    order; ``recipe``: name of the recipe applied (or None); ``recipe_misses``: recipe rules
    that matched nothing (site drift, never fatal); ``prenamed``: the input already carried
    names (an OPeRA / previously simplified page) and they were kept.
    """

    html: str
    elements: list[Element]
    recipe: str | None = None
    recipe_misses: list[str] = field(default_factory=list)
    prenamed: bool = False

    def names(self) -> list[str]:
        """Names of the interactive elements, in document order."""
        return [e.name for e in self.elements]


@dataclass
class _Scan:
    interactive: list[Node]
    named: list[Node]
    hidden: list[Node]
    ids: dict[str, list[Node]]
    attr_names: set[str]
    labels: dict[str, Node]  # label[for] -> the label


_VALID_TAG = re.compile(r"^[a-zA-Z][a-zA-Z0-9]*(?:[-:][a-zA-Z0-9]+)*$")
_SPECIAL = frozenset({"id", "name", "role", "onclick", "for", "href", "tabindex"})


def _live_link(el: Node) -> bool:
    """An ``<a>`` without href, role, handler or tabindex and without content is an anchor
    target, not a control."""
    get = el.get
    if get("href") is not None or get("role") or get("onclick") is not None or \
            get("tabindex") is not None:
        return True
    text = el.text
    return bool(len(el) or (text and not text.isspace()) or get("aria-label") or get("title"))


_HIDING_ATTRS = frozenset({"hidden", "aria-hidden", "style", "type"})


@functools.lru_cache(maxsize=64)
def _any_of(words: frozenset[str]):
    """A quick test (one regex search) whether a string contains any of ``words``."""
    return re.compile("|".join(map(re.escape, sorted(words))) or "(?!)").search


def _scan(root: Node, hidden_classes: frozenset[str] = frozenset()) -> _Scan:
    """One walk over the page. Hidden elements (:func:`clean.is_hidden`) are collected and
    their subtrees skipped; for the rest: interactive elements, elements carrying ``name``,
    the id index, labels by ``for``, and the attribute names (for the one-call strip).
    svg/math internals are skipped too (removed later)."""
    interactive: list[Node] = []
    named: list[Node] = []
    hidden: list[Node] = []
    ids: dict[str, list[Node]] = {}
    labels: dict[str, Node] = {}
    attr_names: set[str] = set()
    special = _SPECIAL.isdisjoint
    hiding = _HIDING_ATTRS.isdisjoint
    by_class = hidden_classes.isdisjoint
    may_hide = _any_of(hidden_classes)
    is_hidden = clean.is_hidden
    interactive_tags = INTERACTIVE_TAGS
    walker = etree.iterwalk(root, events=("start",))
    for _, el in walker:
        keys = el.keys()
        tag = el.tag
        if not tag.isalnum() and not _VALID_TAG.match(tag):
            el.tag = tag = "span"  # the parser kept junk such as "buy<div" as a tag name
        # is_hidden(el, hidden_classes), with its class test inlined (most elements of a
        # recipe's site carry classes, few carry anything else that hides)
        if (hidden_classes and "class" in keys and may_hide(cls := el.get("class"))
                and not by_class(cls.split())) or \
                ((keys and not hiding(keys) or tag == "dialog") and is_hidden(el)):
            hidden.append(el)
            walker.skip_subtree()
            continue
        if tag in _SKIP_INSIDE:
            walker.skip_subtree()
        if keys:
            attr_names.update(keys)
        if not keys or special(keys):
            if tag in interactive_tags and (tag != "a" or _live_link(el)):
                interactive.append(el)
            continue
        get = el.get
        ident = get("id")
        if ident is not None:
            ids.setdefault(ident, []).append(el)
        if get("name") is not None:
            named.append(el)
        if tag == "label":
            target = get("for")
            if target:
                labels.setdefault(target, el)
        if tag in interactive_tags:
            if tag != "a" or _live_link(el):
                interactive.append(el)
            continue
        role = get("role")
        if (role is not None and role.strip().lower() in INTERACTIVE_ROLES) or \
                get("onclick") is not None:
            interactive.append(el)
    return _Scan(interactive, named, hidden, ids, attr_names, labels)


_SKIP_INSIDE = frozenset({"svg", "math"})
_FIELD_TAGS = frozenset({"input", "textarea", "select", "option"})


def _labels_from_references(root: Node, interactive: list[Node]) -> None:
    """A control labelled by other elements (``aria-labelledby="id ..."``, which is dropped
    with the ids) gets their text as its ``aria-label``. Amazon's buttons show their
    text in an ``aria-hidden`` span this way: hidden from screen readers, not from the eye."""
    wanted = {el: refs for el in interactive
              if not el.get("aria-label") and (refs := (el.get("aria-labelledby") or "").split())}
    if not wanted:
        return
    ids = {ident for refs in wanted.values() for ident in refs}
    by_id: dict[str, Node] = {}
    for el in root.iter():
        ident = el.get("id") if isinstance(el.tag, str) else None
        if ident in ids and ident not in by_id:
            by_id[ident] = el
    for el, refs in wanted.items():
        # the words of the referenced labels; never a field's content (the control itself, or
        # a field a label wraps: what was typed, the options)
        sources = [by_id[r] for r in refs if r in by_id and r != el.get("id")]
        text = collapse(" ".join(label_text(src) for src in sources if src.tag not in _FIELD_TAGS))
        if text:
            el.set("aria-label", text)


def _attached(el: Node, root: Node) -> bool:
    top = el
    for top in el.iterancestors():
        pass
    return top is root


def _serialize_stable(root: Node, max_rounds: int = 3) -> tuple[str, Node]:
    """Serialize so that parsing the result gives the same page back; return the HTML and
    the parse of it.

    Unwrapping can create nestings the HTML parser rebuilds differently (an ``<a>`` that
    ends up inside another ``<a>``, a block inside ``<p>``...). The output is parsed again,
    pruned, and written again until it no longer changes (almost always at once)."""
    html = clean.serialize(root)
    again = root
    for _ in range(max_rounds):
        again = parse_html(html)
        clean.prune(again)
        collapsed = clean.serialize_collapsed(again)
        if collapsed == html:  # then serialize(again) == html too: a fixpoint
            break
        html = clean.trim_block_space(collapsed)
    return html, again


_SLUG_PATH = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+\Z")


def _is_prenamed(named: list[Node], attr_names: set[str], had_script: bool) -> bool:
    """Is this page already simplified (its ``name`` attributes are element names to keep)?

    Yes when it has no scripts/styles, carries names, and either a name is a dotted path of
    slugs (``nav_bar.search_input``; a raw form's ``submit.add-to-cart`` or
    ``submit.delete.C2b3`` is not), or a name sits on an element that never takes a
    form-field name, or every attribute on the page is one the simplifier keeps (true of any
    simplify() output, so re-running keeps names verbatim). A raw page without scripts,
    styles, classes, ids or links is indistinguishable from a simplified one and is treated
    as such.
    """
    if had_script or not named:
        return False
    if any(_SLUG_PATH.match(el.get("name") or "") or el.tag not in FORM_FIELD_TAGS for el in named):
        return True
    return all(clean.is_kept_attribute(a) or a == "href" for a in attr_names)


def _dedupe_kept_names(named: list[Node], taken: NameSet) -> None:
    """Keep a simplified page's names; a repeated name gets ``_2``, ``_3``... (first one kept)."""
    for el in named:
        taken.add(el.get("name"))
    seen: set[str] = set()
    for el in named:
        name = el.get("name")
        if name in seen:
            el.set("name", taken.unique(name))
        else:
            seen.add(name)


def simplify(raw_html: str | bytes | None, url: str | None = None,
             recipe: str | dict | Recipe | None = None, *, keep_href: bool = False,
             auto_recipe: bool = True) -> SimplifiedPage:
    """Clean a page and give every interactive element a unique dotted ``name``.

    ``raw_html``: page text or bytes (any encoding; see :func:`shop_env.html.parse.decode_html`).
    ``url``: the page's address; with ``recipe=None`` and ``auto_recipe`` the built-in recipe
    whose domains contain its host is used (amazon.* -> ``"amazon"``); it also selects
    url-scoped recipe rules. ``recipe``: a built-in name, a JSON path, or a dict.
    ``keep_href``: keep link paths (without query/fragment); SPEC's whitelist drops them.
    Never raises on malformed HTML; bad *recipes* raise :class:`shop_env.errors.DataError`.
    Idempotent: ``simplify(simplify(x).html).html == simplify(x).html``.
    """
    return _simplify(raw_html, url, recipe, keep_href, auto_recipe)


def _simplify(raw_html: str | bytes | None, url: str | None, recipe: str | dict | Recipe | None,
              keep_href: bool, auto_recipe: bool) -> SimplifiedPage:
    compiled = load_recipe(recipe) if recipe is not None else (
        recipe_for_url(url) if auto_recipe else None)
    root = parse_html(raw_html)
    had_script = next(root.iter("script", "style"), None) is not None
    clean.remove_junk(root)
    scan = _scan(root, compiled.hidden_classes if compiled is not None else frozenset())
    _labels_from_references(root, scan.interactive)  # before the hidden label texts go
    clean.drop_elements(scan.hidden)
    clean.strip_svg(root)  # before naming: svg text must not feed slugs
    if root.find("body") is None:
        etree.SubElement(root, "body")
    prenamed = _is_prenamed(scan.named, scan.attr_names, had_script)
    taken = NameSet()
    if prenamed:
        _dedupe_kept_names(scan.named, taken)
    else:  # a raw page's form-field names are not our names; keep them for slugs
        for el in scan.named:
            el.set(ORIG_NAME_ATTR, el.attrib.pop("name"))
    misses: list[str] = []
    clickable: set[Node] = set()
    recipe_names: list[Node] = []
    if prenamed:
        compiled = None  # recipes target raw pages; a simplified page keeps its names
    if compiled is not None:
        result = apply_recipe(root, compiled, url, taken, scan.ids)
        misses, clickable, recipe_names = result.misses, result.clickable, list(result.names)
    targets = [el for el in scan.interactive if not el.get("name")]
    if compiled is not None and result.dropped:  # recipe drop rules detached some elements
        targets = [el for el in targets if _attached(el, root)]
    extra = [el for el in clickable if not el.get("name")]
    if extra:
        wanted = set(targets) | set(extra)
        targets = [el for el in root.iter() if el in wanted]
    for el, name in generic_names(targets, taken, scan.labels).items():
        el.set("name", name)
    for el in targets + list(clickable):
        # onclick / recipe-clickable elements get a role so readers can tell they act
        # (the interactive tags always have a kind)
        if el.tag not in INTERACTIVE_TAGS and element_kind(el.tag, el.get("type"),
                                                           el.get("role")) is None:
            el.set("role", "button")
    clean.finalize_attributes(root, scan.named + targets + recipe_names,
                              scan.attr_names | {ORIG_NAME_ATTR}, keep_href=keep_href)
    clean.prune(root)
    html, final = _serialize_stable(root)
    return SimplifiedPage(html=html, elements=elements_from_tree(final),
                          recipe=compiled.name if compiled else None,
                          recipe_misses=misses, prenamed=prenamed)
