"""Site recipes: the Amazon recipe on Amazon-like pages, drift, validation, selector engine."""
from __future__ import annotations

import json
from pathlib import Path

import lxml.etree as etree
import pytest
from lxml.cssselect import CSSSelector

from shop_env.errors import DataError
from shop_env.html import builtin_recipes, compile_recipe, load_recipe, simplify
from shop_env.html.parse import parse_html
from shop_env.html.selectors import Selector, document_order

FIXTURES = Path(__file__).parent / "fixtures" / "html"
SEARCH_URL = "https://www.amazon.com/s?k=coffee+mug&ref=nb_sb_noss"
PRODUCT_URL = "https://www.amazon.com/Amazon-Basics-Stoneware/dp/B08FB2XGT8/ref=sr_1_1"


@pytest.fixture(scope="module")
def search_page():
    return simplify(FIXTURES.joinpath("amazon_search.html").read_bytes(), url=SEARCH_URL)


@pytest.fixture(scope="module")
def product_page():
    return simplify(FIXTURES.joinpath("amazon_product.html").read_bytes(), url=PRODUCT_URL)


def test_amazon_recipe_is_builtin_and_auto_picked(search_page):
    assert "amazon" in builtin_recipes()
    assert search_page.recipe == "amazon"
    assert simplify("<a>x</a>", url="https://smile.amazon.co.uk/s?k=x").recipe == "amazon"
    assert simplify("<a>x</a>", url="https://www.amazon.com.evil.example/").recipe is None
    assert simplify("<a>x</a>", url="https://www.amazon.com/s", auto_recipe=False).recipe is None


def test_amazon_search_page_names(search_page):
    names = search_page.names()
    kinds = {e.name: e.kind for e in search_page.elements}
    assert kinds["nav_bar.search_input"] == "input"
    assert kinds["nav_bar.search_button"] == "click"
    assert kinds["nav_bar.cart_button"] == "click"
    for slug in ("amazon_basics_stoneware_coffee_mug_14_oz_set",
                 "sweese_porcelain_mugs_for_coffee_14_ounce_set"):
        assert f"search_results.{slug}.product_title" in names
        assert f"search_results.{slug}.product_image" in names
    assert "search_results.amazon_basics_stoneware_coffee_mug_14_oz_set.add_to_cart" in names
    refinements = [n for n in names if n.startswith("refinements.")]
    assert "refinements.customer_reviews.4_stars_up_up" in refinements
    assert "refinements.brands.amazon_basics" in refinements
    assert "refinements.price.up_to_15" in refinements
    assert "pagination.next" in names
    assert search_page.recipe_misses == []
    assert len(names) == len(set(names))


def test_amazon_product_page_names(product_page):
    names = product_page.names()
    assert {"buybox.purchase_form.add_to_cart", "buybox.purchase_form.buy_now",
            "buybox.purchase_form.quantity", "product_details.reviews_link",
            "nav_bar.search_input", "nav_bar.cart_button", "reviews.see_all_reviews"} <= set(names)
    kinds = {e.name: e.kind for e in product_page.elements}
    assert kinds["buybox.purchase_form.quantity"] == "select"
    assert product_page.recipe_misses == []
    # hidden session inputs are gone, with their values
    assert "131-4567890" not in product_page.html and "offerListingID" not in product_page.html


def test_amazon_cart_page_names():
    page = simplify(FIXTURES.joinpath("amazon_cart.html").read_bytes(),
                    url="https://www.amazon.com/gp/cart/view.html?ref_=nav_cart")
    item = "cart.amazon_basics_stoneware_coffee_mug_14_oz_set"
    assert page.names() == [
        "nav_bar.home", "nav_bar.search_input", "nav_bar.search_button", "nav_bar.cart_button",
        f"{item}.product_title", f"{item}.quantity", f"{item}.delete", f"{item}.save_for_later",
        "proceed_to_checkout"]
    assert page.recipe_misses == []
    assert "hLq1" not in page.html  # script state gone


def test_recipe_drift_is_reported_not_fatal():
    raw = FIXTURES.joinpath("amazon_product.html").read_text()
    drifted = raw.replace('id="add-to-cart-button"', 'id="add-to-cart-button-v2"').replace(
        'name="submit.add-to-cart"', 'name="submit.atc"').replace('id="navbar"', 'id="topbar"').replace(
        'id="navbar-main"', 'id="header-main"').replace('id="nav-belt"', 'id="belt"')
    page = simplify(drifted, url=PRODUCT_URL)
    assert any("add_to_cart" in m for m in page.recipe_misses)
    assert any("nav_bar" in m for m in page.recipe_misses)
    names = page.names()
    assert "buybox.purchase_form.buy_now" in names
    # the element the recipe lost still gets a generic name under its named container
    assert "buybox.purchase_form.add_to_cart" in names  # from value "Add to Cart"
    assert any(n.endswith("search_amazon") for n in names)


