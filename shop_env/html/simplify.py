"""``simplify``: raw page -> simplified HTML whose interactive elements carry a ``name``."""
from __future__ import annotations

from dataclasses import dataclass, field

import lxml.etree as etree
from lxml.html import HtmlElement

from shop_env.html import clean
from shop_env.html.elements import Element, element_kind, named_elements
from shop_env.html.naming import INTERACTIVE_XPATH, ORIG_NAME_ATTR, generic_names
from shop_env.html.parse import parse_html
from shop_env.html.recipes import Recipe, apply_recipe, load_recipe, recipe_for_url

_INTERACTIVE = etree.XPath(INTERACTIVE_XPATH)
_NAMED = etree.XPath("//*[@name]")
_FORM_FIELDS = ("input", "select", "textarea", "button", "form", "iframe", "frame", "map",
                "meta", "object", "param", "output", "fieldset", "a", "img", "embed", "slot")
_PRENAMED = etree.XPath(
    "boolean(//*[@name][contains(@name, '.')] | //*[@name][not("
    + " or ".join(f"self::{t}" for t in _FORM_FIELDS) + ")]) and not(//script)")


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
    compiled = load_recipe(recipe) if recipe is not None else (
        recipe_for_url(url) if auto_recipe else None)
    root = parse_html(raw_html)
    prenamed = bool(_PRENAMED(root))
    clean.remove_junk(root)
    clean.remove_hidden(root)
    if root.find("body") is None:
        etree.SubElement(root, "body")
    taken: set[str] = set()
    for el in _NAMED(root):
        if prenamed:
            taken.add(el.get("name"))
        else:  # a raw page's form-field names are not our names; keep them for slugs
            el.set(ORIG_NAME_ATTR, el.attrib.pop("name"))
    misses: list[str] = []
    clickable: set[HtmlElement] = set()
    if compiled is not None:
        result = apply_recipe(root, compiled, url, taken)
        misses, clickable = result.misses, result.clickable
    targets = [el for el in _INTERACTIVE(root) if not el.get("name")]
    targets += [el for el in clickable if not el.get("name")]
    if clickable:
        targets = _document_order(root, targets)
    for el, name in generic_names(targets, taken).items():
        el.set("name", name)
    for el in targets + list(clickable):
        # onclick / recipe-clickable elements get a role so readers can tell they act
        if element_kind(el.tag, el.get("type"), el.get("role")) is None:
            el.set("role", "button")
    clean.strip_svg(root)
    clean.strip_attributes(root, keep_href=keep_href)
    clean.prune(root)
    html = clean.serialize(root)
    return SimplifiedPage(html=html, elements=named_elements(html),
                          recipe=compiled.name if compiled else None,
                          recipe_misses=misses, prenamed=prenamed)


def _document_order(root: HtmlElement, elements: list[HtmlElement]) -> list[HtmlElement]:
    wanted = set(elements)
    return [el for el in root.iter() if el in wanted]
