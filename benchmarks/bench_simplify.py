"""Benchmark: shop_env.html.simplify (pure Python over lxml) against a bare lxml parse,
a BeautifulSoup peer, and itself across processes (simplify_many).

    python benchmarks/bench_simplify.py [PAGES_DIR] [--repeat N] [--quick] [--batch-copies K]

PAGES_DIR: any directory of saved pages (*.html, *.htm; searched recursively). Without it
the benchmark generates Amazon-like pages (deterministic, seeded): search result pages of
0.5-2.5 MB with the noise real e-commerce pages carry (inline scripts and JSON, style
sheets, hidden popovers, svg icons, srcset, tracking attributes).

Prints, per page and in total, measured in the same run on the same bytes (CPU time of
this process, best of --repeat, so other load on the machine disturbs it less):
  * MB/s of simplify (generic naming, no recipe, as the peer does) and with the Amazon recipe;
  * ratio of simplify's throughput to a bare lxml parse (lxml.etree.HTMLParser, no options);
  * ratio to a straightforward BeautifulSoup implementation of the same cleaning and naming;
  * if selectolax is installed (it is not a dependency): a bare parse with its Lexbor
    engine, to show what a faster parser alone could save;
  * simplify_many on the pages (each --batch-copies times) with 1 and 2 worker processes:
    wall-clock pages/s and the speed-up, results checked equal to simplify's;
  * size reduction in characters and in tokens (a byte-level BPE tokenizer trained in this
    run on the pages, since no pretrained tokenizer may be downloaded);
  * whether every product title, price and control of a generated page survived.
No assertions on time: read the ratios.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from pathlib import Path

import lxml.etree as etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shop_env.html import simplify, simplify_many  # noqa: E402
from shop_env.html.naming import slugify  # noqa: E402

WORDS = ("stoneware ceramic coffee mug tea cup insulated travel tumbler porcelain set glass "
         "double wall espresso latte large handle microwave dishwasher safe black white blue "
         "matte speckled modern farmhouse gift novelty funny office kitchen home pack ounce "
         "stainless steel lid straw vacuum leakproof reusable bamboo handmade rustic").split()
BRANDS = ("Amazon Basics", "Sweese", "Mr. Coffee", "Bodum", "Contigo", "Yeti", "Hydro Flask",
          "Le Creuset", "Corelle", "Libbey", "Zojirushi", "Stanley")


def _title(rng: random.Random, i: int) -> str:
    words = " ".join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(6, 14)))
    return f"{rng.choice(BRANDS)} {words}, {rng.randint(8, 32)} oz, Model {i:04d}"


def _script(rng: random.Random, kb: int) -> str:
    chunk = ('P.when("A","ready").execute(function(A){var d={"asin":"B0%08d","csm":"%s",'
             '"impressionToken":"%s"};A.trigger("s-impression",d);});')
    parts, size = [], 0
    while size < kb * 1024:
        s = chunk % (rng.randrange(10 ** 8), "x" * rng.randint(20, 60), "%032x" % rng.getrandbits(128))
        parts.append(s)
        size += len(s)
    return "<script type=\"text/javascript\">" + "".join(parts) + "</script>"


def _style(rng: random.Random, kb: int) -> str:
    rules, size = [], 0
    while size < kb * 1024:
        r = f".a-s{rng.randrange(10**6)}{{margin:{rng.randint(0, 20)}px;color:#{rng.getrandbits(24):06x}}}"
        rules.append(r)
        size += len(r)
    return "<style>" + "".join(rules) + "</style>"


def _card(rng: random.Random, i: int, title: str, price: str) -> str:
    asin = f"B0{rng.randrange(10 ** 8):08d}"
    uuid = "%032x" % rng.getrandbits(128)
    img = f"https://m.media-amazon.com/images/I/{rng.getrandbits(40):x}._AC_UL320_.jpg"
    srcset = ", ".join(f"{img} {s}x" for s in ("1", "1.5", "2", "2.5", "3"))
    stars = rng.randint(30, 50) / 10
    reviews = f"{rng.randint(10, 90000):,}"
    sponsored = rng.random() < 0.2
    wrap = lambda inner, n: ('<div class="a-section a-spacing-none puis-padding-right-small">' * n
                             + inner + "</div>" * n)
    badge = ('<span class="a-badge" aria-labelledby="b-label"><span class="a-badge-label">'
             '<span class="a-badge-text" data-a-badge-color="sx-cloud">Best Seller</span></span></span>'
             if rng.random() < 0.15 else "")
    return f"""
