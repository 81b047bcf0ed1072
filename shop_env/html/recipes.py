"""Declarative site recipes (in the spirit of UXAgent's recipe parser), applied with lxml.

A recipe is JSON (or a dict)::

    {"name": "amazon", "domains": ["amazon.com", ...], "hidden_classes": ["aok-hidden"],
     "rules": [{"selector": "#navbar", "name": "nav_bar", "first": true, "required": true,
                "children": [{"selector": "#twotabsearchtextbox", "name": "search_input"}]}]}

``hidden_classes``: CSS classes the site uses to hide elements; such elements are removed
with the other hidden ones (a cheap check in the hidden-element walk).

Rule keys:
  selector      CSS selector, evaluated among the descendants of the parent match
                (top-level rules: the whole page). Required.
  name          name segment; ``"from_text"`` slugs the element's text (or that of
                ``text_selector``); omitted: the rule groups children without a segment.
                A match's full name is its named parent's full name + "." + segment.
  children      rules applied inside every match.
  clickable     the match is an interactive (click) element even if it is not natively.
  add_text      false: the match's text is left out of the simplified page (default true).
  text_selector CSS selector inside the match whose text feeds ``"from_text"``.
  first         use only the first match in document order.
  drop          remove the match (ads, carousels) instead of naming it.
  url           regex; a top-level rule applies only when the page url matches (or url
                is unknown).
  required      report a miss for this top-level rule even without a url match.
  optional      the rule may match nothing without being reported.

Matching: a selector matches among the descendants of its parent match (cssselect's
``descendant-or-self::A/descendant::B`` semantics: the parent itself may play ``A``). When a
rule has five or more parent matches (product cards), its selector runs once from the
grandparent's scope and each hit goes to its nearest enclosing parent match, which is the
same result unless parent matches nest. Names are unique per page (``_2`` suffixes), and an
element that already has a name keeps it (the first rule to name it wins).

Recipe drift: a child rule that matched nothing inside any of its parent's matches, a
top-level rule whose ``url`` matched the page but whose selector matched nothing, and a
``required`` rule that matched nothing, are listed in ``recipe_misses``; never fatal.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import lxml.etree as etree
from cssselect import SelectorError

from shop_env.errors import DataError
from shop_env.html.clean import drop_elements
from shop_env.html.naming import MAX_WORDS, NameSet, own_slug, slugify
from shop_env.html.parse import Node, text_of
from shop_env.html.selectors import Selector


RULE_KEYS = frozenset({"selector", "name", "children", "clickable", "add_text", "text_selector",
                       "first", "drop", "url", "required", "optional", "comment"})
RECIPE_KEYS = frozenset({"name", "domains", "rules", "hidden_classes", "description", "comment"})


@dataclass
class Rule:
    """One compiled recipe rule (see the module docstring for the keys)."""

    selector: str
    path: str  # where the rule sits in the recipe, for messages
    selector_: Selector
    name: str | None = None
    children: list["Rule"] = field(default_factory=list)
    clickable: bool = False
    add_text: bool = True
    text_selector_: Selector | None = None
    first: bool = False
    drop: bool = False
    url: re.Pattern[str] | None = None
    required: bool = False
    optional: bool = False


@dataclass
class Recipe:
    """A compiled recipe: its name, the domains it is for, and its top-level rules."""

    name: str
    domains: tuple[str, ...]
    rules: list[Rule]
    hidden_classes: frozenset[str] = frozenset()
    # the JSON spec it was compiled from (what worker processes receive: see batch.py)
    spec: dict | None = field(default=None, repr=False, compare=False)


@dataclass
class RecipeResult:
    """What applying a recipe decided: element -> full name, clickables, misses."""

    names: dict[Node, str] = field(default_factory=dict)
    clickable: set[Node] = field(default_factory=set)
    misses: list[str] = field(default_factory=list)
    child_hits: dict[str, tuple[Rule, int]] = field(default_factory=dict)
    dropped: int = 0


@lru_cache(maxsize=512)
def _compiled(css: str) -> Selector:
    return Selector.compile(css)


def _compile_rule(spec: Any, where: str, source: str) -> Rule:
    if not isinstance(spec, dict):
        raise DataError("a rule must be an object", path=source, field=where)
    unknown = set(spec) - RULE_KEYS
    if unknown:
        raise DataError(f"unknown rule key(s) {sorted(unknown)}", path=source, field=where)
    selector = spec.get("selector")
    if not isinstance(selector, str) or not selector.strip():
        raise DataError("missing or empty 'selector'", path=source, field=f"{where}.selector")
    try:
        compiled = _compiled(selector)
        text_sel = _compiled(spec["text_selector"]) if spec.get("text_selector") else None
    except (SelectorError, etree.XPathSyntaxError, TypeError) as e:
        raise DataError(f"bad CSS selector: {e}", path=source, field=f"{where}.selector") from e
    name = spec.get("name")
    if name is not None and (not isinstance(name, str) or (name != "from_text" and not
                                                          re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", name))):
        raise DataError(f"name must be 'from_text' or a slug like 'search_input', got {name!r}",
                        path=source, field=f"{where}.name")
    try:
        url = re.compile(spec["url"]) if spec.get("url") else None
    except re.error as e:
        raise DataError(f"bad url regex: {e}", path=source, field=f"{where}.url") from e
    children = spec.get("children", [])
    if not isinstance(children, list):
        raise DataError("'children' must be a list", path=source, field=f"{where}.children")
    label = name or selector
    return Rule(selector=selector, path=where if not name else f"{where}({label})",
                selector_=compiled,
                name=name, clickable=bool(spec.get("clickable", False)),
                add_text=bool(spec.get("add_text", True)), text_selector_=text_sel,
                first=bool(spec.get("first", False)), drop=bool(spec.get("drop", False)),
                url=url, required=bool(spec.get("required", False)),
                optional=bool(spec.get("optional", False)),
                children=[_compile_rule(c, f"{where}.children[{i}]", source)
                          for i, c in enumerate(children)])


def compile_recipe(spec: dict, source: str = "<recipe>") -> Recipe:
    """Validate and compile a recipe dict; bad recipes raise DataError naming the field."""
    if not isinstance(spec, dict):
        raise DataError("a recipe must be a JSON object", path=source)
    unknown = set(spec) - RECIPE_KEYS
    if unknown:
        raise DataError(f"unknown recipe key(s) {sorted(unknown)}", path=source)
    rules = spec.get("rules")
    if not isinstance(rules, list):
        raise DataError("'rules' must be a list", path=source, field="rules")
    domains = spec.get("domains", [])
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise DataError("'domains' must be a list of strings", path=source, field="domains")
    hidden = spec.get("hidden_classes", [])
    if not isinstance(hidden, list) or not all(isinstance(c, str) and c.split() == [c] for c in hidden):
        raise DataError("'hidden_classes' must be a list of class names", path=source,
                        field="hidden_classes")
    return Recipe(name=str(spec.get("name", "custom")), domains=tuple(d.lower() for d in domains),
                  rules=[_compile_rule(r, f"rules[{i}]", source) for i, r in enumerate(rules)],
                  hidden_classes=frozenset(hidden), spec=spec)


def builtin_recipes() -> list[str]:
    """Names of the recipes shipped in ``shop_env/html/recipes/``."""
    return list(_builtin_names())


@lru_cache(maxsize=1)
def _builtin_names() -> tuple[str, ...]:
    folder = resources.files("shop_env.html") / "recipes"
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json")))


@lru_cache(maxsize=256)
def _recipe_for_host(host: str) -> Recipe | None:
    for name in _builtin_names():
        recipe = _load_named(name)
        if any(host == d or host.endswith("." + d) for d in recipe.domains):
            return recipe
    return None


@lru_cache(maxsize=32)
def _load_named(name: str) -> Recipe:
    if name in _builtin_names():
        ref = resources.files("shop_env.html") / "recipes" / f"{name}.json"
        source = str(ref)
        text = ref.read_text(encoding="utf-8")
    else:
        path = Path(name)
        if not path.is_file():
            raise DataError(f"no such recipe: built-in ones are {builtin_recipes()}, "
                            f"or give a path to a .json file", path=name)
        source, text = str(path), path.read_text(encoding="utf-8")
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON: {e.msg}", path=source, row=e.lineno) from e
    return compile_recipe(spec, source)


def load_recipe(recipe: str | dict | Recipe) -> Recipe:
    """A Recipe from a built-in name (``"amazon"``), a path to a JSON file, or a dict."""
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, dict):
        return compile_recipe(recipe)
    return _load_named(str(recipe))


def recipe_for_url(url: str | None) -> Recipe | None:
    """The built-in recipe whose ``domains`` contain the url's host (or a parent domain)."""
    if not url:
        return None
    try:
        host = (urlsplit(url if "//" in url else "//" + url).hostname or "").lower()
    except ValueError:
        return None
    return _recipe_for_host(host)


