"""evaluate()'s settings object, the caller's policy left untouched, one store resolver, labelled plots."""
from __future__ import annotations

import pytest

from agents.baselines import RandomPolicy
from shop_env.data.store import SessionStore, open_store, resolve_store, write_store
from shop_env.evaluation import EvalSettings, evaluate
from tests.test_evaluation import make_sessions


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return write_store(tmp_path_factory.mktemp("evalapi") / "store", make_sessions(6, seed=7), synthetic=True)


def test_settings_object_and_keyword_overrides_give_the_same_report(store_path):
    settings = EvalSettings(split="all", context="latest_step", limit=4, seed=3, batch_size=2)
    a = evaluate(RandomPolicy(seed=1), store_path, settings)
    b = evaluate(RandomPolicy(seed=1), store_path, split="all", context="latest_step", limit=4, seed=3, batch_size=2)
    c = evaluate(RandomPolicy(seed=1), store_path, EvalSettings(split="all"), context="latest_step", limit=4,
                 seed=3, batch_size=2)
    assert a.to_dict() == b.to_dict() == c.to_dict()
    assert a.config["context"] == "latest_step" and a.config["limit"] == 4
    with pytest.raises(TypeError, match="nope"):
        evaluate(RandomPolicy(), store_path, nope=1)
    with pytest.raises(ValueError, match="context must be one of"):
        EvalSettings(context="everything")


class Sampler:
    """A policy with a temperature that records the temperature it acted with."""

    name = "sampler"

    def __init__(self) -> None:
        self.temperature = 0.6
        self.generation_kwargs = {"top_p": 0.9}
        self.seen: list[float] = []

    def act(self, observations, infos):
        self.seen.append(self.temperature)
        return ["{}" for _ in observations]


class KwargsSampler:
    name = "kwargs-sampler"

    def __init__(self) -> None:
        self.generation_kwargs = {"top_p": 0.9}
        self.seen: list[dict] = []

    def act(self, observations, infos):
        self.seen.append(dict(self.generation_kwargs))
        return ["{}" for _ in observations]


def test_temperature_is_applied_to_a_copy_not_to_the_callers_policy(store_path):
    pol = Sampler()
    report = evaluate(pol, store_path, split="all", limit=2, temperature=1.3)
    assert report.config["temperature"] == 1.3
    assert pol.seen and set(pol.seen) == {1.3}  # the copy acted at 1.3 (it shares the log list)...
    assert pol.temperature == 0.6  # ...and the caller's object kept its own temperature
    kw = KwargsSampler()
    evaluate(kw, store_path, split="all", limit=2, temperature=0.2)
    assert kw.seen and all(k == {"top_p": 0.9, "temperature": 0.2} for k in kw.seen)
    assert kw.generation_kwargs == {"top_p": 0.9}
    untouched = Sampler()
    evaluate(untouched, store_path, split="all", limit=1)  # no temperature: the policy's own
    assert set(untouched.seen) == {0.6}


def test_one_store_resolver_for_paths_and_open_stores(store_path):
    store = open_store(store_path)
    assert resolve_store(store, "test") is store  # an open store is used as is
    opened = resolve_store(store_path, "all")
    assert isinstance(opened, SessionStore) and len(opened) == len(store)
    assert len(resolve_store(store_path, "test", test_fraction=0.5)) == len(store.split("test", test_fraction=0.5))
    from shop_env.env import ShopSessionEnv
    from shop_env.evaluation import runner
    from shop_env.integrations import _rows
    assert _rows.resolve_store is resolve_store and runner.resolve_store is resolve_store
    assert ShopSessionEnv(store).store is store


def test_confusion_plot_labels_its_colours_and_cells_show_what_the_colours_show(store_path):
    from shop_env.evaluation.plots import COLORBAR_LABEL, confusion_figure
    report = evaluate(RandomPolicy(seed=0), store_path, split="all")
    fig = confusion_figure(report)
    heat, bar = fig.axes
    assert bar.get_ylabel() == COLORBAR_LABEL
    assert heat.get_xlabel() and heat.get_ylabel()
    image = heat.get_images()[0].get_array()
    matrix = report.confusion["matrix"]
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in heat.texts}
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            share = count / (sum(row) or 1)
            assert image[i, j] == pytest.approx(share)
            assert texts[(i, j)] == f"{100 * share:.0f}%\n({count})"


def test_reports_are_complete_without_matplotlib_and_never_switch_its_backend(tmp_path, store_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "run"
    code = f"""
import sys, warnings
sys.modules["matplotlib"] = None  # the [plots] extra is not installed
from agents.baselines import RandomPolicy
from shop_env.evaluation import evaluate
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    evaluate(RandomPolicy(seed=0), {str(store_path)!r}, split="all", out={str(out)!r}, progress=False)
assert any("shop-r1[plots]" in str(w.message) for w in caught), [str(w.message) for w in caught]
"""
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
    assert json.loads((out / "report.json").read_text())["n_steps"] > 0
    assert (out / "report.md").exists() and not (out / "confusion.png").exists()

    import matplotlib
    backend = matplotlib.get_backend()
    with_plots = tmp_path / "plots"
    evaluate(RandomPolicy(seed=0), store_path, split="all", out=with_plots, progress=False)
    assert (with_plots / "confusion.png").stat().st_size > 0 and (with_plots / "per_type.png").exists()
    assert matplotlib.get_backend() == backend