def test_search_rules_not_applied_or_reported_on_other_urls(product_page):
    assert not any(n.startswith(("search_results", "refinements")) for n in product_page.names())
    assert not any("search_results" in m for m in product_page.recipe_misses)


def test_dict_recipe_features():
    raw = """<body><div id="ads"><a>Buy gold</a></div><div class="grid">
      <div class="card"><h3>Red Kettle</h3><span class="tile" onclick="x()">Open</span><p class="blurb">long text</p></div>
      <div class="card"><h3>Blue Kettle</h3><span class="tile">Open</span><p class="blurb">long text</p></div>
    </div><a class="more">More</a></body>"""
    recipe = {"name": "shop", "rules": [
        {"selector": "#ads", "drop": True},
        {"selector": "div.grid", "name": "grid", "children": [
            {"selector": "div.card", "name": "from_text", "text_selector": "h3", "children": [
                {"selector": "span.tile", "name": "open", "clickable": True},
                {"selector": "p.blurb", "add_text": False},
                {"selector": "em.missing", "name": "gone"},
                {"selector": "em.maybe", "name": "maybe", "optional": True}]}]},
        {"selector": "#nothing", "name": "nothing"},
        {"selector": "#required", "name": "req", "required": True}]}
    page = simplify(raw, recipe=recipe)
    assert page.recipe == "shop"
    assert "Buy gold" not in page.html and "long text" not in page.html
    assert page.names() == ["grid.red_kettle.open", "grid.blue_kettle.open", "more"]
    assert all(e.kind == "click" for e in page.elements)
    assert len(page.recipe_misses) == 2
    assert any("em.missing" in m for m in page.recipe_misses)
    assert any("#required" in m for m in page.recipe_misses)


def test_recipe_from_json_file(tmp_path):
    path = tmp_path / "shop.json"
    path.write_text(json.dumps({"name": "shop", "rules": [{"selector": "a.x", "name": "special"}]}))
    assert simplify('<a class="x">go</a>', recipe=str(path)).names() == ["special"]


@pytest.mark.parametrize("spec,field", [
    ({"rules": [{"name": "x"}]}, "rules[0].selector"),
    ({"rules": [{"selector": "a[", "name": "x"}]}, "rules[0].selector"),
    ({"rules": [{"selector": "a", "name": "Bad Name"}]}, "rules[0].name"),
    ({"rules": [{"selector": "a", "colour": "red"}]}, "rules[0]"),
    ({"rules": [{"selector": "a", "children": [{"selector": "b", "url": "("}]}]},
     "rules[0].children[0].url"),
    ({"rules": "nope"}, "rules"),
    ({"rules": [], "hidden_classes": "aok-hidden"}, "hidden_classes"),
    ({"rules": [], "hidden_classes": ["two words"]}, "hidden_classes"),
])
def test_bad_recipes_raise_located_errors(spec, field):
    with pytest.raises(DataError) as err:
        compile_recipe(spec, source="my_recipe.json")
    assert err.value.field == field and err.value.path == "my_recipe.json"


def test_unknown_recipe_name_and_bad_json(tmp_path):
    with pytest.raises(DataError, match="no such recipe"):
        load_recipe("ebay-nonexistent")
    bad = tmp_path / "bad.json"
    bad.write_text('{"rules": [\n  {"selector": "a",}\n]}')
    with pytest.raises(DataError) as err:
        load_recipe(str(bad))
    assert err.value.row == 2


def test_amazon_recipe_json_is_valid():
    spec = json.loads((Path(__file__).parents[1] / "shop_env" / "html" / "recipes" /
                       "amazon.json").read_text())
    assert compile_recipe(spec).name == "amazon"


SELECTORS = [
    "a", "div a", "div > a", "#nav-cart", "a#nav-cart", "#nav-xshop a", "#nav-xshop > a",
    "div.s-main-slot", ".s-image", "a .s-image", "img.s-image", "span[data-component-type='s-product-image'] a",
    "div[id$='Refinements']", "[id^='nav-']", "a[href*='customerReviews']", "li[aria-label~='Stars']",
    "h2 a, a.s-line-clamp-2, a.s-link-style.a-text-normal", "#navbar-main, #navbar, #nav-belt",
    "span.s-pagination-strip, div.s-pagination-container", "div[lang|='en']", "ul li a span",
    "div.a-section > span.a-size-base", "input[type='checkbox']", "a:not(.nav-a)", "li:first-child a",
    "h2 + div", "#departments ul li", "#s-refinements div > ul > li",
]