BATCH_MIN_PARENTS = 5  # from this many parent matches on, a child rule is matched once


def apply_recipe(root: Node, recipe: Recipe, url: str | None, taken: NameSet,
                 ids: dict[str, list[Node]] | None = None) -> RecipeResult:
    """Match the recipe against the tree: name matches, collect clickables and misses.

    Elements that already carry a ``name`` keep it. Names are made unique against
    ``taken`` (updated in place). Dropped matches are removed from the tree. ``ids`` is
    the page's id index (id -> elements); built here when not given.
    """
    if ids is None:
        ids = {}
        for el in root.iter():
            ident = el.get("id")
            if ident:
                ids.setdefault(ident, []).append(el)
    ctx = _Context(ids=ids, result=RecipeResult(), taken=taken)
    for rule in recipe.rules:
        url_hit = rule.url is not None and url is not None and bool(rule.url.search(url))
        if rule.url is not None and url is not None and not url_hit:
            continue
        matches = _select(rule, root, ids)
        if not matches:
            if rule.required or (url_hit and not rule.optional):
                ctx.result.misses.append(f"{rule.path}: selector {rule.selector!r} matched nothing")
            continue
        _apply(rule, matches, [None] * len(matches), root, ctx)
    for rule, hits in ctx.result.child_hits.values():
        if hits == 0:
            ctx.result.misses.append(f"{rule.path}: selector {rule.selector!r} matched nothing")
    return ctx.result


