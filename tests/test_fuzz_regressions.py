"""Every input the fuzzer (fuzz/run.py) ever crashed on, replayed through the same checks.

Files in tests/fuzz_regressions/ are named ``<target>-<hash>.bin``; add new crashes there.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted((ROOT / "tests" / "fuzz_regressions").glob("*.bin"))


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("shop_r1_fuzz", ROOT / "fuzz" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FUZZ = _fuzz_module()


def test_regression_inputs_exist_for_each_target():
    targets = {p.name.split("-", 1)[0] for p in CASES}
    assert targets <= set(FUZZ.TARGETS)
    assert CASES, "the regression corpus is empty"


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_fuzz_regression(path: Path):
    target = path.name.split("-", 1)[0]
    FUZZ.TARGETS[target](path.read_bytes())


@pytest.mark.parametrize("target", ["parse", "simplify"])
def test_seed_inputs_pass(target: str):
    for seed in FUZZ.SEEDS[target]:
        FUZZ.TARGETS[target](seed)
