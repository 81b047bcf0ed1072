"""Page chrome of the synthetic store: document head, navigation bar, footer, and page noise.

Real shop pages carry much that a shopper never acts on: inline scripts and JSON-LD,
style sheets, tracking pixels and ``data-*`` attributes, per-user session ids, ad slots,
and hidden dialogs with their own buttons. This module adds that noise so the simplifier
has real work to do; the shopper only targets visible elements.

Landmarks carry ``aria-label``s chosen so that the simplifier's generic naming yields
OPeRA-like dotted names (``nav_bar.search_input``, ``nav_bar.cart_button``, ...).
"""
from __future__ import annotations

import random
from html import escape

from shop_env.synth.vocab import CATEGORIES

SITE_NAME = "ShopMart"
BASE_URL = "https://www.shopmart.example"

_STYLE = """<style>
body{font-family:Arial,sans-serif;margin:0;color:#0f1111}.nav{background:#131921;color:#fff;display:flex}
.nav input[type=text]{width:60%;padding:8px}.s-card{display:inline-block;width:23%;vertical-align:top}
.a-price{font-size:21px}.a-price .sym{font-size:13px;vertical-align:top}.stars{color:#ffa41c}
.btn-y{background:#ffd814;border-radius:20px}.btn-o{background:#ffa41c;border-radius:20px}
.hidden{display:none!important}.ad-slot{min-height:90px;background:#f7f7f7}
@media (max-width:800px){.s-card{width:48%}.nav input[type=text]{width:40%}}
</style>"""

_SCRIPT_LIB = """<script>
(function(w,d){w.dataLayer=w.dataLayer||[];function t(){w.dataLayer.push(arguments)}
w.smTrack=function(e,p){t('event',e,p||{});var i=new Image();i.src='https://t.shopmart.example/p?e='+
encodeURIComponent(e)+'&r='+Math.random()};d.addEventListener('click',function(ev){var a=ev.target.closest(
'[data-track]');if(a){w.smTrack('click',{id:a.getAttribute('data-track')})}},true);})(window,document);
</script>"""


def session_token(rng: random.Random) -> str:
    """A per-user, per-page token of the kind simplification must strip."""
    return "%016x" % rng.getrandbits(64)


def head(title: str, rng: random.Random, page_type: str, extra_ld: str = "") -> str:
    """``<head>`` with meta tags, styles, analytics and a JSON-LD block."""
    tok = session_token(rng)
    return (
        f'<!DOCTYPE html><html lang="en-us"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel="stylesheet" href="{BASE_URL}/static/css/main.{tok[:8]}.css">'
        f'<link rel="preconnect" href="https://cdn.shopmart.example">{_STYLE}{_SCRIPT_LIB}'
        f'<script>window.SM_CONTEXT={{"pageType":"{page_type}","sessionId":"{tok}",'
        f'"csrf":"{session_token(rng)}","abTests":["T{rng.randint(100, 999)}:{rng.choice("AB")}"]}};</script>'
        f'<script type="application/ld+json">{extra_ld or "{}"}</script></head>'
    )


LOCATIONS = ("Boston 02118", "Austin 78701", "Denver 80203", "Seattle 98101")


def nav_bar(query: str, cart_count: int, rng: random.Random) -> str:
    """Top bar: logo, delivery location, search box, account, orders, cart."""
    q = escape(query, quote=True)
    location = rng.choice(LOCATIONS)
    cats = "".join(f'<option value="{escape(c)}">{escape(c)}</option>' for c in CATEGORIES)
    return (
        f'<div id="navbar" class="nav" data-track="nav">'
        f'<nav aria-label="Nav bar"><a href="{BASE_URL}/" aria-label="{SITE_NAME} home" class="nav-logo"'
        f' data-track="logo"><span class="logo-sprite" aria-hidden="true"></span></a>'
        f'<div class="nav-deliver"><span class="nav-line-1">Deliver to</span>'
        f'<span class="nav-line-2">{escape(location)}</span></div>'
        f'<div class="nav-search"><select aria-label="Search department" class="nav-search-dropdown" '
        f'style="display:none"><option value="all">All Departments</option>{cats}</select>'
        f'<input type="text" id="search-box" aria-label="Search input" placeholder="Search {SITE_NAME}" value="{q}"'
        f' autocomplete="off" data-track="search-box">'
        f'<input type="submit" aria-label="Search button" value="Go" class="nav-input"></div>'
        f'<a href="{BASE_URL}/account" data-track="account">Hello, sign in <br>Account &amp; Lists</a>'
        f'<a href="{BASE_URL}/orders" data-track="orders">Returns &amp; Orders</a>'
        f'<a href="{BASE_URL}/cart" aria-label="Cart button" data-track="cart">'
        f'<span class="nav-cart-count">{cart_count}</span> Cart</a></nav></div>'
    )