@dataclass
class _Context:
    ids: dict[str, list[Node]]
    result: RecipeResult
    taken: NameSet


def _select(rule: Rule, context: Node, ids: dict[str, list[Node]]) -> list[Node]:
    """The rule's matches inside ``context`` (only the first one for ``first`` rules)."""
    return rule.selector_.select(context, ids, first=rule.first)


def _first(rule: Rule, found: list[Node]) -> list[Node]:
    return found[:1] if rule.first else found


def _children_of(rule: Rule, parents: list[Node], scope: Node, ctx: _Context) -> list[list[Node]]:
    """Matches of ``rule`` inside each parent. With many parents the selector runs once
    from ``scope`` and each hit goes to its nearest enclosing parent."""
    if len(parents) < BATCH_MIN_PARENTS:
        return [_select(rule, p, ctx.ids) for p in parents]
    index = {p: i for i, p in enumerate(parents)}
    per: list[list[Node]] = [[] for _ in parents]
    for hit in rule.selector_.select(scope, ctx.ids):
        for anc in hit.iterancestors():
            i = index.get(anc)
            if i is not None:
                per[i].append(hit)
                break
            if anc is scope:
                break
    return [_first(rule, hits) for hits in per]


def _apply(rule: Rule, matches: list[Node], prefixes: list[str | None], scope: Node,
           ctx: _Context) -> None:
    """Name every match of ``rule``, then apply each child rule across all matches."""
    kept: list[Node] = []
    fulls: list[str | None] = []
    for el, prefix in zip(matches, prefixes):
        if rule.drop:
            if el.getparent() is not None:
                drop_elements([el])
                ctx.result.dropped += 1
            continue
        kept.append(el)
        fulls.append(_name(el, rule, prefix, ctx))
        if rule.clickable:
            ctx.result.clickable.add(el)
    for child in rule.children:
        per = _children_of(child, kept, scope, ctx)
        found = [c for hits in per for c in hits]
        if not child.optional:
            seen = ctx.result.child_hits.get(child.path, (child, 0))[1]
            ctx.result.child_hits[child.path] = (child, seen + len(found))
        if found:
            child_prefixes = [full for full, hits in zip(fulls, per) for _ in hits]
            _apply(child, found, child_prefixes, kept[0] if len(kept) == 1 else scope, ctx)
    if not rule.add_text:
        for el in kept:
            for node in list(el.iter()):
                node.text = None
                if node is not el:
                    node.tail = None


def _name(el: Node, rule: Rule, prefix: str | None, ctx: _Context) -> str | None:
    """The match's full name (set as its ``name``); an existing name is kept."""
    existing = el.get("name")
    if existing:
        return existing
    if not rule.name:
        return prefix
    seg = rule.name
    if seg == "from_text":
        src = el
        if rule.text_selector_ is not None:
            found = rule.text_selector_.select(el, ctx.ids, first=True)
            src = found[0] if found else el
        seg = (slugify(src.get("aria-label")) or slugify(text_of(src, MAX_WORDS))
               or slugify(src.get("alt")) or own_slug(el))
    full = ctx.taken.unique(f"{prefix}.{seg}" if prefix else seg)
    el.set("name", full)
    ctx.result.names[el] = full
    return full
