"""Robust bytes/str -> lxml tree for arbitrary saved pages.

Never raises on bad input: wrong declared encodings, NUL bytes, unclosed tags, empty input,
huge pages and absurdly deep nesting all yield a (possibly empty) ``<html><body>`` tree.
"""
from __future__ import annotations

import codecs
import re

import lxml.etree as etree

Node = etree._Element  # the element type every html/ module works on

# libxml2 stops parsing (and silently drops the rest of the page) beyond this depth even
# with huge_tree=True; pages deeper than this are flattened first, keeping their text.
FLATTEN_DEPTH = 200  # below the 255 levels a default (non-huge) libxml2 parser accepts

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>", re.I)
_XML_DECL_B = re.compile(rb"^\s*<\?xml", re.I)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)([^>]*)>")
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())


def decode_html(raw: str | bytes | bytearray | memoryview | None) -> str:
    """Return page text. Bytes: BOM, then strict UTF-8, then the declared charset (strict),
    then cp1252.

    Strict UTF-8 is tried before the declared charset because a page that decodes as UTF-8
    almost surely is UTF-8 (the common "wrong declared encoding" case is a UTF-8 page that
    says iso-8859-1); a page that says UTF-8 but is not (typically cp1252) falls through to
    cp1252. Undecodable bytes become U+FFFD. NUL and other control characters (which no
    browser shows and lxml refuses in names and values) are removed; form feed becomes a
    space.
    """
    if raw is None:
        return ""
    if isinstance(raw, str):
        text = raw
    else:
        data = bytes(raw)
        text = None
        for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                         (codecs.BOM_UTF16_BE, "utf-16-be")):
            if data.startswith(bom):
                text = data[len(bom):].decode(enc, errors="replace")
                break
        if text is None:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = _decode_declared(data)
    if _CTRL.search(text):
        text = text.translate(_CTRL_TABLE)
    return text


def _decode_declared(data: bytes) -> str:
    m = _META_CHARSET.search(data[:4096])
    if m:
        try:
            enc = codecs.lookup(m.group(1).decode("ascii")).name
        except (LookupError, UnicodeDecodeError):
            enc = "cp1252"
        if enc in ("iso8859-1", "ascii"):  # browsers read these labels as windows-1252 (WHATWG)
            enc = "cp1252"
        if not enc.startswith(("utf-8", "utf-16", "utf-32", "cp1252")):
            try:  # an 8-bit page that claims UTF-8/16/32 is lying: cp1252 below
                return data.decode(enc)
            except (UnicodeDecodeError, LookupError):
                pass
    return data.decode("cp1252", errors="replace")


def text_of(el: Node, max_words: int | None = None) -> str:
    """Text inside an element, pieces joined by one space (an element boundary separates
    words, as ``named_elements`` does). With ``max_words``, stops once more than that many
    whitespace-separated words were collected (cheap on big containers, and the first
    words are the same whatever the whitespace, which keeps slugs idempotent)."""
    if max_words is None:
        return " ".join(el.itertext())
    pieces = []
    words = 0
    for piece in el.itertext():
        pieces.append(piece)
        words += len(piece.split())
        if words > max_words:
            break
    return " ".join(pieces)


def _parser() -> etree.HTMLParser:
    # plain etree parser: no per-element class lookup, so element proxies are cheap
    return etree.HTMLParser(encoding="utf-8", huge_tree=True, remove_comments=True,
                                remove_pis=True, no_network=True, recover=True)


# Characters lxml refuses in names and values (C0 controls except tab/newline/CR, and the
# noncharacters U+FFFE/U+FFFF): removed at decode time, form feed becomes a space.
_CTRL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CTRL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32)])
_CTRL_SINGLE = tuple(bytes([c]) for c in _CTRL_BYTES)
_CTRL_TABLE = {c: None for c in [*range(0, 9), 11, *range(14, 32), 0xFFFE, 0xFFFF]}
_CTRL_TABLE[12] = " "
_KEEP_DEEP = frozenset({"a", "button", "select", "option", "textarea", "label"})
_RAW_TEXT_ELEMENT = re.compile(r"<(script|style|template|noscript)\b[^>]*>.*?</\1\s*>", re.I | re.S)
# The hidden attribute, aria-hidden="true" and inline display:none / visibility:hidden (not a
# class such as "overflow-hidden", which hides nothing by itself).
_HIDING_ATTRS = re.compile(r"(?:^|\s)hidden(?=[\s=/]|$)|aria-hidden\s*=\s*[\"']?true|display\s*:\s*none|"
                           r"visibility\s*:\s*hidden", re.I)