def category_bar() -> str:
    """The department strip under the top bar."""
    links = "".join(f'<a href="{BASE_URL}/b/{c.lower().replace(" & ", "-").replace(" ", "-")}" '
                    f'data-track="cat">{escape(c)}</a>' for c in CATEGORIES)
    return f'<nav aria-label="Categories" class="nav-main">{links}</nav>'


def hidden_noise(rng: random.Random) -> str:
    """Dialogs, menus and banners that are present in the DOM but not visible."""
    return (
        '<div id="signin-modal" class="modal" hidden><h2>Sign in for the best experience</h2>'
        '<button type="button" data-track="modal-signin">Sign in securely</button>'
        '<a href="#" data-track="modal-close">Close</a></div>'
        '<div id="cookie-banner" style="display:none"><p>We use cookies to improve your experience.</p>'
        '<button data-track="cookie-accept">Accept cookies</button><button>Customize</button></div>'
        '<div class="nav-flyout" aria-hidden="true"><a href="/gp/lists">Your Lists</a>'
        '<a href="/gp/recs">Your Recommendations</a></div>'
        f'<input type="hidden" name="session-id" value="{session_token(rng)}">'
        f'<input type="hidden" name="ubid" value="{session_token(rng)}">'
        '<noscript><img src="https://t.shopmart.example/noscript.gif" alt=""></noscript>'
        '<template id="tpl-toast"><div class="toast"><button>Undo</button></div></template>'
    )


def ad_slot(rng: random.Random, slot: str) -> str:
    """A display-ad slot (an iframe plus a tracking pixel)."""
    return (
        f'<div class="ad-slot" id="ad-{slot}" data-ad-slot="{slot}" data-impression-id="{session_token(rng)}">'
        f'<iframe src="https://ads.shopmart.example/serve?slot={slot}&amp;c={rng.randint(1000, 9999)}"'
        f' width="728" height="90" title="Advertisement"></iframe>'
        f'<img src="https://t.shopmart.example/px.gif?imp={session_token(rng)}" width="1" height="1" '
        f'style="display:none" alt=""></div>'
    )


def svg_icon(kind: str) -> str:
    """An inline SVG icon (its internals are noise)."""
    return (f'<svg class="icon icon-{kind}" viewBox="0 0 24 24" aria-hidden="true"><path d="M12 2L15 8'
            f'L22 9L17 14L18 21L12 18L6 21L7 14L2 9L9 8Z"></path></svg>')


def footer(rng: random.Random) -> str:
    """Site footer with a few visible links and a trailing analytics script."""
    return (
        '<footer id="navFooter"><a href="#top" data-track="back-to-top">Back to top</a>'
        '<div class="footer-links"><a href="/careers">Careers</a><a href="/help">Help</a>'
        '<a href="/returns">Returns &amp; Replacements</a></div>'
        f'<p>&copy; 2025 {SITE_NAME}.example (synthetic store)</p></footer>'
        f'<script>smTrack("pageview",{{"rid":"{session_token(rng)}","t":{rng.randint(10**9, 2 * 10**9)}}});</script>'
        '</body></html>'
    )


def stars_text(rating: float) -> str:
    """Visible rating text like ``4.3 out of 5 stars``."""
    return f"{rating:.1f} out of 5 stars"


def money(value: float) -> str:
    """``$1,234.56``."""
    return f"${value:,.2f}"
