"""Raw page -> simplified HTML with named interactive elements (SPEC "Observation").

Public API::

    from shop_env.html import simplify, named_elements
    page = simplify(raw_bytes_or_text, url="https://www.amazon.com/s?k=mug")
    page.html          # simplified HTML; interactive elements carry name="dotted.path"
    page.elements      # [Element(name, kind, tag, text)], kind in click | input | select
    page.recipe_misses # recipe rules that matched nothing (site drift; never fatal)
    named_elements(page.html)  # fast re-read of the names (regex, no DOM; ~0.3 ms / 10 kB)
    pages = simplify_many(raw_pages, urls=urls, jobs=4)  # the same, across processes

CLI: ``shop-r1 simplify PAGE.html [--url U] [--recipe amazon] [--elements] [--json]``;
``shop-r1 simplify FILES_OR_DIR... --out DIR [--jobs N]`` for many pages.

Pipeline (lxml throughout; modules): robust decode + parse (:mod:`.parse`: BOM, strict
UTF-8, declared charset, cp1252; NUL bytes dropped; pages nested deeper than libxml2's limit
are flattened to 200 levels, keeping text and controls), drop junk and hidden elements
(:mod:`.clean`), optional site recipe (:mod:`.recipes`, :mod:`.selectors`,
``recipes/amazon.json``), generic names for everything else (:mod:`.naming`), attribute
whitelist, prune empty containers and unwrap wrappers that carry nothing, serialize with
collapsed whitespace so that parsing the output gives the same page (:mod:`.pipeline`).

Decisions (documented here, tested in tests/test_html_*.py):

* Attributes kept: SPEC's whitelist (name, role, aria-* except the id references
  aria-labelledby/-describedby/-controls/..., type, value, alt, title) plus ``placeholder``
  and the states ``checked``, ``selected``, ``disabled``, ``open``. ``href`` is dropped
  (long, tracking-laden); ``keep_href=True`` keeps link paths without query or fragment.
* User-specific data: values of password/email/tel inputs and of inputs whose autofill
  token is personal (name, street-address, cc-*, ...) are dropped; session tokens in hidden
  inputs go with the hidden inputs. Visible greetings ("Hello, Jane") are page text and stay.
* Hidden: ``hidden``, ``aria-hidden="true"``, inline ``display:none`` /
  ``visibility:hidden``, ``input type=hidden``, closed ``dialog``, and a recipe's
  ``hidden_classes`` (Amazon: aok-hidden, a-hidden). Stylesheet-hidden elements cannot be
  known offline.
* Interactive: a (with href, role, handler, tabindex or content), button, input, select,
  textarea, roles button/link/checkbox/radio/tab/option/menuitem(+checkbox/radio)/switch/
  treeitem/textbox/searchbox/combobox/listbox, ``onclick``. Elements that act only through
  ``onclick`` or a recipe's ``clickable`` get ``role="button"`` so readers can tell.
* Names: see :mod:`.naming` (dotted path of meaningful ancestors + own slug, unique with
  ``_2`` suffixes, stable under unrelated insertions). With ``recipe=None`` a built-in
  recipe is picked from the url's domain (amazon.* -> amazon); ``auto_recipe=False`` turns
  that off.
* Already simplified input (OPeRA's simplified_html, or our own output): no scripts/styles
  and names present, with a dotted name, a name on a non-form element, or only whitelisted
  attributes on the page. Its names are kept (a repeated one gets ``_2``, ``_3``...), recipes
  are not applied, and only unnamed interactive elements get new names, so
  ``simplify(simplify(x).html).html == simplify(x).html``.
* Raw-text elements: ``xmp`` and ``plaintext`` become ``pre`` (the parser reads their text
  raw but the serializer escapes it, so they could not survive a second pass);
  ``noembed``/``noframes`` (never shown by a current browser) go with the junk.
* Speed: pure Python over lxml (C-level ``iter(tag)``, ``strip_elements``/``strip_tags``,
  and one Python walk per pass doing only dictionary look-ups). Pages are independent, so
  many pages go faster across processes: :func:`simplify_many` (``shop-r1 simplify DIR
  --jobs N --out OUT``). Throughput against a bare lxml parse: benchmarks/bench_simplify.py.
"""
from __future__ import annotations

from shop_env.html.batch import simplify_iter, simplify_many
from shop_env.html.elements import Element, element_kind, named_elements
from shop_env.html.naming import slugify
from shop_env.html.pipeline import SimplifiedPage, simplify
from shop_env.html.recipes import Recipe, builtin_recipes, compile_recipe, load_recipe

__all__ = ["Element", "Recipe", "SimplifiedPage", "builtin_recipes", "compile_recipe",
           "element_kind", "load_recipe", "named_elements", "simplify", "simplify_iter",
           "simplify_many", "slugify"]
