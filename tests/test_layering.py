"""The environment library stands alone: importing it pulls in none of the extras or agents/."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "stable_baselines3", "sb3_contrib", "trl", "agents", "matplotlib", "bs4",
         "openai", "datasets")


def test_importing_the_environment_library_loads_no_extra():
    code = ("import sys, gymnasium as gym, shop_env, shop_env.env, shop_env.live, shop_env.evaluation, "
            "shop_env.reward, shop_env.html, shop_env.data.importers.opera\n"
            "env = gym.make('ShopR1-v0'); env.reset(seed=0); env.step('x'); env.close()\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_no_shop_env_module_outside_the_cli_imports_agents():
    offenders = []
    for path in sorted((ROOT / "shop_env").rglob("*.py")):
        if "cli" in path.relative_to(ROOT / "shop_env").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in names
                          if n == "agents" or n.startswith("agents.")]
    assert offenders == []
