"""Raw page -> simplified HTML with named interactive elements (SPEC "Observation").

Public API::

    from shop_env.html import simplify, named_elements
    page = simplify(raw_bytes_or_text, url="https://www.amazon.com/s?k=mug")
    page.html          # simplified HTML; interactive elements carry name="dotted.path"
    page.elements      # [Element(name, kind, tag, text)], kind in click | input | select
    page.recipe_misses # recipe rules that matched nothing (site drift; never fatal)
    named_elements(page.html)  # fast re-read of the names (regex, no DOM)

Pipeline (lxml throughout): robust decode + parse (:mod:`.parse`), drop junk and hidden
elements (:mod:`.clean`), optional site recipe (:mod:`.recipes`, ``recipes/amazon.json``),
generic names for everything else (:mod:`.naming`), attribute whitelist, prune empty
wrappers, serialize with collapsed whitespace.

Decisions: attributes kept are SPEC's whitelist (name, role, aria-* except id references,
type, value, alt, title) plus placeholder and the checked/selected/disabled states; href is
dropped unless ``keep_href=True``. With ``recipe=None`` a built-in recipe is picked from the
url's domain (amazon.* -> amazon); pass ``auto_recipe=False`` to turn that off. A page that
already carries names (no scripts, and a dotted name or a name on a non-form element) is
treated as simplified: its names are kept, only unnamed interactive elements get new ones.
"""
from __future__ import annotations

from shop_env.html.elements import Element, element_kind, named_elements
from shop_env.html.naming import slugify
from shop_env.html.recipes import Recipe, builtin_recipes, compile_recipe, load_recipe
from shop_env.html.pipeline import SimplifiedPage, simplify

__all__ = ["Element", "Recipe", "SimplifiedPage", "builtin_recipes", "compile_recipe",
           "element_kind", "load_recipe", "named_elements", "simplify", "slugify"]