@pytest.mark.parametrize("fixture", ["amazon_search.html", "amazon_product.html", "tricky_malformed.html"])
def test_selector_engine_matches_lxml_cssselect(fixture):
    root = parse_html(FIXTURES.joinpath(fixture).read_bytes())
    ids: dict = {}
    for el in root.iter():
        if el.get("id"):
            ids.setdefault(el.get("id"), []).append(el)
    contexts = [root] + [el for el in root.iter("div", "ul", "header") if el.get("id")][:12]
    for css in SELECTORS:
        ours = Selector.compile(css)
        ref = CSSSelector(css, translator="html")
        for ctx in contexts:
            expected = [el for el in ref(ctx) if el is not ctx]
            got = ours.select(ctx, ids)
            assert got == expected, (fixture, css, ctx.get("id"))
            assert ours.select(ctx, ids, first=True) == expected[:1], (fixture, css, ctx.get("id"))


def _random_page(rng) -> str:
    """Nested div/span/a/p/li tags with a few classes and ids (ids may repeat)."""
    def node(depth: int) -> str:
        tag = rng.choice(["div", "span", "a", "p", "li"])
        attrs = ""
        if rng.random() < 0.4:
            attrs += f' class="{rng.choice(["card", "row", "x", "card x"])}"'
        if rng.random() < 0.2:
            attrs += f' id="{rng.choice(["main", "side"])}"'
        kids = "".join(node(depth + 1) for _ in range(rng.randint(0, 3 if depth < 4 else 0)))
        return f"<{tag}{attrs}>{kids}</{tag}>"
    return "<html><body>" + "".join(node(0) for _ in range(3)) + "</body></html>"


def _random_selector(rng) -> str:
    def compound() -> str:
        return rng.choice(["div", "span", "a", "*", ".card", "div.card", "a.x", "p", "li"]) + \
            rng.choice(["", "", "", ":not(.x)", ":first-child", ":last-child"])
    chain = [rng.choice(["#main", "#side", "div#main", compound()])]
    for _ in range(rng.randint(0, 3)):
        chain += [rng.choice([" ", " > "]), compound()]
    return "".join(chain)


def test_selector_engine_matches_lxml_cssselect_on_random_pages():
    """Differential check against lxml's CSSSelector: id-headed chains, child combinators
    and pseudo-classes (the XPath fallback), from the root and from inner contexts."""
    import random
    rng = random.Random(0)
    checked = 0
    for _ in range(150):
        root = parse_html(_random_page(rng))
        ids: dict = {}
        for el in root.iter():
            if el.get("id"):
                ids.setdefault(el.get("id"), []).append(el)
        contexts = [root] + rng.sample(list(root.iter()), 3)
        for _ in range(8):
            css = _random_selector(rng)
            ours, ref = Selector.compile(css), CSSSelector(css, translator="html")
            for ctx in contexts:
                expected = [el for el in ref(ctx) if el is not ctx]
                assert ours.select(ctx, ids) == expected, (css, etree.tostring(ctx)[:200])
                checked += bool(expected)
    assert checked > 500  # the generator does produce matches to compare


def test_document_order_sorts_any_elements():
    root = parse_html(FIXTURES.joinpath("amazon_search.html").read_bytes())
    every = list(root.iter())
    sample = every[::7][::-1]
    assert document_order(sample) == every[::7]
    assert isinstance(sample[0], etree._Element)


def test_dropped_elements_do_not_take_names():
    raw = ('<html><head><script></script></head><body><div class="popover"><button>Add to cart'
           '</button></div><main><button>Add to cart</button></main></body></html>')
    assert simplify(raw).names() == ["add_to_cart", "main.add_to_cart"]
    recipe = {"rules": [{"selector": "div.popover", "drop": True}]}
    assert simplify(raw, recipe=recipe).names() == ["main.add_to_cart"]
    assert simplify(raw, recipe={"rules": [], "hidden_classes": ["popover"]}).names() == \
        ["main.add_to_cart"]
    # the Amazon recipe drops what Amazon hides with its aok-hidden / a-hidden classes
    amazon = raw.replace('class="popover"', 'class="a-section aok-hidden"')
    assert simplify(amazon, url="https://www.amazon.com/s?k=mug").names() == ["main.add_to_cart"]


def test_a_brand_checkbox_is_named_after_its_link_so_names_survive_a_new_brand():
    raw = open("tests/fixtures/html/amazon_search.html").read()
    anchor = '<li id="p_123/256097">'
    assert anchor in raw
    extra = ('<li id="p_123/999"><span class="a-list-item"><a class="a-link-normal s-navigation-item" '
             'href="/s?k=coffee+mug&amp;rh=p_123%3A999"><div class="a-checkbox a-checkbox-fancy"><label>'
             '<input type="checkbox" name="" value=""><i class="a-icon a-icon-checkbox"></i></label></div>'
             '<span class="a-size-base a-color-base">Zebra Mugs</span></a></span></li>')
    url = "https://www.amazon.com/s?k=coffee+mug"
    before = [n for n in simplify(raw, url=url).names() if n.startswith("refinements.brands")]
    after = [n for n in simplify(raw.replace(anchor, extra + anchor), url=url).names()
             if n.startswith("refinements.brands")]
    assert "refinements.brands.amazon_basics.checkbox" in before
    assert [n for n in after if "zebra" not in n] == before
