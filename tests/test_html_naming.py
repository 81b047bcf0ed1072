"""Generic names: slugs, ancestor paths, uniqueness, determinism, stability, kept names."""
from __future__ import annotations

import re

import pytest

from shop_env.html import simplify, slugify
from shop_env.html.naming import NameSet

NAME_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


def names(html: str, **kw) -> list[str]:
    return [e.name for e in simplify(html, **kw).elements]


@pytest.mark.parametrize("text,slug", [
    ("Add to Cart", "add_to_cart"),
    ("  --Today's   Deals!! ", "today_s_deals"),
    ("Café Crème 2-Pack", "cafe_creme_2_pack"),
    ("", ""),
    ("★★★", ""),
    ("one two three four five six seven eight nine ten", "one_two_three_four_five_six_seven_eight"),
    ("x" * 100, "x" * 60),
])
def test_slugify(text, slug):
    assert slugify(text) == slug


def test_slugify_rule_matches_spec_regex():
    # SPEC: lowercase, [^a-z0-9]+ -> "_", edges stripped (here on ASCII input, no truncation)
    for text in ["Hello, World", "__a__b__", "A1 B2 c3", "x-y/z"]:
        ref = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
        assert slugify(text) == ref


def test_ancestor_path_uses_meaningful_ancestors_and_their_labels():
    html = """<body><header id="top-bar"><nav aria-label="Main Menu"><div><ul><li>
    <a href="/">Home</a></li></ul></div></nav></header><main><section id="results">
    <div><button>Next page</button></div></section></main><aside><form name="newsletter">
    <input type="email" placeholder="Your email"><button type="submit">Sign up</button></form>
    </aside><footer><a href="/about">About us</a></footer></body>"""
    assert names(html) == ["top_bar.main_menu.home", "main.results.next_page",
                           "aside.newsletter.your_email", "aside.newsletter.sign_up",
                           "footer.about_us"]


def test_own_slug_sources_in_order():
    html = """<body><button aria-label="Close dialog">X</button><a href="/p"><img alt="Blue mug"></a>
    <input type="text" title="Quantity" placeholder="1"><input type="submit" value="Search now">
    <input type="text" name="field-keywords"><input type="text" id="zip-code">
    <button></button><a href="/x"></a><select name="sort"><option>Price</option></select>
    <label for="ship-zip">Shipping ZIP</label><input type="text" id="ship-zip" name="z1">
    <label>Prime only <input type="checkbox" name="p"></label>
    <a id="anchor-target"></a><a name="top"></a></body>"""
    assert names(html) == ["close_dialog", "blue_mug", "quantity", "search_now",
                           "field_keywords", "zip_code", "button", "a", "sort", "shipping_zip",
                           "prime_only"]


def test_every_interactive_kind_is_named():
    html = """<body><a>l</a><button>b</button><input value="i"><select><option>s</option></select>
    <textarea>t</textarea><span role="button">rb</span><span role="link">rl</span>
    <span role="checkbox">rc</span><span role="radio">rr</span><span role="tab">rt</span>
    <span role="option">ro</span><span role="menuitem">rm</span><div onclick="x()">oc</div>
    <span role="presentation">not me</span><input type="hidden" value="nor me"></body>"""
    page = simplify(html)
    assert [e.text for e in page.elements] == ["l", "b", "i", "s", "t", "rb", "rl", "rc", "rr",
                                               "rt", "ro", "rm", "oc"]
    assert [e.kind for e in page.elements] == ["click", "click", "input", "select", "input"] + \
        ["click"] * 8
    assert all(NAME_RE.match(e.name) for e in page.elements)


def test_names_unique_with_deterministic_suffixes():
    html = "<body>" + "<a>Details</a>" * 4 + "<a>Details 2</a></body>"
    assert names(html) == ["details", "details_2", "details_3", "details_4", "details_2_2"]


def test_nameset_is_linear_and_skips_taken_suffixes():
    taken = NameSet(["x_3"])
    assert [taken.unique("x") for _ in range(4)] == ["x", "x_2", "x_4", "x_5"]
    assert "x_3" in taken and len(taken) == 5


def test_item_context_separates_repeated_controls():
    html = """<body><main><ul>
    <li><h3>Red Kettle</h3><button>Add to cart</button><a>Details</a></li>
    <li><h3>Blue Kettle</h3><button>Add to cart</button><a>Details</a></li>
    </ul></main></body>"""
    assert names(html) == ["main.red_kettle.add_to_cart", "main.red_kettle.details",
                           "main.blue_kettle.add_to_cart", "main.blue_kettle.details"]


