"""``shop-r1 data ...``: import, validate, describe and generate session stores."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``data`` command group to the top-level parser."""
    data = subparsers.add_parser("data", help="import, validate, describe and generate session stores")
    sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])

    imp = sub.add_parser("import-opera", help="import OPeRA parquet/JSON/JSONL rows into a store",
                         description="Import an OPeRA download. With train and test action files, OUT/train "
                         "and OUT/test stores are written (OPeRA's own split); a single split gives one store.")
    imp.add_argument("src", nargs="+", metavar="SRC",
                     help="OPeRA_filtered / OPeRA_full folder, or action files (.parquet, .jsonl, .json)")
    imp.add_argument("out", metavar="OUT", help="new store directory (written atomically)")
    imp.add_argument("--users", nargs="+", help="OPeRA's user table files (user_id + survey; default: the "
                     "folder's user/ files)")
    imp.add_argument("--persona-fields", nargs="+", default=[], metavar="COLUMN",
                     help="user columns to add to the persona besides the parsed survey (e.g. "
                     "interview_transcript_processed)")
    imp.add_argument("--split-by", choices=("source", "user", "none"), default="source",
                     help="source: keep OPeRA's train/test split (default; it shares users); user: "
                     "seeded user-disjoint regrouping; none: one store")
    imp.add_argument("--test-fraction", type=float, default=0.2, help="with --split-by user")
    imp.add_argument("--seed", type=int, default=0, help="with --split-by user")
    imp.add_argument("--strict", action="store_true",
                     help="fail on the first odd row, and on a target that is not on its page")
    imp.add_argument("--min-steps", type=int, default=1, help="drop sessions with fewer steps (counted)")
    imp.add_argument("--input-name-fallback", help="name for input rows without semantic_id (default: none, such rows are skipped)")
    imp.add_argument("--assume-grouped", action="store_true",
                     help="rows are contiguous per session: one pass, no spill to disk")
    imp.add_argument("--page-codec", choices=("none", "zlib"), default="none",
                     help="store pages as written, or zlib-compressed (smaller store, slower reads)")
    imp.add_argument("--report-json", help="also write the import report here")
    imp.set_defaults(func=_cmd_import_opera)

    val = sub.add_parser("validate", help="check a store; errors name file, line and field")
    val.add_argument("path", metavar="PATH", nargs="?", help="store (default: the embedded sample)")
    val.add_argument("--no-targets", action="store_true", help="skip the target-on-page check")
    val.add_argument("--max-problems", type=int, default=50, help="problems to list (all are counted)")
    val.set_defaults(func=_cmd_validate)

    st = sub.add_parser("stats", help="sessions, steps, action-type mix, page-size percentiles")
    st.add_argument("path", metavar="PATH", nargs="?", help="store (default: the embedded sample)")
    st.add_argument("--split", choices=("train", "test", "all"),
                    help="one split (a split folder's sub-store, or a seeded hash split of a single store; "
                         "default: every split)")
    st.add_argument("--test-fraction", type=float, default=0.2,
                    help="share of a single store's sessions in the hash split's test side")
    st.add_argument("--seed", type=int, default=0, help="seed of the hash split (and of --sample)")
    st.add_argument("--by", choices=("auto", "user", "session"), default="auto",
                    help="hash split unit: users (all sessions of a user on one side; a session "
                         "without a user id by itself), sessions, or auto (= user)")
    st.add_argument("--sample", type=int, help="estimate mix and page sizes from this many sessions (default: all of them)")
    st.add_argument("--json", action="store_true", help="print JSON instead of text")
    st.set_defaults(func=_cmd_stats)

    syn = sub.add_parser("synth", help="generate a SYNTHETIC store (shop_env.synth)")
    syn.add_argument("out", metavar="OUT", help="new store folder (train/ and test/ sub-stores)")
    syn.add_argument("--sessions", type=int, required=True, help="number of sessions to simulate")
    syn.add_argument("--seed", type=int, default=0,
                     help="generator seed (the same seed and count give the same store, byte for byte)")
    syn.set_defaults(func=_cmd_synth)


def _cmd_import_opera(args: argparse.Namespace) -> int:
    from shop_env.data.importers.opera import import_opera
    src = args.src[0] if len(args.src) == 1 else args.src
    report = import_opera(src, args.out, users=args.users, persona_fields=args.persona_fields,
                          split_by=args.split_by, test_fraction=args.test_fraction, seed=args.seed,
                          strict=args.strict, min_steps=args.min_steps,
                          input_name_fallback=args.input_name_fallback, assume_grouped=args.assume_grouped,
                          page_codec=args.page_codec)
    print(report.summary())
    print(f"wrote {args.out}")
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=2)
    return 0


def _store_path(args: argparse.Namespace) -> str:
    """The PATH argument (an existing folder; the embedded sample when omitted)."""
    if args.path is None:
        from shop_env.paths import sample_data_dir
        return str(sample_data_dir())
    from shop_env.cli import require_folder
    return require_folder(args.path, "PATH")


def _cmd_validate(args: argparse.Namespace) -> int:
    from shop_env.data.validate import validate_store
    args.path = _store_path(args)
    report = validate_store(args.path, check_targets=not args.no_targets, max_problems=args.max_problems)
    print(report.summary())
    return 0 if report.ok else 1


def _cmd_stats(args: argparse.Namespace) -> int:
    from shop_env.data.stats import format_stats, store_stats
    args.path = _store_path(args)
    split_kwargs = {"test_fraction": args.test_fraction, "seed": args.seed, "by": args.by}
    if args.split in (None, "all"):
        split_kwargs = {}
    results = store_stats(args.path, split=args.split, sample=args.sample, **split_kwargs)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("\n\n".join(format_stats(s, label) for label, s in results.items()))
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    try:
        from shop_env.synth import generate
    except ImportError as e:
        print(f"error: the synthetic generator is not available: {e}", file=sys.stderr)
        return 1
    path = generate(args.sessions, args.seed, args.out)
    print(f"wrote SYNTHETIC store {path}")
    return 0