<div data-asin="{asin}" data-index="{i}" data-uuid="{uuid}" data-component-type="s-search-result"
 class="sg-col-4-of-24 sg-col-4-of-12 s-result-item s-asin sg-col-4-of-16 {'AdHolder' if sponsored else ''} sg-col s-widget-spacing-small sg-col-4-of-20"
 data-component-id="{rng.randint(1, 99)}" data-cel-widget="search_result_{i}">
 <div class="sg-col-inner"><div cel_widget_id="MAIN-SEARCH_RESULTS-{i}" class="s-widget-container s-spacing-small s-widget-container-height-small celwidget slot=MAIN template=SEARCH_RESULTS widgetId=search-results_{i}" data-csa-c-pos="{i}" data-csa-c-item-id="amzn1.asin.1.{asin}" data-csa-op-log-render="" data-csa-c-type="item" data-csa-c-id="{uuid[:12]}">
 <span class="a-declarative" data-version-id="v2h4zm1k3pt6" data-render-id="r1ly1l3rbp8" data-action="puis-card-container-declarative" data-csa-c-func-deps="aui-da-puis-card-container-declarative" data-puis-card-container-declarative="{{&quot;asin&quot;:&quot;{asin}&quot;,&quot;index&quot;:{i}}}">
 <div class="puis-card-container s-card-container s-overflow-hidden aok-relative puis-expand-height puis-include-content-margin puis puis-v3h2fcq8z4 s-latency-cf-section puis-card-border">
  <div class="a-section a-spacing-base">
   <div class="s-product-image-container aok-relative s-text-center s-image-overlay-grey puis-image-overlay-grey s-padding-left-small s-padding-right-small puis-spacing-small s-height-equalized puis puis-v3h2fcq8z4">
    <span data-component-type="s-product-image" class="rush-component" data-version-id="v2h4zm1k3pt6" data-render-id="r1ly1l3rbp8">
     <a class="a-link-normal s-no-outline" tabindex="-1" href="/{slugify(title)[:40]}/dp/{asin}/ref=sr_1_{i}?crid={uuid[:13].upper()}&amp;dib={uuid}&amp;keywords=coffee+mug&amp;qid=1716912345&amp;sprefix=coffee+mug%2Caps%2C97&amp;sr=8-{i}">
      <div class="a-section aok-relative s-image-square-aspect"><img class="s-image" src="{img}" srcset="{srcset}" alt="{title}" data-image-index="{i}" data-image-load="" data-image-latency="s-product-image" data-image-source-density="1"></div></a></span></div>
   <div class="a-section a-spacing-small puis-padding-left-small puis-padding-right-small">
    {wrap(f'<div data-cy="title-recipe" class="a-section a-spacing-none a-spacing-top-small s-title-instructions-style">{"<span class=puis-label-popover-default><span class=a-color-secondary>Sponsored</span></span>" if sponsored else ""}<h2 class="a-size-mini a-spacing-none a-color-base s-line-clamp-4"><a class="a-link-normal s-underline-text s-underline-link-text s-link-style a-text-normal" href="/dp/{asin}/ref=sr_1_{i}?keywords=coffee+mug&amp;qid=1716912345"><span class="a-size-base-plus a-color-base a-text-normal">{title}</span></a></h2></div>', 2)}
    <div data-cy="reviews-block" class="a-section a-spacing-none a-spacing-top-micro"><div class="a-row a-size-small"><span aria-label="{stars} out of 5 stars" class="a-size-base"><span class="a-declarative" data-version-id="v1" data-render-id="r1" data-action="a-popover" data-a-popover="{{&quot;position&quot;:&quot;triggerBottom&quot;,&quot;url&quot;:&quot;/review/widgets/average-customer-review/popover/ref=acr_search__popover?asin={asin}&quot;}}"><a href="javascript:void(0)" role="button" class="a-popover-trigger a-declarative"><i class="a-icon a-icon-star-small a-star-small-4-5 aok-align-bottom"><span class="a-icon-alt">{stars} out of 5 stars</span></i><i class="a-icon a-icon-popover"></i></a></span></span><span aria-label="{reviews}"><a class="a-link-normal s-underline-text s-underline-link-text s-link-style" href="/dp/{asin}/ref=sr_1_{i}#customerReviews"><span class="a-size-base s-underline-text">{reviews}</span></a></span></div>
     <div class="a-row a-size-base"><span class="a-size-base a-color-secondary">{rng.randint(1, 50)}K+ bought in past month</span></div></div>
    {badge}
    <div data-cy="price-recipe" class="a-section a-spacing-none a-spacing-top-small s-price-instructions-style"><div class="a-row a-size-base a-color-base"><a class="a-link-normal s-no-hover s-underline-text s-underline-link-text s-link-style a-text-normal" href="/dp/{asin}/ref=sr_1_{i}?keywords=coffee+mug"><span class="a-price" data-a-size="xl" data-a-color="base"><span class="a-offscreen">{price}</span><span aria-hidden="true"><span class="a-price-symbol">$</span><span class="a-price-whole">{price[1:].split('.')[0]}<span class="a-price-decimal">.</span></span><span class="a-price-fraction">{price.split('.')[1]}</span></span></span></a></div></div>
    <div data-cy="delivery-recipe" class="a-section a-spacing-none a-spacing-top-micro"><div class="a-row a-size-base a-color-secondary s-align-children-center"><span aria-label="FREE delivery Fri, May 31 on $35 of items shipped by Amazon">FREE delivery <span class="a-color-base a-text-bold">Fri, May 31</span> on $35 of items shipped by Amazon</span></div></div>
    <div class="puis-atcb-container"><div class="a-section puis-atcb-add-container"><span class="a-button a-button-primary a-button-icon"><span class="a-button-inner"><svg class="a-icon" viewBox="0 0 24 24" width="16" height="16"><path d="M7 18c-1.1 0-1.99.9-1.99 2S5.9 22 7 22s2-.9 2-2-.9-2-2-2zM1 2v2h2l3.6 7.59-1.35 2.45c-.16.28-.25.61-.25.96"></path></svg><button class="a-button-text" type="button" name="submit.addToCart" data-csa-c-item-id="{asin}" data-csa-c-action-name="addToCart">Add to cart</button></span></span></div>
     <div class="a-section puis-atcb-remove-container aok-hidden" style="display:none"><span class="a-button"><button type="button">Remove</button></span></div></div>
   </div></div></div></span></div></div></div>"""


def make_search_page(n_products: int, seed: int = 0, script_kb: int = 400,
                     style_kb: int = 150) -> tuple[bytes, list[str], list[str]]:
    """An Amazon-like search page; returns (bytes, product titles, prices)."""
    rng = random.Random(seed)
    fixture = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "html" / "amazon_search.html"
    base = fixture.read_text(encoding="utf-8")
    titles = [_title(rng, i) for i in range(n_products)]
    prices = [f"${rng.randint(5, 120)}.{rng.randint(0, 99):02d}" for _ in range(n_products)]
    cards = "".join(_card(rng, i + 4, t, p) for i, (t, p) in enumerate(zip(titles, prices)))
    popovers = "".join(
        f'<div class="a-popover-preload" id="a-popover-{k}" style="display: none" aria-hidden="true">'
        f'<div class="a-section"><ul>{"".join(f"<li><a href=/x/{k}/{j}>Hidden option {j}</a></li>" for j in range(12))}'
        f"</ul></div></div>" for k in range(rng.randint(15, 30)))
    refinements = "".join(
        f'<li id="p_89/{b}"><span class="a-list-item"><a class="a-link-normal s-navigation-item" '
        f'href="/s?k=coffee+mug&amp;rh=p_89%3A{b}&amp;dc&amp;qid=1716912345"><div class="a-checkbox">'
        f'<label><input type="checkbox" name="" value=""><i class="a-icon a-icon-checkbox"></i></label></div>'
        f'<span class="a-size-base a-color-base">{b} {k}</span></a></span></li>'
        for k, b in enumerate(rng.choice(BRANDS) for _ in range(40)))
    page = base.replace('<div data-asin="B07X1Z1Z1Z"', cards + '<div data-asin="B07X1Z1Z1Z"')
    page = page.replace("</head>", _style(rng, style_kb) + _script(rng, script_kb // 2) + "</head>")
    page = page.replace("</body>", popovers + _script(rng, script_kb // 2) + "</body>")
    page = page.replace('<li id="p_123/4533">', refinements + '<li id="p_123/4533">')
    titles = ["Amazon Basics Stoneware Coffee Mug, 14 oz, Set of 4, Black"] + titles
    prices = ["$24.99", "$29.99"] + prices
    return page.encode("utf-8"), titles, prices


def bs4_simplify(raw: bytes) -> str:
    """The peer: a straightforward BeautifulSoup version of the same cleaning + naming."""
    from bs4 import BeautifulSoup, Comment

    soup = BeautifulSoup(raw, "lxml")
    for tag in soup.find_all(["script", "style", "noscript", "template", "iframe", "frame",
                              "object", "embed", "canvas", "link", "meta", "base", "svg"]):
        tag.decompose()
    for c in soup.find_all(string=lambda s: isinstance(s, Comment)):
        c.extract()
    hidden = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
    for tag in soup.find_all(True):
        if tag.decomposed:
            continue
        if (tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).lower() == "true"
                or hidden.search(str(tag.get("style", "")))
                or (tag.name == "input" and str(tag.get("type", "")).lower() == "hidden")):
            tag.decompose()
    landmarks = {"nav", "header", "form", "section", "aside", "main", "footer"}
    used: dict[str, int] = {}
    for tag in soup.find_all(["a", "button", "input", "select", "textarea"]):
        parts = []
        for anc in tag.parents:
            if anc.name in landmarks:
                parts.append(slugify(anc.get("aria-label") or anc.get("id") or anc.name))
        own = slugify(tag.get("aria-label") or tag.get_text(" ") or tag.get("placeholder")
                      or tag.get("value") or tag.name) or tag.name
        name = ".".join(list(reversed(parts[:4])) + [own])
        n = used.get(name, 0) + 1
        used[name] = n
        tag["name"] = name if n == 1 else f"{name}_{n}"
    keep = {"name", "role", "type", "value", "alt", "title", "placeholder", "checked",
            "selected", "disabled"}
    for tag in soup.find_all(True):
        tag.attrs = {k: v for k, v in tag.attrs.items() if k in keep or k.startswith("aria-")}
    for tag in reversed(soup.find_all(["div", "span"])):
        if not tag.attrs and not tag.get_text(strip=True) and not tag.find(
                lambda t: t.name not in ("div", "span") or t.attrs):
            tag.decompose()
    return " ".join(str(soup).split())


def _best(fn, repeat: int) -> float:
    """Least CPU time of this process over ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def _lexbor_parse():
    """selectolax's Lexbor parser, or None when selectolax is not installed."""
    try:
        from selectolax.lexbor import LexborHTMLParser
    except ImportError:
        return None
    return LexborHTMLParser


