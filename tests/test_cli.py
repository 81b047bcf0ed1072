"""The ``shop-r1`` command line: custom policies, one-line errors for bad input, help for every option."""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shop_env.cli import build_parser, iter_parsers, main
from shop_env.cli.policies import BUILDERS, PolicyContext, PolicySpecError, resolve_policy
from shop_env.data.store import write_store
from shop_env.evaluation import evaluate
from shop_env.evaluation.results import STEPS_FILE
from tests.test_evaluation import make_sessions

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom_policy.py"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("cli") / "store", make_sessions(8, seed=3), synthetic=True)


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(code: int, err: str, *needles: str) -> None:
    """A non-zero exit, one ``error: ...`` line on stderr, no traceback, naming each needle."""
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# -- custom policies ---------------------------------------------------------------------

def test_resolver_builds_baselines_and_names_unknown_specs(store_path):
    from agents.baselines import MajorityTypePolicy, RandomPolicy, ReplayPolicy, RuleBasedPolicy
    ctx = PolicyContext(data=store_path, split="all", train_split="all", seed=2)
    assert isinstance(resolve_policy("random", ctx), RandomPolicy) and resolve_policy("random", ctx).seed == 2
    assert isinstance(resolve_policy("rule", ctx), RuleBasedPolicy)
    assert isinstance(resolve_policy("majority", ctx), MajorityTypePolicy)
    assert isinstance(resolve_policy("replay", ctx), ReplayPolicy)
    assert set(BUILDERS) == {"random", "majority", "rule", "replay", "llm"}
    for spec, message in (("nope", "unknown policy 'nope'"), ("llm:", "llm:PATH_OR_NAME"),
                          ("no_such_module_xyz:Cls", "no module named 'no_such_module_xyz'"),
                          ("json:NoSuchClass", "has no attribute 'NoSuchClass'"),
                          (f"{EXAMPLE}:Missing", "has no attribute 'Missing'"),
                          ("missing/file.py:Cls", "no such file"),
                          ("json:dumps", "cannot be built")):
        with pytest.raises(PolicySpecError, match=message):
            resolve_policy(spec, ctx)
    with pytest.raises(PolicySpecError, match="needs data"):
        resolve_policy("replay")
    with pytest.raises(PolicySpecError, match="without act"):
        resolve_policy("collections:OrderedDict", ctx)


def test_eval_a_policy_from_a_file_and_from_a_module_equals_evaluate_in_python(store_path, tmp_path, capsys,
                                                                                monkeypatch):
    import runpy
    policy_cls = runpy.run_path(str(EXAMPLE))["PersonaShopper"]
    reference = evaluate(policy_cls(query_words=3), store_path, split="all", limit=5)

    common = ["--data", store_path, "--split", "all", "--limit", "5", "--no-progress",
              "--policy-kwargs", '{"query_words": 3}']
    code, out, _ = run_cli(["eval", "--policy", f"{EXAMPLE}:PersonaShopper", *common, "--out", tmp_path / "file"],
                           capsys)
    assert code == 0 and "persona-shopper" not in out  # the report names the policy by its spec
    from_file = json.loads((tmp_path / "file" / "report.json").read_text())

    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    code, _, _ = run_cli(["eval", "--policy", "custom_policy:PersonaShopper", *common, "--out", tmp_path / "mod"],
                         capsys)
    assert code == 0
    from_module = json.loads((tmp_path / "mod" / "report.json").read_text())
    for report in (from_file, from_module):
        assert report["table2"] == json.loads(json.dumps(reference.table2))
        assert report["n_steps"] == reference.n_steps > 0
    assert from_file["config"]["policy"] == f"{EXAMPLE}:PersonaShopper"

    code, _, err = run_cli(["eval", "--policy", f"{EXAMPLE}:PersonaShopper", *common[:-2],
                            "--policy-kwargs", '{"nope": 1}', "--out", tmp_path / "bad"], capsys)
    assert_one_error_line(code, err, "cannot be built", "nope")


