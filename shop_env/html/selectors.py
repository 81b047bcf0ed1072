"""CSS selectors for recipes, compiled once, evaluated fast on lxml trees.

cssselect parses the CSS. Simple selectors (type, ``#id``, ``.class``, ``[attr]`` tests
with = ~= ^= $= *= |=, joined by descendant or child combinators) are matched right to
left in Python: candidates come from lxml's C-filtered ``iter(tag)`` and only they are
tested, which is far cheaper than libxml2's XPath on ``descendant::*[...]`` (about a
microsecond per node). A part that starts with ``#id`` is answered from the page's id
index. Anything else (pseudo-classes, sibling combinators) falls back to cssselect's XPath.

Semantics: matches are descendants of the context element (not the context itself); the
other elements of a combinator chain may be the context itself but nothing above it, like
lxml's ``CSSSelector`` (cssselect's ``descendant-or-self::A/descendant::B``). Results are in
document order, without duplicates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import lxml.etree as etree
from cssselect import HTMLTranslator, SelectorError, parse
from cssselect.parser import Attrib, Class, CombinedSelector, Element, Hash

from shop_env.html.parse import Node

_TRANSLATOR = HTMLTranslator()
Test = Callable[[Node], bool]


class _Unsupported(Exception):
    pass


def _attr_test(name: str, op: str, value: str | None) -> Test:
    if op == "exists":
        return lambda el: el.get(name) is not None
    v = value or ""
    if op == "=":
        return lambda el: el.get(name) == v
    if op == "~=":
        return lambda el: v in (el.get(name) or "").split()
    if op == "^=":
        return lambda el: bool(v) and (el.get(name) or "").startswith(v)
    if op == "$=":
        return lambda el: bool(v) and (el.get(name) or "").endswith(v)
    if op == "*=":
        return lambda el: bool(v) and v in (el.get(name) or "")
    if op == "|=":
        return lambda el: (el.get(name) or "") == v or (el.get(name) or "").startswith(v + "-")
    raise _Unsupported(op)


def _class_test(cls: str) -> Test:
    def test(el: Node) -> bool:
        value = el.get("class")
        return value is not None and cls in value and cls in value.split()
    return test


@dataclass
class _Compound:
    """One compound selector: optional tag, id, and attribute/class tests."""

    tag: str | None = None
    id_: str | None = None
    tests: list[Test] = field(default_factory=list)

    def rest_matcher(self) -> Test:
        """A test of everything but the tag (for candidates already filtered by tag)."""
        tests = list(self.tests)
        if self.id_ is not None:
            ident = self.id_
            tests.insert(0, lambda el: el.get("id") == ident)
        if not tests:
            return lambda el: True
        if len(tests) == 1:
            return tests[0]
        if len(tests) == 2:
            a, b = tests
            return lambda el: a(el) and b(el)
        return lambda el: all(t(el) for t in tests)

    def matches(self, el: Node) -> bool:
        if self.tag is not None and el.tag != self.tag:
            return False
        if self.id_ is not None and el.get("id") != self.id_:
            return False
        for test in self.tests:
            if not test(el):
                return False
        return True


def _compound(tree) -> _Compound:
    tests: list[Test] = []
    comp = _Compound()
    while True:
        if isinstance(tree, Element):
            if tree.namespace:
                raise _Unsupported("namespace")
            comp.tag = tree.element.lower() if tree.element and tree.element != "*" else None
            break
        if isinstance(tree, Hash):
            comp.id_ = tree.id
            tree = tree.selector
        elif isinstance(tree, Class):
            cls = tree.class_name
            tests.append(_class_test(cls))
            tree = tree.selector
        elif isinstance(tree, Attrib):
            if tree.namespace:
                raise _Unsupported("namespace")
            value = getattr(tree.value, "value", tree.value)
            tests.append(_attr_test(tree.attrib.lower(), tree.operator, value))
            tree = tree.selector
        else:
            raise _Unsupported(type(tree).__name__)
    comp.tests = list(reversed(tests))
    return comp


@dataclass
class _Part:
    """One selector of a list: a chain of compounds (right-most last), or an XPath."""

    chain: list[_Compound] = field(default_factory=list)
    combinators: list[str] = field(default_factory=list)  # between chain[i] and chain[i+1]
    xpath: etree.XPath | None = None

    def right(self) -> _Compound:
        return self.chain[-1]

    def ancestors_match(self, el: Node, context: Node, memo: dict[Node, bool],
                        context_may_match: bool = True) -> bool:
        """Does the chain left of the right-most compound match above ``el``?

        Ancestors up to and including ``context`` may match (cssselect's
        ``descendant-or-self::A/descendant::B``); with ``context_may_match=False`` only
        those strictly below it. ``memo`` (one dict per part, select call and strictness)
        caches, for ``A B`` chains, whether a node or one of its ancestors up to the
        context matches ``A``, so sibling candidates share the walk.
        """
        if len(self.chain) == 2 and self.combinators[0] == " ":
            comp = self.chain[0]
            path = []
            node = el.getparent()
            result = False
            while node is not None:
                known = memo.get(node)
                if known is not None:
                    result = known
                    break
                path.append(node)
                if node is context and not context_may_match:
                    break
                if comp.matches(node):
                    result = True
                    break
                if node is context:
                    break
                node = node.getparent()
            for n in path:
                memo[n] = result
            return result
        return self._chain_matches(el, len(self.chain) - 2, context, context_may_match)

    def _chain_matches(self, node: Node, i: int, context: Node, context_may_match: bool) -> bool:
        """Can compounds ``chain[:i+1]`` be matched on ancestors of ``node`` (backtracking)?"""
        if i < 0:
            return True
        if node is context:
            return False  # nothing above the context may take part
        comp, comb = self.chain[i], self.combinators[i]
        parent = node.getparent()
        if parent is context and not context_may_match:
            return False
        if comb == ">":
            return parent is not None and comp.matches(parent) and \
                self._chain_matches(parent, i - 1, context, context_may_match)
        while parent is not None:
            if parent is context and not context_may_match:
                return False
            if comp.matches(parent) and self._chain_matches(parent, i - 1, context, context_may_match):
                return True
            if parent is context:
                return False
            parent = parent.getparent()
        return False


def _part(css_part) -> _Part:
    tree = css_part.parsed_tree
    if css_part.pseudo_element:
        raise _Unsupported("pseudo-element")
    chain: list[_Compound] = []
    combs: list[str] = []
    while isinstance(tree, CombinedSelector):
        if tree.combinator not in (" ", ">"):
            raise _Unsupported(tree.combinator)
        chain.append(_compound(tree.subselector))
        combs.append(tree.combinator)
        tree = tree.selector
    chain.append(_compound(tree))
    chain.reverse()
    combs.reverse()
    return _Part(chain=chain, combinators=combs)


@dataclass
class Selector:
    """A compiled CSS selector list (``"a, #b .c"``)."""

    css: str
    parts: list[_Part] = field(default_factory=list)

    @classmethod
    def compile(cls, css: str) -> "Selector":
        """Compile; raises ``cssselect.SelectorError`` on invalid CSS."""
        sel = cls(css)
        for p in parse(css):
            try:
                sel.parts.append(_part(p))
            except _Unsupported:
                sel.parts.append(_Part(xpath=etree.XPath(_TRANSLATOR.selector_to_xpath(p))))
        return sel

    def select(self, context: Node, ids: dict[str, list[Node]], first: bool = False) -> list[Node]:
        """Elements matching among the descendants of ``context``, in document order.
        ``ids`` maps id -> the elements carrying it, in document order. ``first``: only
        the first of them (the scan stops there)."""
        groups: list[list[Node]] = []
        scan_parts: list[_Part] = []
        for part in self.parts:
            if part.xpath is not None:
                groups.append([el for el in part.xpath(context)
                               if isinstance(el, etree._Element) and el is not context])
            elif part.chain[0].id_ is not None:
                groups.append(self._from_id(part, context, ids))
            else:
                scan_parts.append(part)
        if scan_parts:
            groups.append(self._scan(scan_parts, context, first))
        groups = [g[:1] if first else g for g in groups if g]
        if not groups:
            return []
        if len(groups) == 1:
            return groups[0]
        merged = document_order(list({el: None for g in groups for el in g}))
        return merged[:1] if first else merged

    @staticmethod
    def _scan(parts: list[_Part], context: Node, first: bool = False,
              context_may_match: bool = True) -> list[Node]:
        tags = {p.right().tag for p in parts}
        candidates = context.iter() if None in tags else context.iter(*tags)
        by_tag: dict[str | None, list] = {}
        for p in parts:  # the right-most compound's tag is tested by the dispatch
            by_tag.setdefault(p.right().tag, []).append(
                (p.right().rest_matcher(), p, len(p.chain) == 1, {}))
        anywhere = by_tag.pop(None, [])
        out = []
        for el in candidates:
            if el is context:
                continue
            checks = by_tag.get(el.tag)
            if checks is None:
                if not anywhere:
                    continue
                checks = anywhere
            elif anywhere:
                checks = checks + anywhere
            for match, part, single, memo in checks:
                if match(el) and (single or part.ancestors_match(el, context, memo, context_may_match)):
                    out.append(el)
                    break
            if first and out:
                break
        return out

    @staticmethod
    def _from_id(part: _Part, context: Node, ids: dict[str, list[Node]]) -> list[Node]:
        head = part.chain[0]
        out: list[Node] = []
        for anchor in ids.get(head.id_, ()):
            if not head.matches(anchor):
                continue
            if len(part.chain) == 1:
                if _inside(anchor, context):
                    out.append(anchor)
                continue
            if anchor is not context and not _inside(anchor, context):
                continue
            rest = _Part(chain=part.chain[1:], combinators=part.combinators[1:])
            out.extend(_below(anchor, part.combinators[0], rest))
        return out if len(out) < 2 else document_order(list(dict.fromkeys(out)))


def _below(anchor: Node, combinator: str, part: _Part) -> list[Node]:
    """Matches of ``part`` whose whole chain lies strictly below ``anchor``, its first
    compound a child (``">"``) or a descendant (``" "``) of it: ``#id > A B`` from the
    element carrying the id. In document order."""
    if combinator == " ":
        return Selector._scan([part], anchor, context_may_match=False)
    heads = [c for c in anchor if isinstance(c.tag, str) and part.chain[0].matches(c)]
    if len(part.chain) == 1:
        return heads
    rest = _Part(chain=part.chain[1:], combinators=part.combinators[1:])
    return [el for head in heads for el in _below(head, part.combinators[0], rest)]


def _inside(el: Node, context: Node) -> bool:
    for anc in el.iterancestors():
        if anc is context:
            return True
    return False


def document_order(elements: list[Node]) -> list[Node]:
    """Sort elements of one tree by document order (cheap for the few elements recipes merge)."""
    def key(el: Node) -> tuple[int, ...]:
        path = []
        node = el
        parent = node.getparent()
        while parent is not None:
            path.append(parent.index(node))
            node, parent = parent, parent.getparent()
        path.reverse()
        return tuple(path)
    return sorted(elements, key=key)


__all__ = ["Selector", "SelectorError", "document_order"]
