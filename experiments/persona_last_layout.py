"""One seed of ``shop-r1 reproduce --eval-on val`` with the persona moved after the current page.

The environment's layout puts the shopper's persona first; here (patched for this run only:
the environment, SFT, GRPO and evaluation all build prompts through the patched
``PromptBuilder``) it comes right before the question, at a fixed distance from the answer
whatever the page length. One-off diagnostic for issue 14 (docs/reproduce.md).

    .venv/bin/python experiments/persona_last_layout.py /tmp/persona_last search_sft_steps=1500
"""
from __future__ import annotations

import sys

import shop_env.prompts as prompts

_load, _user = prompts.PromptBuilder._load, prompts.PromptBuilder._user


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
    import torch

    from agents.training.reproduce import FULL, run_reproduce, settings_with

    prompts.PromptBuilder._load, prompts.PromptBuilder._user = _load_persona_last, _user_persona_last
    torch.set_num_threads(1)
    changes = dict(kv.split("=", 1) for kv in sys.argv[2:])
    settings = settings_with(FULL, **{k: type(getattr(FULL, k))(v) for k, v in changes.items()})
    run_reproduce(sys.argv[1], seeds=1, settings=settings, eval_on="val", jobs=1)


if __name__ == "__main__":
    main()
