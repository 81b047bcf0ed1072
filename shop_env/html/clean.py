"""Cleaning passes on an lxml tree: junk, hidden elements, attributes, empty wrappers.

Every pass is a handful of C-level lxml calls (``strip_elements``, ``strip_tags``, XPath)
plus Python work proportional to the elements that XPath selected, except the attribute
whitelist, which visits each element once.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import lxml.etree as etree
from lxml.html import HtmlElement

# Elements removed with their content (their tail text is kept).
JUNK_TAGS = ("script", "style", "noscript", "template", "iframe", "frame", "frameset",
             "object", "embed", "canvas", "link", "meta", "base", "audio", "video", "source",
             "track", "map")


# Attribute whitelist (SPEC "Observation": name, role, aria-*, type, value, alt, title).
# Decisions: ``placeholder`` kept (it is what a user reads in an empty input); the boolean
# states ``checked``, ``selected``, ``disabled`` kept (a ticked filter is page content);
# ``href`` dropped by default (long, tracking-laden, user-specific; opt in with keep_href);
# aria-* attributes that only point at ids (which are dropped) are dropped too.
KEEP_ATTRS = frozenset({"name", "role", "type", "value", "alt", "title", "placeholder",
                        "checked", "selected", "disabled"})
DROP_ARIA = frozenset({"aria-labelledby", "aria-describedby", "aria-controls", "aria-owns",
                       "aria-activedescendant", "aria-details", "aria-errormessage",
                       "aria-flowto"})
_LOWER = "translate({}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
_NOSPACE_LOWER = "translate({}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ \t\r\n', 'abcdefghijklmnopqrstuvwxyz')"
_HIDDEN_XPATH = etree.XPath(
    "//*[@hidden] | //*[" + _LOWER.format("@aria-hidden") + "='true']"
    " | //input[" + _LOWER.format("@type") + "='hidden']"
    " | //*[@style][contains(" + _NOSPACE_LOWER.format("@style") + ", 'display:none')"
    " or contains(" + _NOSPACE_LOWER.format("@style") + ", 'visibility:hidden')]"
    " | //dialog[not(@open)]")

# Containers that may be removed when they hold nothing, and inline/block classes for unwrap.
PRUNABLE = ("div", "span", "font", "center", "p", "b", "i", "u", "em", "strong", "small",
            "ul", "ol", "li", "dl", "dt", "dd", "section", "article", "header", "footer",
            "aside", "nav", "main", "figure", "br")
BLOCK = ("div", "section", "article", "header", "footer", "aside", "nav", "main", "ul", "ol",
         "dl", "table", "form", "p", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "fieldset")
_IS_PRUNABLE = " or ".join(f"self::{t}" for t in PRUNABLE)
_EMPTY_XPATH = etree.XPath(
    f"//*[{_IS_PRUNABLE}][not(@*)][not(normalize-space())]"
    f"[not(.//*[@* or not({_IS_PRUNABLE})])]")
_IS_BLOCK = " or ".join(f"self::{t}" for t in BLOCK)
_WRAPPER_XPATH = etree.XPath(
    "//*[self::div or self::span or self::font or self::center][not(@*)][count(*)=1]"
    "[not(text()[normalize-space()])]"
    f"[self::span or self::font or *[{_IS_BLOCK}]]")
_SVG_XPATH = etree.XPath("//svg | //math")
_MARK = "shop-r1-x"


def remove_junk(root: HtmlElement) -> None:
    """Drop scripts, styles, embeds, head metadata and the like, with their content."""
    etree.strip_elements(root, *JUNK_TAGS, etree.Comment, etree.ProcessingInstruction,
                         with_tail=False)


def remove_hidden(root: HtmlElement) -> None:
    """Drop hidden elements: ``hidden``, ``aria-hidden=true``, inline display:none /
    visibility:hidden, ``input type=hidden``, closed ``dialog``."""
    _drop(_HIDDEN_XPATH(root))


def strip_svg(root: HtmlElement) -> None:
    """Drop svg/math internals; keep the outer element only if it carries a label."""
    for el in _SVG_XPATH(root):
        if el.get("aria-label") or el.get("title") or el.get("role") or el.get("name"):
            for child in list(el):
                el.remove(child)
            el.text = None
        else:
            el.tag = _MARK
    etree.strip_elements(root, _MARK, with_tail=False)


def strip_attributes(root: HtmlElement, keep_href: bool = False) -> None:
    """Keep only whitelisted attributes; drop values of password inputs."""
    keep = KEEP_ATTRS | {"href"} if keep_href else KEEP_ATTRS
    for el in root.iter():
        attrib = el.attrib
        if not attrib:
            continue
        for key in attrib.keys():
            if key in keep:
                continue
            if key.startswith("aria-") and key not in DROP_ARIA:
                continue
            del attrib[key]
        if el.tag == "input" and "value" in attrib and (attrib.get("type") or "").lower() == "password":
            del attrib["value"]
        if keep_href and "href" in attrib:
            attrib["href"] = _clean_href(attrib["href"])


def _clean_href(href: str) -> str:
    """Path of a link without query string or fragment (those carry session/tracking ids)."""
    try:
        parts = urlsplit(href.strip())
    except ValueError:
        return ""
    if parts.scheme and parts.scheme not in ("http", "https"):
        return ""
    return f"{parts.scheme + '://' if parts.scheme else ''}{parts.netloc}{parts.path}"


def prune(root: HtmlElement) -> None:
    """Remove attribute-less containers holding no text, then unwrap attribute-less wrappers
    whose only content is one element (a block for div/center, anything for span/font)."""
    _drop(_EMPTY_XPATH(root))
    for _ in range(8):  # unwrapping can expose a new wrapper only in odd inline/block mixes
        found = _WRAPPER_XPATH(root)
        if not found:
            break
        for el in found:
            el.tag = _MARK
        etree.strip_tags(root, _MARK)


def _drop(elements: list) -> None:
    """Remove elements with their content, keeping tails (one C call)."""
    if not elements:
        return
    for el in elements:
        if isinstance(el.tag, str):
            el.tag = _MARK
    root = elements[0].getroottree().getroot()
    etree.strip_elements(root, _MARK, with_tail=False)
    if root.tag == _MARK:  # the root itself was hidden
        root.tag = "html"
        for child in list(root):
            root.remove(child)
        root.text = None
        etree.SubElement(root, "body")


_WS = re.compile(r"\s+")
# whitespace next to these tags never separates words on a rendered page
_BLOCK_WS = re.compile(r" ?(</?(?:html|head|body|title|div|section|header|footer|nav|main|aside|"
                       r"article|ul|ol|li|dl|dt|dd|table|thead|tbody|tfoot|tr|td|th|form|"
                       r"fieldset|p|h[1-6]|select|option|optgroup|figure|br|hr)\b[^>]*>) ?")


def serialize(root: HtmlElement) -> str:
    """HTML text of the tree with whitespace runs collapsed to one space."""
    head = root.find("head")
    if head is not None and len(head) == 0 and not (head.text or "").strip():
        root.remove(head)
    text = etree.tostring(root, encoding="unicode", method="html")
    return _BLOCK_WS.sub(r"\1", _WS.sub(" ", text)).strip()