def test_identical_across_runs():
    html = open("tests/fixtures/html/amazon_search.html", "rb").read()
    assert simplify(html).html == simplify(html).html
    assert names(html.decode()) == names(html)


def _catalog(products: list[str], ad: bool = False) -> str:
    ad_block = ('<div class="ad"><a href="/ad">Sponsored: Mega Sale</a><button>Shop now</button>'
                '<button>Dismiss</button></div>') if ad else ""
    cards = "".join(f'<li><h2>{p}</h2><a href="/p/{i}">{p}</a><button>Add to cart</button>'
                    f'<button>Save for later</button></li>' for i, p in enumerate(products))
    return (f'<body><header><input placeholder="Search"><button>Go</button></header>'
            f'<main><section aria-label="Results">{ad_block}<ul>{cards}</ul></section></main>'
            f'<aside aria-label="Filters"><a>Under $25</a><a>4 stars and up</a></aside>'
            f'<footer><a>Help</a></footer></body>')


def _pairs(html: str) -> list[tuple[str, str]]:
    return [(e.name, e.text) for e in simplify(html).elements]


def test_names_stable_when_an_ad_block_is_inserted():
    products = ["Red Kettle", "Blue Kettle", "Steel Mug"]
    before = _pairs(_catalog(products))
    after = _pairs(_catalog(products, ad=True))
    # every element keeps its name (paired with its text, so no two names can swap)
    assert [p for p in after if p in before] == before
    assert {n for n, _ in after} - {n for n, _ in before} == {
        "main.results.sponsored_mega_sale", "main.results.shop_now", "main.results.dismiss"}


def test_names_stable_when_a_product_is_inserted():
    products = ["Red Kettle", "Blue Kettle", "Steel Mug"]
    before = _pairs(_catalog(products))
    after = _pairs(_catalog(["Green Teapot"] + products))
    assert [p for p in after if p in before] == before
    new = {n for n, _ in after} - {n for n, _ in before}
    assert len(new) == 3 and all(n.startswith("main.results.green_teapot") for n in new)


def test_names_stable_when_amazon_page_gets_an_extra_result():
    raw = open("tests/fixtures/html/amazon_search.html").read()
    extra = raw.replace('<div data-asin="B07X1Z1Z1Z"',
                        '<div data-asin="B0NEW00001" data-component-type="s-search-result"><h2><a '
                        'href="/dp/B0NEW00001">Brand New Enamel Camping Mug</a></h2><button '
                        'name="submit.addToCart">Add to cart</button></div><div data-asin="B07X1Z1Z1Z"')
    url = "https://www.amazon.com/s?k=coffee+mug"
    before = [(e.name, e.text) for e in simplify(raw, url=url).elements]
    after = [(e.name, e.text) for e in simplify(extra, url=url).elements]
    assert [p for p in after if p in before] == before
    assert {n for n, _ in after} - {n for n, _ in before} == {
        "search_results.brand_new_enamel_camping_mug.product_title",
        "search_results.brand_new_enamel_camping_mug.add_to_cart"}


def test_existing_names_kept_and_new_ones_added():
    opera_like = ('<html><body><div name="search_results"><a name="search_results.mug.product_title">'
                  'Mug</a><button>Unnamed button</button></div><a name="nav_bar.cart">Cart</a>'
                  '<a>Help</a></body></html>')
    page = simplify(opera_like)
    assert page.prenamed
    assert page.names() == ["search_results.mug.product_title", "search_results.unnamed_button",
                            "nav_bar.cart", "help"]


def test_a_raw_page_saved_without_scripts_is_not_taken_for_a_simplified_one():
    """Amazon's own dotted form-field names (submit.delete.C2b3) are not element names."""
    original = open("tests/fixtures/html/amazon_cart.html").read()
    raw = re.sub(r"<script>.*?</script>", "", original, flags=re.S)
    with_scripts = simplify(original, url="https://www.amazon.com/cart")
    page = simplify(raw, url="https://www.amazon.com/cart")
    assert not page.prenamed and page.recipe == "amazon"
    assert page.names() == with_scripts.names()


def test_raw_form_field_names_are_not_kept_as_names():
    raw = ('<html><head><script>x()</script></head><body><form name="f"><input name="q" '
           'placeholder="Search products"><input type="submit" name="btn.go" value="Go"></form></body></html>')
    page = simplify(raw)
    assert not page.prenamed
    assert page.names() == ["f.search_products", "f.go"]
