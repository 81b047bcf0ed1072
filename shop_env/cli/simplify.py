"""``shop-r1 simplify PAGE.html`` (print one page) or ``shop-r1 simplify FILES_OR_DIR... --out DIR``."""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Iterator

PAGE_SUFFIXES = (".html", ".htm")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simplify`` sub-command."""
    p = subparsers.add_parser(
        "simplify", help="raw page(s) -> simplified HTML with named interactive elements",
        description="One page: print the simplified page (or, with --elements, its named "
                    "elements). Many pages (several files, or directories searched "
                    "recursively for *.html/*.htm): give --out DIR; they are simplified by "
                    "--jobs worker processes and written under DIR with the same relative "
                    "paths (with --elements, NAME.elements.jsonl beside each page). With "
                    "--url on an amazon domain the amazon recipe is used automatically.")
    p.add_argument("pages", nargs="+", metavar="FILES_OR_DIR",
                   help="saved HTML page(s) or directories of them ('-' reads one page from stdin)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="write the simplified pages under DIR (required for more than one page)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes with --out (default: one per CPU)")
    p.add_argument("--url", default=None, help="the page's address (picks url-scoped recipe rules; default: none)")
    p.add_argument("--recipe", default=None,
                   help="built-in recipe name (e.g. amazon) or path to a recipe JSON file (default: picked "
                        "from the url's domain)")
    p.add_argument("--no-auto-recipe", action="store_true",
                   help="do not pick a recipe from the url's domain")
    p.add_argument("--keep-href", action="store_true", help="keep link paths (dropped by default)")
    p.add_argument("--elements", action="store_true",
                   help="print the named elements (tab-separated: name, kind, tag, text)")
    p.add_argument("--json", action="store_true", help="with --elements: one JSON object per line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    if args.jobs is not None and args.jobs < 1:
        print("shop-r1 simplify: --jobs must be at least 1", file=sys.stderr)
        return 2
    if args.out is not None:
        return _run_many(args)
    if len(args.pages) > 1 or Path(args.pages[0]).is_dir():
        print("shop-r1 simplify: several pages need --out DIR", file=sys.stderr)
        return 2
    return _run_one(args)


def _run_one(args: argparse.Namespace) -> int:
    from shop_env.errors import DataError
    from shop_env.html import simplify

    source = args.pages[0]
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as e:
        print(f"shop-r1 simplify: cannot read {source}: {e.strerror}", file=sys.stderr)
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
    for line in _element_lines(page, args.json):
        print(line)
    return 0


def _element_lines(page, as_json: bool) -> Iterator[str]:
    for el in page.elements:
        if as_json:
            yield json.dumps({"name": el.name, "kind": el.kind, "tag": el.tag, "text": el.text},
                             ensure_ascii=False)
        else:
            yield f"{el.name}\t{el.kind}\t{el.tag}\t{el.text}"


def collect_pages(sources: list[str]) -> list[tuple[Path, Path]]:
    """(input file, output path relative to --out) for every page named or found under a
    directory; raises ValueError for a missing source or two inputs with one output path."""
    found: list[tuple[Path, Path]] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found += [(f, f.relative_to(path)) for f in sorted(path.rglob("*"))
                      if f.suffix.lower() in PAGE_SUFFIXES and not f.is_dir()]
        elif path.exists() or path.is_symlink():
            found.append((path, Path(path.name)))
        else:
            raise ValueError(f"no such file or directory: {source}")
    seen: dict[Path, Path] = {}
    for src, rel in found:
        if rel in seen:
            raise ValueError(f"{seen[rel]} and {src} would both be written to {rel}")
        seen[rel] = src
    return found


def _run_many(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from shop_env.errors import DataError
    from shop_env.html import simplify_iter

    if "-" in args.pages:
        print("shop-r1 simplify: '-' (stdin) cannot be combined with --out", file=sys.stderr)
        return 2
    try:
        files = collect_pages(args.pages)
    except ValueError as e:
        print(f"shop-r1 simplify: {e}", file=sys.stderr)
        return 2
    if not files:
        print(f"shop-r1 simplify: no *.html or *.htm pages in {' '.join(args.pages)}",
              file=sys.stderr)
        return 2
    sources = {src.resolve(): src for src, _ in files}
    for _, rel in files:
        raw = sources.get((args.out / rel).resolve())
        if raw is not None:
            print(f"shop-r1 simplify: --out {args.out} would overwrite the raw page {raw}; "
                  "choose another output folder", file=sys.stderr)
            return 2
    unreadable: list[Path] = []
    readable: list[tuple[Path, Path]] = []

    def raw_pages() -> Iterator[bytes]:  # read lazily; unreadable files are reported and skipped
        for src, rel in files:
            try:
                raw = src.read_bytes()
            except OSError as e:
                tqdm.write(f"shop-r1 simplify: cannot read {src}: {e.strerror or e}", file=sys.stderr)
                unreadable.append(src)
                bar.update(1)
                continue
            readable.append((src, rel))
            yield raw

    written = 0
    bar = tqdm(total=len(files), unit="page", desc="simplify", file=sys.stderr)
    try:
        results = simplify_iter(raw_pages(), urls=itertools.repeat(args.url),
                                recipe=args.recipe, keep_href=args.keep_href,
                                auto_recipe=not args.no_auto_recipe, jobs=args.jobs)
        with bar:
            for i, page in enumerate(results):
                src, rel = readable[i]
                target = args.out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(page.html + "\n", encoding="utf-8")
                if args.elements:
                    target.with_name(target.name + ".elements.jsonl").write_text(
                        "".join(line + "\n" for line in _element_lines(page, True)),
                        encoding="utf-8")
                for miss in page.recipe_misses:
                    tqdm.write(f"{src}: recipe drift ({page.recipe}): {miss}", file=sys.stderr)
                written += 1
                bar.update(1)
    except DataError as e:
        print(f"shop-r1 simplify: bad recipe: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"shop-r1 simplify: cannot write {e.filename}: {e.strerror} "
              f"({written} page(s) written before)", file=sys.stderr)
        return 2
    print(f"simplified {written} page(s) into {args.out}"
          + (f"; {len(unreadable)} unreadable (listed above)" if unreadable else ""),
          file=sys.stderr)
    return 1 if unreadable else 0
