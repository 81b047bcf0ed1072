"""Raw page -> simplified HTML with named interactive elements (SPEC "Observation").

Public API::

    from shop_env.html import simplify, named_elements
    page = simplify(raw_bytes_or_text, url="https://www.amazon.com/s?k=mug")
    page.html          # simplified HTML; interactive elements carry name="dotted.path"
    page.elements      # [Element(name, kind, tag, text)], kind in click | input | select
    page.recipe_misses # recipe rules that matched nothing (site drift; never fatal)
    named_elements(page.html)  # fast re-read of the names (regex, no DOM; ~0.3 ms / 10 kB)

CLI: ``shop-r1 simplify PAGE.html [--url U] [--recipe amazon] [--elements] [--json]``.

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
  attributes on the page. Its names are kept verbatim (duplicates included), recipes are not
  applied, and only unnamed interactive elements get new names, so
  ``simplify(simplify(x).html).html == simplify(x).html``.
* Speed: the tree walks run in an optional C accelerator (``_speedups.c``, built by
  ``pip install`` when a C compiler is at hand; it reads libxml2's tree through lxml's
  public C API). Before parsing, an HTML5 tokenizer in it blanks script and style bodies
  and, on pages with scripts, leaves out attributes nothing here reads (``READ_ATTRIBUTES``
  in :mod:`.pipeline`, plus what a recipe's selectors read); tags with unusual syntax are
  copied as they are. Every C function has a Python reference in this package that it
  matches exactly (tests/test_html_speedups.py, and ``python fuzz/run.py --target
  simplify_native``); ``SHOP_R1_PURE_PYTHON=1`` runs the references. ``simplify`` pauses
  the cyclic GC while it runs. Throughput: benchmarks/bench_simplify.py.
"""
from __future__ import annotations

from shop_env.html.elements import Element, element_kind, named_elements
from shop_env.html.naming import slugify
from shop_env.html.pipeline import SimplifiedPage, simplify
from shop_env.html.recipes import Recipe, builtin_recipes, compile_recipe, load_recipe

__all__ = ["Element", "Recipe", "SimplifiedPage", "builtin_recipes", "compile_recipe",
           "element_kind", "load_recipe", "named_elements", "simplify", "slugify"]