def _bench_many(raws: list[bytes], urls: list[str | None], copies: int) -> None:
    """simplify_many with 1 and 2 worker processes on the same pages (wall clock)."""
    pages, page_urls = raws * copies, urls * copies
    mb = sum(map(len, pages)) / 1e6
    want = [simplify(raw, url=url) for raw, url in zip(raws, urls)] * copies
    walls = {}
    for jobs in (1, 2):
        t = time.perf_counter()
        got = simplify_many(pages, urls=page_urls, jobs=jobs)
        walls[jobs] = time.perf_counter() - t
        assert got == want, f"simplify_many(jobs={jobs}) differs from simplify"
        print(f"simplify_many jobs={jobs}: {len(pages)} pages ({mb:.1f} MB) in {walls[jobs]:.2f} s "
              f"= {len(pages) / walls[jobs]:.1f} pages/s, {mb / walls[jobs]:.1f} MB/s "
              f"(wall clock, worker start-up included; outputs equal simplify's)")
    print(f"simplify_many speed-up, 2 processes vs 1: {walls[1] / walls[2]:.2f}x "
          f"(this machine: {_cpus()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          "processes only help where CPUs are idle)")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _tokenizer(texts: list[str]):
    try:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    except ImportError:
        return None
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=8000, show_progress=False))
    return tok


