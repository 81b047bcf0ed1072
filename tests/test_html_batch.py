"""simplify_many / simplify_iter and `shop-r1 simplify --out`: the same pages as simplify,
one page at a time."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from shop_env.cli import main
from shop_env.errors import DataError
from shop_env.html import compile_recipe, simplify, simplify_iter, simplify_many
from shop_env.html.recipes import Recipe

FIXTURES = Path(__file__).parent / "fixtures" / "html"
AMAZON = "https://www.amazon.com/s?k=mug"
TOY_RECIPE = {"name": "toy", "hidden_classes": ["gone"],
              "rules": [{"selector": "nav", "name": "top", "children": [
                  {"selector": "a", "name": "from_text"}]}]}


def _pages() -> list[bytes]:
    pages = [p.read_bytes() for p in sorted(FIXTURES.glob("*.html"))]
    pages += [b"", b"<p>plain</p>", "<nav><a href=/x>Caf\u00e9</a><b class=gone><a>h</a></b>"
              "<button onclick=f()>Go</button></nav>".encode("utf-8")]
    return pages


@pytest.mark.parametrize("jobs", [1, 2])
def test_simplify_many_equals_simplify_page_by_page(jobs):
    pages = _pages()
    urls = [AMAZON if i % 2 else None for i in range(len(pages))]
    got = simplify_many(pages, urls=urls, jobs=jobs)
    want = [simplify(p, url=u) for p, u in zip(pages, urls)]
    assert got == want
    assert [g.html for g in got] == [w.html for w in want]
    assert any(g.recipe == "amazon" for g in got)  # the recipe really ran in the workers


@pytest.mark.parametrize("recipe", [TOY_RECIPE, "amazon", compile_recipe(TOY_RECIPE)])
def test_simplify_many_sends_the_recipe_to_workers(recipe):
    pages = _pages()
    got = simplify_many(pages, recipe=recipe, keep_href=True, jobs=2)
    assert got == [simplify(p, recipe=recipe, keep_href=True) for p in pages]


def test_simplify_iter_reads_lazily_and_keeps_order():
    pages = _pages() * 3
    consumed = []

    def source():
        for i, p in enumerate(pages):
            consumed.append(i)
            yield p

    results = simplify_iter(source(), jobs=2)
    first = next(results)
    assert first == simplify(pages[0])
    assert len(consumed) < len(pages)  # not everything was read up front
    assert [first, *results] == [simplify(p) for p in pages]


def test_bad_recipe_and_bad_jobs_fail_before_any_work():
    with pytest.raises(DataError):
        simplify_many([b"<p>x</p>"] * 3, recipe={"rules": "not a list"}, jobs=2)
    with pytest.raises(ValueError, match="jobs"):
        simplify_many([b"<p>x</p>"], jobs=0)
    hand_built = Recipe(name="h", domains=(), rules=[])
    with pytest.raises(ValueError, match="by hand"):
        simplify_many([b"<p>x</p>"] * 2, recipe=hand_built, jobs=2)
    assert simplify_many([b"<p>x</p>"], recipe=hand_built, jobs=2) == \
        [simplify(b"<p>x</p>", recipe=hand_built)]  # one page: no worker needed


def test_cli_simplifies_a_directory_and_reports_unreadable_files(tmp_path, capsys):
    src = tmp_path / "pages"
    (src / "sub").mkdir(parents=True)
    for fixture in FIXTURES.glob("*.html"):
        (src / fixture.name).write_bytes(fixture.read_bytes())
    (src / "sub" / "tiny.htm").write_bytes(b"<nav><a href=/a>Home</a></nav>")
    (src / "notes.txt").write_text("not a page")
    (src / "broken.html").symlink_to(src / "missing.html")  # unreadable
    out = tmp_path / "out"
    status = main(["simplify", str(src), "--out", str(out), "--jobs", "2", "--elements"])
    err = capsys.readouterr().err
    assert status == 1
    assert f"cannot read {src / 'broken.html'}" in err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    pages = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.htm*") if p.exists())
    assert written == sorted(pages + [p + ".elements.jsonl" for p in pages])
    for rel in pages:
        want = simplify((src / rel).read_bytes())
        assert (out / rel).read_text(encoding="utf-8") == want.html + "\n"
        lines = (out / (rel + ".elements.jsonl")).read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["name"] for line in lines] == want.names()


def test_cli_refuses_several_pages_without_out_and_missing_sources(tmp_path, capsys):
    page = tmp_path / "a.html"
    page.write_text("<a href=/x>x</a>")
    assert main(["simplify", str(page), str(page)]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["simplify", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["simplify", str(page), "--out", str(tmp_path / "o"), "--jobs", "0"]) == 2


def test_simplifying_leaves_process_wide_state_alone(monkeypatch):
    """No gc switches (or other global toggles) inside the library call."""
    import gc

    calls = []
    for fn in ("disable", "enable", "freeze", "set_threshold"):
        monkeypatch.setattr(gc, fn, lambda *a, _fn=fn: calls.append(_fn))
    was_enabled = gc.isenabled()
    simplify_many(_pages(), urls=[AMAZON] * len(_pages()), jobs=1)
    assert calls == [] and gc.isenabled() == was_enabled


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("n_urls", [0, 2])
def test_urls_that_run_out_raise_instead_of_dropping_pages(jobs, n_urls):
    pages = ["<a href='/1'>one</a>", "<a href='/2'>two</a>", "<a href='/3'>three</a>"]
    with pytest.raises(ValueError, match="ran out at page"):
        simplify_many(pages, urls=[f"https://example.com/{i}" for i in range(n_urls)], jobs=jobs)


def test_cli_refuses_an_out_where_one_page_would_overwrite_another_raw_page(tmp_path, capsys):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "foo.html").write_text("<a href=/a>Alpha</a>")
    (tmp_path / "d" / "sub" / "foo.html").write_text("<a href=/b>Beta raw page</a>")
    assert main(["simplify", str(tmp_path / "d"), "--out", str(tmp_path / "d" / "sub"), "--jobs", "1"]) == 2
    assert "would overwrite the raw page" in capsys.readouterr().err
    assert (tmp_path / "d" / "sub" / "foo.html").read_text() == "<a href=/b>Beta raw page</a>"


@pytest.mark.parametrize("same_folder", ["file", "dir"])
def test_cli_refuses_to_overwrite_the_raw_pages(tmp_path, capsys, same_folder):
    page = tmp_path / "a.html"
    raw = "<div><a href=/x>x</a></div><script>var s = 1;</script>"
    page.write_text(raw)
    source = page if same_folder == "file" else tmp_path
    assert main(["simplify", str(source), "--out", str(tmp_path)]) == 2
    assert "would overwrite the raw page" in capsys.readouterr().err
    assert page.read_text() == raw
