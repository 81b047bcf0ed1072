"""``shop-r1 simplify PAGE.html [--url U] [--recipe amazon] [--elements]``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simplify`` sub-command."""
    p = subparsers.add_parser(
        "simplify", help="raw page -> simplified HTML with named interactive elements",
        description="Print the simplified page (or, with --elements, its named elements). "
                    "With --url on an amazon domain the amazon recipe is used automatically.")
    p.add_argument("page", help="saved HTML page ('-' reads stdin)")
    p.add_argument("--url", default=None, help="the page's address (picks url-scoped recipe rules)")
    p.add_argument("--recipe", default=None,
                   help="built-in recipe name (e.g. amazon) or path to a recipe JSON file")
    p.add_argument("--no-auto-recipe", action="store_true",
                   help="do not pick a recipe from the url's domain")
    p.add_argument("--keep-href", action="store_true", help="keep link paths (dropped by default)")
    p.add_argument("--elements", action="store_true",
                   help="print the named elements (tab-separated: name, kind, tag, text)")
    p.add_argument("--json", action="store_true", help="with --elements: one JSON object per line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    from shop_env.errors import DataError
    from shop_env.html import simplify

    try:
        raw = sys.stdin.buffer.read() if args.page == "-" else Path(args.page).read_bytes()
    except OSError as e:
        print(f"shop-r1 simplify: cannot read {args.page}: {e.strerror}", file=sys.stderr)
        return 2
    try:
        page = simplify(raw, url=args.url, recipe=args.recipe, keep_href=args.keep_href,
                        auto_recipe=not args.no_auto_recipe)
    except DataError as e:
        print(f"shop-r1 simplify: bad recipe: {e}", file=sys.stderr)
        return 2
    for miss in page.recipe_misses:
        print(f"recipe drift ({page.recipe}): {miss}", file=sys.stderr)
    if not args.elements:
        print(page.html)
        return 0
    for el in page.elements:
        if args.json:
            print(json.dumps({"name": el.name, "kind": el.kind, "tag": el.tag, "text": el.text},
                             ensure_ascii=False))
        else:
            print(f"{el.name}\t{el.kind}\t{el.tag}\t{el.text}")
    return 0
