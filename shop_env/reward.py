"""The Shop-R1 reward (paper Table 1 and Eq. 4): hierarchical, difficulty-aware, pure and fast.

For a model output and the recorded (gold) action, with ``s(x, y)`` the ROUGE-L similarity
counted only when it strictly exceeds ``threshold`` (see
:func:`shop_env.text_similarity.similarity_above`)::

    format     0.5 if the output has the valid format, else everything is 0
    type       0.3 if predicted type == gold type (all below only when the type matches)
    attribute  click: 0.2 if name non-empty
               type_and_submit: 0.1 if name non-empty + 0.1 if text non-empty
               terminate: 0
    value      click: DARS * s(name)
               type_and_submit: 0.1 * s(name) + DARS * s(text)
               terminate: 0

"Non-empty" means non-empty after ``str.strip()`` (a lone space earns nothing).
The output is parsed by :func:`shop_env.actions.parse_model_output` (see its docstring for
the exact format and its leniency); the metrics use the same parser.

Ablations (paper Table 4) are switches on :class:`RewardConfig`:
``format_reward=False`` drops the format term (unparseable output still scores 0);
``dars=False`` replaces the DARS factor by 1; ``action_reward="binary"`` replaces type,
attribute and value by 1.0 for an exact match (:func:`shop_env.metrics.exact_match` with the
same threshold), reported in the ``value`` field. ``rationale_reward`` and ``alpha`` (the
self-certainty weight) and ``kl_beta`` are carried for the trainers, which add those terms
because they need the policy's logits; this module never uses them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Mapping

from shop_env.actions import CLICK, TYPE_AND_SUBMIT, Action, ParsedOutput, parse_model_output
from shop_env.metrics import exact_match
from shop_env.text_similarity import rouge_l, similarity_above

__all__ = ["RewardConfig", "RewardBreakdown", "StepScore", "score_output", "compute_reward", "score_parsed",
           "max_reward", "rouge_l", "PRESETS"]


@dataclass(frozen=True)
class RewardConfig:
    """Weights and switches of the reward. Defaults are the paper's Shop-R1 setting."""

    format_weight: float = 0.5
    type_weight: float = 0.3
    click_name_weight: float = 0.2          # click: name non-empty
    submit_name_weight: float = 0.1         # type_and_submit: name non-empty
    submit_text_weight: float = 0.1         # type_and_submit: text non-empty
    submit_name_similarity_weight: float = 0.1  # type_and_submit: weight of s(name)
    dars_factor: float = 1000.0             # weight of s(click name) and s(typed text)
    threshold: float = 0.75                 # ROUGE-L counts only when strictly above this
    action_reward: Literal["hierarchical", "binary"] = "hierarchical"
    format_reward: bool = True
    dars: bool = True
    rationale_reward: bool = True           # used by trainers, not here
    alpha: float = 0.005                    # self-certainty weight (trainers)
    kl_beta: float = 0.001                  # KL weight (trainers)

    def __post_init__(self) -> None:
        if self.action_reward not in ("hierarchical", "binary"):
            raise ValueError(f"RewardConfig.action_reward must be 'hierarchical' or 'binary', "
                             f"got {self.action_reward!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"RewardConfig.threshold must be in [0, 1], got {self.threshold!r}")

    @property
    def value_factor(self) -> float:
        """The factor on the hard value terms: ``dars_factor``, or 1 when DARS is off."""
        return self.dars_factor if self.dars else 1.0

    @property
    def rationale_weight(self) -> float:
        """alpha when the rationale (self-certainty) reward is on, else 0."""
        return self.alpha if self.rationale_reward else 0.0

    @classmethod
    def preset(cls, name: str, **overrides: object) -> "RewardConfig":
        """A named configuration: one of :data:`PRESETS`, with optional field overrides."""
        try:
            base = PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown reward preset {name!r}; choose from {sorted(PRESETS)}") from None
        return replace(base, **overrides) if overrides else base


#: Paper settings: Shop-R1 and its ablations (Table 4), and the binary-reward RL baseline.
PRESETS: dict[str, RewardConfig] = {
    "shop_r1": RewardConfig(),
    "no_format": RewardConfig(format_reward=False),
    "no_rationale": RewardConfig(rationale_reward=False),
    "no_dars": RewardConfig(dars=False),
    "binary_action": RewardConfig(action_reward="binary"),
    # "RL (binary)" baseline: 1 if the action exactly matches, else 0, nothing else.
    "binary": RewardConfig(action_reward="binary", format_reward=False, rationale_reward=False),
}

_DEFAULT = PRESETS["shop_r1"]


@dataclass(frozen=True, slots=True)
class RewardBreakdown:
    """The reward's terms; ``total`` is their sum (0 everywhere for invalid format)."""

    format: float = 0.0
    type: float = 0.0
    attribute: float = 0.0
    value: float = 0.0
    total: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """Plain dict of the five floats (for logs and ``info["reward"]``)."""
        return asdict(self)


_ZERO = RewardBreakdown()


def _filled(s: str) -> bool:
    return bool(s) and not s.isspace()


def score_action(pred: Action, gold: Action, config: RewardConfig = _DEFAULT) -> RewardBreakdown:
    """Reward of a well-formed predicted action (format credit included) against ``gold``."""
    fmt = config.format_weight if config.format_reward else 0.0
    if config.action_reward == "binary":
        value = 1.0 if exact_match(pred, gold, config.threshold) else 0.0
        return RewardBreakdown(fmt, 0.0, 0.0, value, fmt + value)
    if pred.type != gold.type:
        return RewardBreakdown(fmt, 0.0, 0.0, 0.0, fmt)
    typ = config.type_weight
    if pred.type == CLICK:
        attr = config.click_name_weight if _filled(pred.name) else 0.0
        value = config.value_factor * similarity_above(pred.name, gold.name, config.threshold)
    elif pred.type == TYPE_AND_SUBMIT:
        attr = ((config.submit_name_weight if _filled(pred.name) else 0.0)
                + (config.submit_text_weight if _filled(pred.text) else 0.0))
        value = (config.submit_name_similarity_weight
                 * similarity_above(pred.name, gold.name, config.threshold)
                 + config.value_factor * similarity_above(pred.text, gold.text, config.threshold))
    else:  # terminate: type alone
        attr = value = 0.0
    return RewardBreakdown(fmt, typ, attr, value, fmt + typ + attr + value)


def _gold(gold: Action | Mapping[str, Any]) -> Action:
    """Accept the recorded action as an :class:`Action` or its canonical dict (dataset rows)."""
    return gold if isinstance(gold, Action) else Action.from_dict(gold)


def score_parsed(parsed: ParsedOutput, gold: Action | Mapping[str, Any],
                 config: RewardConfig | None = None) -> RewardBreakdown:
    """Reward of an already parsed output (avoids parsing twice); invalid format scores 0.
    ``gold`` may be an :class:`Action` or its canonical dict (``ValueError`` if malformed)."""
    gold = _gold(gold)
    if not parsed.ok or parsed.action is None:
        return _ZERO
    return score_action(parsed.action, gold, config or _DEFAULT)


@dataclass(frozen=True, slots=True)
class StepScore:
    """Everything known about one model output against its recorded action.

    ``parsed`` is the parser's result, ``reward`` the Table 1 breakdown, ``exact_match`` the
    paper's exact action match (same threshold as the reward) and ``type_match`` whether a
    parseable output predicted the recorded action type.
    """

    parsed: ParsedOutput
    reward: RewardBreakdown
    exact_match: bool
    type_match: bool

    @property
    def action(self) -> Action | None:
        """The predicted action, or None when the output did not parse."""
        return self.parsed.action if self.parsed.ok else None


def score_output(output_text: str, gold: Action | Mapping[str, Any],
                 config: RewardConfig | None = None) -> StepScore:
    """The one scoring path: parse ``output_text``, compute its reward against ``gold`` and
    its exact/type match. The environment, GRPO, TRL, verl and evaluation all call this.
    Never raises on any ``output_text``; a malformed ``gold`` raises ``ValueError``."""
    config = config or _DEFAULT
    gold = _gold(gold)
    parsed = parse_model_output(output_text)
    pred = parsed.action if parsed.ok else None
    return StepScore(parsed=parsed, reward=score_parsed(parsed, gold, config),
                     exact_match=bool(exact_match(pred, gold, config.threshold)),
                     type_match=pred is not None and pred.type == gold.type)


def compute_reward(output_text: str, gold: Action | Mapping[str, Any],
                   config: RewardConfig | None = None) -> RewardBreakdown:
    """Parse ``output_text`` and score it against the recorded action ``gold``. Never raises
    on any ``output_text``; invalid format gives an all-zero breakdown."""
    return score_parsed(parse_model_output(output_text), gold, config)


def max_reward(gold: Action | Mapping[str, Any], config: RewardConfig | None = None) -> float:
    """The total that outputting ``gold`` itself earns: the most any output can earn."""
    gold = _gold(gold)
    return score_action(gold, gold, config or _DEFAULT).total