def _bench_named_elements(simplified: list[str]) -> None:
    """named_elements (the env calls it every step) on a ~10 kB simplified page."""
    from shop_env.html import named_elements

    page = None
    try:
        from shop_env.data.store import open_store
        from shop_env.paths import sample_data_dir
        store = open_store(sample_data_dir(), split="train")
        pages = [st.page_html for _, sess in zip(range(20), store) for st in sess.steps]
        page = min(pages, key=lambda p: abs(len(p) - 10_000)) if pages else None
        source = "synthetic sample page"
    except Exception:  # the sample store is optional here
        page = None
    if page is None:
        page = min(simplified, key=lambda p: abs(len(p) - 10_000))
        source = "simplified benchmark page"
    n = 200
    t_ne = _best(lambda: named_elements(page), n)
    t_parse = _best(lambda: etree.fromstring(page, etree.HTMLParser()), n)
    print(f"named_elements on a {len(page):,}-char {source}: {t_ne * 1e6:.0f} us for "
          f"{len(named_elements(page))} elements (bare lxml parse of it: {t_parse * 1e6:.0f} us)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pages", nargs="?", help="directory of saved pages (default: generated)")
    ap.add_argument("--repeat", type=int, default=5, help="timing repetitions (best of)")
    ap.add_argument("--quick", action="store_true", help="two small generated pages, repeat 2")
    ap.add_argument("--batch-copies", type=int, default=None,
                    help="simplify_many runs on the pages this many times over (default 4; 2 with --quick)")
    args = ap.parse_args(argv)
    pages: list[tuple[str, bytes, str | None, list[str], list[str]]] = []
    if args.pages:
        for p in sorted(Path(args.pages).rglob("*.htm*")):
            pages.append((p.name, p.read_bytes(), None, [], []))
        if not pages:
            print(f"no *.html files under {args.pages}", file=sys.stderr)
            return 2
    else:
        sizes = [(16, 150, 60), (30, 300, 120)] if args.quick else \
            [(24, 250, 100), (48, 500, 150), (64, 900, 200), (96, 1400, 250)]
        for k, (n, script_kb, style_kb) in enumerate(sizes):
            raw, titles, prices = make_search_page(n, seed=k, script_kb=script_kb, style_kb=style_kb)
            pages.append((f"search_{n}p", raw, "https://www.amazon.com/s?k=coffee+mug", titles, prices))
    repeat = 2 if args.quick else args.repeat
    copies = args.batch_copies or (2 if args.quick else 4)
    parser = etree.HTMLParser()
    lexbor = _lexbor_parse()
    bs4_simplify(b"<p>warm-up</p>")  # import bs4 outside the timed region
    simplify(b"<p>warm-up</p>", url="https://www.amazon.com/s?k=x")  # compile the recipe
    results = []
    print("simplify: pure Python over lxml; times are CPU seconds of this process, best of "
          f"{repeat}")
    print(f"{'page':24s} {'MB':>6s} {'lxml MB/s':>9s} {'simp MB/s':>9s} {'recipe':>7s} "
          f"{'bs4 MB/s':>8s} {'vs lxml':>7s} {'vs bs4':>6s} {'chars x':>7s}"
          + (f" {'lexbor MB/s':>11s}" if lexbor else ""))
    for name, raw, url, titles, prices in pages:
        mb = len(raw) / 1e6
        t_lxml = _best(lambda: etree.fromstring(raw, parser), repeat)
        t_simp = _best(lambda: simplify(raw, url=url, auto_recipe=False), repeat)
        t_rec = _best(lambda: simplify(raw, url=url), repeat) if url else t_simp
        t_bs4 = _best(lambda: bs4_simplify(raw), max(2, repeat // 2))
        t_lex = _best(lambda: lexbor(raw), repeat) if lexbor else float("nan")
        out = simplify(raw, url=url)
        results.append((name, raw, out, t_lxml, t_simp, t_rec, t_bs4, titles, prices, t_lex))
        print(f"{name[:24]:24s} {mb:6.2f} {mb / t_lxml:9.1f} {mb / t_simp:9.1f} {mb / t_rec:7.1f} "
              f"{mb / t_bs4:8.2f} {t_lxml / t_simp:7.2f} {t_bs4 / t_simp:6.1f} "
              f"{len(raw.decode('utf-8', 'replace')) / max(1, len(out.html)):7.1f}"
              + (f" {mb / t_lex:11.1f}" if lexbor else ""))
    tot = {k: sum(r[i] for r in results)
           for k, i in (("lxml", 3), ("simp", 4), ("rec", 5), ("bs4", 6), ("lex", 9))}
    mb = sum(len(r[1]) for r in results) / 1e6
    print(f"\nTOTAL {mb:.2f} MB: simplify {mb / tot['simp']:.1f} MB/s (with recipe {mb / tot['rec']:.1f}),"
          f" bare lxml parse {mb / tot['lxml']:.1f} MB/s, BeautifulSoup peer {mb / tot['bs4']:.2f} MB/s")
    print(f"simplify / lxml-parse throughput: {tot['lxml'] / tot['simp']:.2f} "
          f"(with recipe {tot['lxml'] / tot['rec']:.2f})")
    print(f"simplify / BeautifulSoup throughput: {tot['bs4'] / tot['simp']:.1f}x")
    if lexbor:
        print(f"selectolax/Lexbor bare parse: {mb / tot['lex']:.1f} MB/s, {tot['lxml'] / tot['lex']:.1f}x "
              f"lxml's; replacing lxml's parse would save at most {tot['lxml'] - tot['lex']:.3f} s "
              f"of simplify's {tot['simp']:.3f} s ({(tot['lxml'] - tot['lex']) / tot['simp']:.0%})")
    _bench_many([r[1] for r in results], [p[2] for p in pages], copies)
    raw_texts = [r[1].decode("utf-8", "replace") for r in results]
    out_texts = [r[2].html for r in results]
    chars_in, chars_out = sum(map(len, raw_texts)), sum(map(len, out_texts))
    print(f"size: {chars_in:,} -> {chars_out:,} chars ({chars_in / max(1, chars_out):.1f}x smaller)")
    tok = _tokenizer(raw_texts + out_texts)
    if tok is not None:
        t_in = sum(len(tok.encode(t).ids) for t in raw_texts)
        t_out = sum(len(tok.encode(t).ids) for t in out_texts)
        print(f"tokens (byte-level BPE, 8k vocab, trained on these pages): {t_in:,} -> {t_out:,} "
              f"({t_in / max(1, t_out):.1f}x smaller)")
    _bench_named_elements(out_texts)
    kept_all = True
    for name, _, out, *_, titles, prices, _t_lex in results:
        if not titles:
            continue
        text = " ".join(etree.fromstring(out.html, etree.HTMLParser()).itertext())
        lost = [t for t in titles + prices if t not in text]
        n_add = sum(1 for e in out.elements if e.name.endswith(".add_to_cart"))
        kept_all &= not lost
        print(f"{name}: {len(titles)} titles + {len(prices)} prices kept: {not lost}"
              f"{' lost ' + str(lost[:3]) if lost else ''}; {len(out.elements)} named elements, "
              f"{n_add} add_to_cart; recipe misses: {out.recipe_misses or 'none'}")
    return 0 if kept_all else 1


if __name__ == "__main__":
    sys.exit(main())
