"""One seed of ``shop-r1 reproduce --eval-on val`` with the persona moved after the current page.

The environment's layout puts the shopper's persona first; here (patched for this run only:
the environment, SFT, GRPO and evaluation all build prompts through the patched
``PromptBuilder``) it comes right before the question, at a fixed distance from the answer
whatever the page length. One-off diagnostic for issue 14 (docs/reproduce.md).

    .venv/bin/python experiments/persona_last_layout.py /tmp/persona_last search_sft_steps=1500

``--seed N`` trains and evaluates that seed alone into the same ``OUT`` (so that seeds can run
side by side, one process each, once the first has written ``OUT/data``; a ``--jobs`` worker
would not see the patch):

    .venv/bin/python experiments/persona_last_layout.py /tmp/pl --seed 1 search_sft_steps=1500
"""
from __future__ import annotations

from pathlib import Path

import shop_env.prompts as prompts

_load, _user = prompts.PromptBuilder._load, prompts.PromptBuilder._user
VARIANT = "persona_last_layout"  # recorded in OUT/settings.json: a plain reproduce refuses this OUT


def _load_persona_last(self, session) -> None:
    fresh = session is not self._session
    _load(self, session)
    if fresh:
        persona = prompts._persona_header(session, self.include_persona, self.budget)
        self._persona_block = persona
        self._header = self._header[len(persona):]


def _user_persona_last(self, k, plan) -> str:
    text = _user(self, k, plan)
    return text[:-len(prompts._INSTRUCTION)] + self._persona_block + prompts._INSTRUCTION


def main() -> None:
    import argparse

    import torch

    from agents.training.reproduce import (FULL, _check_out, _Run, _train_and_evaluate_seed, check_settings,
                                           run_record, run_reproduce, settings_with)

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=None, help="train and evaluate this seed alone")
    parser.add_argument("changes", nargs="*", help="KEY=VALUE settings, as shop-r1 reproduce --set")
    args = parser.parse_intermixed_args()
    prompts.PromptBuilder._load, prompts.PromptBuilder._user = _load_persona_last, _user_persona_last
    torch.set_num_threads(1)
    changes = dict(kv.split("=", 1) for kv in args.changes)
    settings = settings_with(FULL, **{k: type(getattr(FULL, k))(v) for k, v in changes.items()})
    if args.seed is None:
        run_reproduce(args.out, seeds=1, settings=settings, eval_on="val", jobs=1, variant=VARIANT)
        return
    out = Path(args.out)
    check_settings(settings)
    _check_out(out, run_record(settings, "val", VARIANT))
    _Run(out, settings, "val", print).data()
    _train_and_evaluate_seed(out, settings, "val", args.seed, print, threads=1)


if __name__ == "__main__":
    main()
