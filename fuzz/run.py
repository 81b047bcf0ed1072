"""Long-running fuzzing of the two functions that take untrusted input.

    python fuzz/run.py --minutes 5                 # every target, atheris if installed
    python fuzz/run.py --target parse --minutes 30
    python fuzz/run.py --engine hypothesis         # no atheris needed

Targets:
- ``parse``: ``shop_env.actions.parse_model_output`` on arbitrary text and on mutated
  valid outputs, must return a ParsedOutput and never raise;
  ``shop_env.reward.compute_reward`` on the same text must stay within [0, max_reward].
- ``simplify``: ``shop_env.html.simplify`` on arbitrary bytes, must return a page whose
  element names are unique and re-simplifying its HTML must be a fixed point.

A crash is written to ``fuzz/crashes/`` (the input bytes) and re-raised; turn each into a
regression test in tests/test_fuzz_regressions.py.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import sys
import time
from pathlib import Path

CRASH_DIR = Path(__file__).resolve().parent / "crashes"
GOLDS = None


def _golds():
    global GOLDS
    if GOLDS is None:
        from shop_env.actions import Action
        GOLDS = [Action("click", "search_results.acme_kettle.product_title"),
                 Action("type_and_submit", "nav_bar.search_input", "electric kettle"),
                 Action("terminate")]
    return GOLDS


def check_parse(data: bytes) -> None:
    """One parse-target execution: never raise, reward bounded."""
    from shop_env.actions import parse_model_output
    from shop_env.reward import compute_reward, max_reward
    text = data.decode("utf-8", errors="surrogateescape")  # invalid bytes -> lone surrogates
    parsed = parse_model_output(text)
    assert isinstance(parsed.ok, bool)
    assert parsed.ok == (parsed.action is not None)
    for gold in _golds():
        r = compute_reward(text, gold)
        assert 0.0 <= r.total <= max_reward(gold) + 1e-9, (r, gold)


def check_simplify(data: bytes) -> None:
    """One simplify-target execution: never raise, unique names, idempotent."""
    from shop_env.html import simplify
    page = simplify(data)
    names = [e.name for e in page.elements]
    assert len(names) == len(set(names)), "duplicate element names"
    again = simplify(page.html)
    assert again.html == page.html, "simplify is not idempotent"


TARGETS = {"parse": check_parse, "simplify": check_simplify}
SEEDS = {
    "parse": [b'{"rationale": "I want a kettle.", "action": {"type": "type_and_submit", '
              b'"name": "nav_bar.search_input", "text": "electric kettle"}}',
              b'```json\n{"rationale": "done", "action": {"type": "terminate"}}\n```'],
    "simplify": [b"<html><body><nav id='nav'><form><input name='q' placeholder='Search'>"
                 b"<button>Go</button></form></nav><main><a href='/p/1'>Kettle</a>"
                 b"<script>x()</script><div hidden><a>gone</a></div></main></body></html>",
                 "<body><nav role=navigation aria-label='Main'><ul><li><a href=/a>A\u3000b</a></li>"
                 "<li role=listitem><span role='chec\u212abox'>k</span></li></ul></nav>"
                 "<div style='di\u017fplay:none'><button>x</button></div><div><span><div "
                 "class='x\xa0aok-hidden'>h</div></span></div><label for=q>Find</label>"
                 "<input id=q name=field-keywords></body>".encode("utf-8"),
                 # raw text, script escape states, self-closing raw tags, comment forms,
                 # quoted ">" and odd attribute names
                 b"<script><!--<script></script><style></script><p class=v>VISIBLE</p></style>"
                 b"<script/>x<b class=c>y</b></script><textarea/><i class=t>t</i><title>a<b "
                 b"class=q></title><!-->x<!--->y<!--z--!><a href='>' title=\"<\" class=k>L</a>"
                 b"<div a*b=1 class=d {x=1><xmp><p class=x></xmp><style a=1/>s</style>"
                 b"<plaintext><em class=e>z"],
}


def _save_crash(target: str, data: bytes) -> Path:
    CRASH_DIR.mkdir(exist_ok=True)
    path = CRASH_DIR / f"{target}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
    path.write_bytes(data)
    return path


def _saving_crashes(target: str):
    """The target's check, saving any input that makes it fail before re-raising."""
    check = TARGETS[target]

    def one(data: bytes) -> None:
        try:
            check(data)
        except Exception:
            print(f"crash saved to {_save_crash(target, data)}", file=sys.stderr)
            raise
    return one


def _run_atheris(target: str, seconds: float) -> None:
    import atheris  # type: ignore[import-not-found]

    one = _saving_crashes(target)
    CRASH_DIR.mkdir(exist_ok=True)
    corpus = Path(__file__).resolve().parent / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(SEEDS[target]):
        (corpus / f"seed{i}").write_bytes(seed)
    with atheris.instrument_imports():
        import shop_env.actions, shop_env.reward, shop_env.html  # noqa: F401,E401
    atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={max(1, int(seconds))}", "-rss_limit_mb=4096",
                   "-timeout=20", f"-artifact_prefix={CRASH_DIR}/"], one)
    atheris.Fuzz()


def _run_hypothesis(target: str, seconds: float) -> None:
    from hypothesis import HealthCheck, given, settings, strategies as st

    one = _saving_crashes(target)
    deadline = time.monotonic() + seconds
    mutations = st.one_of(st.binary(max_size=4096),
                          st.text(max_size=2048).map(lambda s: s.encode("utf-8", "surrogatepass")),
                          st.sampled_from(SEEDS[target]).flatmap(
                              lambda s: st.tuples(st.integers(0, len(s)), st.binary(max_size=64)).map(
                                  lambda t: s[:t[0]] + t[1] + s[t[0]:])))
    runs = 0
    while time.monotonic() < deadline:
        @settings(max_examples=2000, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(mutations)
        def prop(data: bytes) -> None:
            one(data)
        prop()
        runs += 2000
    print(f"{target}: {runs} hypothesis examples, no crash")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    ap.add_argument("--minutes", type=float, default=5.0, help="time budget per target")
    ap.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    args = ap.parse_args(argv)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    targets = list(TARGETS) if args.target == "all" else [args.target]
    seconds = args.minutes * 60
    for t in targets:
        print(f"fuzzing {t} with {engine} for {args.minutes:g} min", flush=True)
        if engine == "atheris":
            # libFuzzer exits the process when done: run each target in its own process.
            p = mp.get_context("spawn").Process(target=_run_atheris, args=(t, seconds))
            p.start()
            p.join()
            if p.exitcode not in (0, None):
                return p.exitcode
        else:
            _run_hypothesis(t, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