def flatten_deep(text: str, max_depth: int = FLATTEN_DEPTH, keep_controls: bool = True) -> str:
    """Drop start/end tags nested deeper than ``max_depth`` (text is kept). Linear time.

    Scripts, styles and templates go first, content and all. With ``keep_controls``,
    interactive tags (a, button, select...) and tags that hide their content (``hidden``,
    ``aria-hidden="true"``, inline ``display:none``) survive at any depth, so that deeply
    buried controls still get names and flattening does not turn what the page hides into
    page text; without it (the last resort for pages deep in those tags themselves) only
    the depth counts."""
    text = _RAW_TEXT_ELEMENT.sub("", text)
    out: list[str] = []
    depth = 0
    last = 0
    hiding: set[int] = set()  # depths of kept hiding tags, whose end tags are kept too
    for m in _TAG.finditer(text):
        closing, tag = m.group(1), m.group(2).lower()
        if tag in _VOID or m.group(3).endswith("/"):
            continue
        if closing:
            keep = depth <= max_depth or (keep_controls and tag in _KEEP_DEEP) or depth in hiding
            hiding.discard(depth)
            depth = max(depth - 1, 0)
        else:
            depth += 1
            keep = depth <= max_depth or (keep_controls and tag in _KEEP_DEEP)
            if not keep and keep_controls and _HIDING_ATTRS.search(m.group(3)):
                keep = True
                hiding.add(depth)
        if not keep:
            out.append(text[last:m.start()])
            last = m.end()
    out.append(text[last:])
    return "".join(out)


def _has_control_chars(data: bytes) -> bool:
    """Cheap test (C-speed, no regex) for what :data:`_CTRL` removes: one memchr-style
    scan per control byte, with no copy of the page."""
    if any(c in data for c in _CTRL_SINGLE):
        return True
    return not data.isascii() and (b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data)


def _utf8_bytes(raw: str | bytes | bytearray | memoryview | None) -> tuple[bytes, str | None]:
    """UTF-8 bytes for the parser, and the decoded text when it had to be computed.

    Fast paths: bytes that are valid UTF-8 without BOM, NUL or XML declaration go to the
    parser as they are (no decode/encode round trip); text without control characters or
    XML declaration is encoded once."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        data = bytes(raw)
        if not _has_control_chars(data) and not data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
                                                        codecs.BOM_UTF16_BE)) \
                and not _XML_DECL_B.match(data):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                return data, None
    elif isinstance(raw, str) and not _XML_DECL.match(raw):
        # text without control characters (checked on its UTF-8 bytes, where each one is
        # a single byte) needs no cleaning: encode once
        try:
            data = raw.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: the slow path replaces them
            pass
        else:
            if not _has_control_chars(data):
                return data, raw
    text = _XML_DECL.sub("", decode_html(raw), count=1)
    return text.encode("utf-8", errors="replace"), text


def parse_html(raw: str | bytes | None) -> Node:
    """Parse a page into an lxml ``<html>`` element that always has a ``<body>``."""
    data, text = _utf8_bytes(raw)
    root = None
    if data and not data.isspace():
        root, too_deep = _parse_bytes(data)
        if too_deep:
            if text is None:
                text = data.decode("utf-8")
            root, too_deep = _parse_bytes(flatten_deep(text).encode("utf-8", errors="replace"))
        if too_deep:  # deep nesting made of the kept controls themselves
            root, _ = _parse_bytes(flatten_deep(text, keep_controls=False).encode("utf-8", errors="replace"))
    if root is None:
        root = etree.Element("html")
    if root.tag != "html":  # defensive: wrap anything odd
        wrapper = etree.Element("html")
        etree.SubElement(wrapper, "body").append(root)
        root = wrapper
    if root.find("body") is None:
        etree.SubElement(root, "body")
    return root


def _parse_bytes(data: bytes) -> tuple[Node | None, bool]:
    """Parse; return (root or None, whether libxml2 gave up on excessive depth)."""
    parser = _parser()
    try:
        root = etree.fromstring(data, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        root = None
    too_deep = any(e.type_name == "ERR_RESOURCE_LIMIT" or "depth" in e.message
                   for e in parser.error_log if e.level_name == "FATAL")
    return root, too_deep