def test_a_module_in_the_current_folder_is_found(store_path, tmp_path, capsys, monkeypatch):
    (tmp_path / "my_leaving_agent.py").write_text(textwrap.dedent('''
        from shop_env.actions import Action, format_model_output

        class Leave:
            name = "leave"

            def act(self, observations, infos):
                return [format_model_output("", Action("terminate")) for _ in observations]
    '''))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    code, _, err = run_cli(["eval", "--policy", "my_leaving_agent:Leave", "--data", store_path, "--split", "all",
                            "--limit", "2", "--no-progress", "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["table3"]["click"]["type_accuracy"] == 0.0 and report["n_steps"] > 0


def test_policy_kwargs_must_be_a_json_object(store_path, tmp_path, capsys):
    for bad in ("{seed: 1}", "[1]"):
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", "--policy", "random", "--policy-kwargs", bad, "--out", str(tmp_path)])
        assert exit_info.value.code == 2
        assert "--policy-kwargs" in capsys.readouterr().err


@pytest.mark.parametrize("policy, needle", [("rule", "cannot be built"), ("random", "cannot be built"),
                                            ("majority", "takes no --policy-kwargs")])
def test_builtin_policies_refuse_unknown_kwargs(store_path, tmp_path, capsys, policy, needle):
    code, _, err = run_cli(["eval", "--policy", policy, "--data", store_path, "--split", "all", "--limit", "1",
                            "--no-progress", "--policy-kwargs", '{"bogus": 1}', "--out", tmp_path / "o"], capsys)
    assert_one_error_line(code, err, needle, "bogus")
    assert not (tmp_path / "o" / "report.json").exists()


def test_custom_policy_example_runs():
    import runpy
    result = runpy.run_path(str(EXAMPLE))["main"](["--limit", "3"])
    assert 0.0 <= result["exact"] <= 1.0 and 0.0 < result["type_accuracy"] <= 1.0


# -- clean errors ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def broken_stores(store_path, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("broken")
    stores = {}
    for name in ("corrupt_line", "truncated_index", "bad_manifest"):
        stores[name] = Path(shutil.copytree(store_path, root / name))
    data = stores["corrupt_line"] / "sessions.jsonl"
    lines = data.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"steps":', b'"steps";', 1)  # same length: the index stays valid
    data.write_bytes(b"".join(lines))
    index = stores["truncated_index"] / "index.bin"
    index.write_bytes(index.read_bytes()[:-5])
    (stores["bad_manifest"] / "manifest.json").write_text('{"format": "shop-r1-store", "version": 1,')
    return stores


def test_eval_bad_input_is_one_error_line(store_path, broken_stores, tmp_path, capsys):
    def eval_cli(*args):
        return run_cli(["eval", "--split", "all", "--no-progress", "--out", tmp_path / "o", *args], capsys)

    code, _, err = eval_cli("--policy", "random", "--data", tmp_path / "missing")
    assert_one_error_line(code, err, str(tmp_path / "missing"), "--data", "does not exist")
    code, _, err = eval_cli("--policy", "nope", "--data", store_path)
    assert_one_error_line(code, err, "unknown policy 'nope'", "MODULE:CLASS")
    code, _, err = eval_cli("--policy", "random", "--data", broken_stores["corrupt_line"])
    assert_one_error_line(code, err, "sessions.jsonl", "row 3", "corrupt JSON")
    code, _, err = eval_cli("--policy", "random", "--data", broken_stores["truncated_index"])
    assert_one_error_line(code, err, "index.bin", "truncated")
    code, _, err = eval_cli("--policy", "random", "--data", broken_stores["bad_manifest"])
    assert_one_error_line(code, err, "manifest.json", "not valid JSON")


def test_a_corrupt_line_keeps_the_steps_already_logged(broken_stores, tmp_path, capsys):
    out = tmp_path / "partial"
    code, _, err = run_cli(["eval", "--policy", "rule", "--data", broken_stores["corrupt_line"], "--split", "all",
                            "--batch-size", "1", "--no-progress", "--out", out], capsys)
    assert_one_error_line(code, err, "row 3")
    logged = [json.loads(line) for line in (out / STEPS_FILE).read_text().splitlines()]
    assert logged and {r["session_index"] for r in logged} <= {0, 1}


def test_resume_mismatch_names_the_restart_flag(store_path, tmp_path, capsys):
    args = ["eval", "--policy", "random", "--data", store_path, "--split", "all", "--limit", "1", "--no-progress",
            "--out", tmp_path / "o"]
    assert run_cli(args, capsys)[0] == 0
    code, _, err = run_cli([*args, "--context", "latest_step"], capsys)
    assert_one_error_line(code, err, "run.json", "context", "--restart")
    assert "resume=False" not in err.split("--restart")[0]
    assert run_cli([*args, "--context", "latest_step", "--restart"], capsys)[0] == 0


def test_compare_and_data_commands_report_missing_paths(tmp_path, capsys):
    code, _, err = run_cli(["compare", "/nonexistent/report.json"], capsys)
    assert_one_error_line(code, err, "/nonexistent/report.json")
    (tmp_path / "bad.json").write_text("{")
    code, _, err = run_cli(["compare", tmp_path / "bad.json"], capsys)
    assert_one_error_line(code, err, str(tmp_path / "bad.json"), "not an evaluation report")
    code, _, err = run_cli(["data", "validate", tmp_path / "nowhere"], capsys)
    assert_one_error_line(code, err, str(tmp_path / "nowhere"), "does not exist")
    assert "shop_env.html unavailable" not in err
    code, _, err = run_cli(["data", "stats", tmp_path / "nowhere"], capsys)
    assert_one_error_line(code, err, "does not exist")


def test_unknown_split_names_are_named(store_path):
    from shop_env.data.store import open_store
    with pytest.raises(ValueError, match="unknown split 'tset'; expected one of train, test, all"):
        open_store(store_path, split="tset")


def test_train_with_an_unknown_split_names_it(tmp_path, capsys):
    from tests.tiny_data import cached_easy_model
    model, _ = cached_easy_model()
    code = main(["train", "sft", "--model", str(model), "--split", "tset", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code != 0 and "unknown split 'tset'" in err and "not a session store" not in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path, capsys):
    for argv in (["--debug", "compare", "/nonexistent/report.json"], ["compare", "/nonexistent/report.json", "--debug"]):
        code, _, err = run_cli(argv, capsys)
        assert code == 1 and "Traceback (most recent call last)" in err and "FileNotFoundError" in err


def test_an_unexpected_exception_is_one_line_that_points_to_debug(monkeypatch, capsys):
    import shop_env.evaluation.compare as compare

    def boom(paths):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(compare, "load_reports", boom)
    code, _, err = run_cli(["compare", "x.json"], capsys)
    assert_one_error_line(code, err, "ZeroDivisionError", "--debug")


def test_the_installed_command_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "shop_env.cli", "eval", "--policy", "random", "--data",
                           str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing'}: --data: does not exist; a store is "
                                                "a folder with manifest.json (or train/ and test/ stores)"]


# -- help ----------------------------------------------------------------------------------

def test_every_option_of_every_command_has_help_and_shows_its_default():
    parsers = list(iter_parsers(build_parser()))
    assert {"shop-r1 eval", "shop-r1 compare", "shop-r1 data validate", "shop-r1 data synth"} <= {p for p, _ in parsers}
    missing = []
    for prog, parser in parsers:
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, (argparse._SubParsersAction, argparse._HelpAction, argparse._VersionAction)):
                continue
            name = "/".join(action.option_strings) or action.dest
            if not (action.help or "").strip():
                missing.append(f"{prog} {name}")
            elif action.option_strings and not any(action.default is v for v in (None, False, argparse.SUPPRESS)):
                shown = f"default: {action.default}" in " ".join(text.split())
                if not shown and "default" not in action.help:
                    missing.append(f"{prog} {name} (default {action.default!r} not shown)")
    assert missing == []


def test_eval_help_explains_what_none_means(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--policy-kwargs JSON" in text and "FILE.py:CLASS" in text
    assert "(default: the policy's own, 0.6 for llm:)" in text
    assert "(default: whole_session)" in text and "(default: 8; openai: twice --concurrency" in text


def test_readme_custom_policy_commands_match_the_example():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "examples/custom_policy.py:PersonaShopper" in readme and "custom_policy:PersonaShopper" in readme
    assert "class PersonaShopper" in EXAMPLE.read_text(encoding="utf-8")
