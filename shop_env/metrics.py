"""Evaluation metrics of the paper (Tables 2-5): exact action accuracy, type accuracy and
macro-F1, per-type accuracies (Table 3), counts, confusion matrix and bootstrap intervals.

Decisions (SPEC "Metrics"):

* **Exact match**: same type, and ``click``: same name; ``type_and_submit``: same name and
  a typed text "of similar meaning", i.e. ROUGE-L strictly above ``threshold`` (or identical
  non-empty text, see :func:`shop_env.text_similarity.similarity_above`); ``terminate``: the
  type alone. ``strict=True`` requires the typed text to be equal as a string instead.
  Names and texts are compared after ``str.strip()``; comparisons are case-sensitive except
  inside ROUGE-L, which lowercases.
* **Type accuracy / macro-F1** over the fixed labels ``(click, type_and_submit, terminate)``.
  An unparseable output is its own prediction class ``invalid``: a miss (false negative) of
  the gold class and a false positive of none. **Decision:** a label with no gold example
  and no prediction (e.g. no terminate in a small test set, or in a bootstrap resample) has
  an undefined F1 and is left out of the macro average, which runs over the labels that
  occur (scikit-learn's ``f1_score(average="macro", labels=<labels present>)``); a perfect
  predictor therefore always scores 1.0. Its ``per_label_f1`` entry is reported as 0.
* Outputs are parsed with :func:`shop_env.actions.parse_model_output` (same leniency as the
  reward); unparseable outputs are wrong on every metric.
* Bootstrap: percentile 95% intervals over ``bootstrap`` resamples of the examples, seeded.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from shop_env.actions import ACTION_TYPES, CLICK, TERMINATE, Action, parse_model_output
from shop_env.text_similarity import similarity_above

__all__ = ["LABELS", "exact_match", "compute_metrics", "compute_metrics_from_actions", "macro_f1"]

#: Fixed label order of type accuracy, macro-F1 and the confusion matrix.
LABELS: tuple[str, ...] = ACTION_TYPES
INVALID = "invalid"
_INDEX = {label: i for i, label in enumerate(LABELS)}
_K = len(LABELS)
#: Resample-by-example cells generated at once by the bootstrap (bounds its memory).
BOOTSTRAP_CHUNK_CELLS = 4_000_000


def exact_match(pred: Action | None, gold: Action, threshold: float = 0.75,
                strict: bool = False) -> bool:
    """Whether ``pred`` counts as the recorded action ``gold`` (module docstring: decisions)."""
    if pred is None or pred.type != gold.type:
        return False
    if pred.type == TERMINATE:
        return True
    if pred.name.strip() != gold.name.strip():
        return False
    if pred.type == CLICK:
        return True
    if strict:
        return pred.text.strip() == gold.text.strip()
    return similarity_above(pred.text, gold.text, threshold) > 0.0


def _f1_from_confusion(conf: np.ndarray) -> np.ndarray:
    """Per-label F1 from confusion counts shaped (..., K, K+1): gold rows, predicted columns
    (the last column is ``invalid``). Returns shape (..., K)."""
    tp = np.diagonal(conf[..., :_K], axis1=-2, axis2=-1)
    pred_total = conf[..., :_K].sum(axis=-2)
    gold_total = conf.sum(axis=-1)
    denom = pred_total + gold_total  # 2TP + FP + FN
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), 0.0)


def _macro_from_confusion(conf: np.ndarray) -> np.ndarray:
    """Macro-F1 over the labels that occur (gold or predicted), from confusion (..., K, K+1)."""
    present = (conf[..., :_K].sum(axis=-2) + conf.sum(axis=-1)) > 0
    f1 = _f1_from_confusion(conf)
    return (f1 * present).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)


def macro_f1(gold_labels: Sequence[str], pred_labels: Sequence[str | None]) -> float:
    """Macro-F1 over the :data:`LABELS` that occur; a prediction outside them (e.g. None) is a miss."""
    g = np.array([_INDEX[x] for x in gold_labels], dtype=np.int64)
    p = np.array([_INDEX.get(x, _K) if x is not None else _K for x in pred_labels], dtype=np.int64)
    return float(_macro_from_confusion(_confusion(g, p)))


def _confusion(g: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.bincount(g * (_K + 1) + p, minlength=_K * (_K + 1)).reshape(_K, _K + 1)


def _bootstrap(exact: np.ndarray, strict: np.ndarray, typed: np.ndarray, g: np.ndarray,
               p: np.ndarray, resamples: int, seed: int) -> dict[str, list[float]]:
    """Percentile 95% intervals, vectorised over resamples (chunked to bound memory)."""
    n = len(g)
    rng = np.random.default_rng(seed)
    codes = g * (_K + 1) + p
    cells = _K * (_K + 1)
    chunk = max(1, min(resamples, BOOTSTRAP_CHUNK_CELLS // n))
    stats: dict[str, list[np.ndarray]] = {k: [] for k in
                                          ("exact_match", "exact_match_strict", "type_accuracy", "type_macro_f1")}
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        stats["exact_match"].append(exact[idx].mean(axis=1))
        stats["exact_match_strict"].append(strict[idx].mean(axis=1))
        stats["type_accuracy"].append(typed[idx].mean(axis=1))
        flat = (codes[idx] + (np.arange(b)[:, None] * cells)).ravel()
        conf = np.bincount(flat, minlength=b * cells).reshape(b, _K, _K + 1)
        stats["type_macro_f1"].append(_macro_from_confusion(conf))
        done += b
    return {k: [float(x) for x in np.percentile(np.concatenate(v), [2.5, 97.5])]
            for k, v in stats.items()}


def compute_metrics_from_actions(preds: Sequence[Action | None], golds: Sequence[Action],
                                 threshold: float = 0.75, bootstrap: int = 1000,
                                 seed: int = 0) -> dict[str, Any]:
    """All metrics from already parsed predictions (None = unparseable output).

    Returns a dict: ``n``, ``exact_match``, ``exact_match_strict``, ``type_accuracy``,
    ``type_macro_f1``, ``format_rate``, ``per_type`` (gold label -> ``n``, ``exact_match``,
    ``exact_match_strict``, ``type_accuracy``; None rates when a label has no gold),
    ``per_label_f1``, ``counts`` (``gold`` and ``pred`` label counts, ``pred`` includes
    ``invalid``), ``confusion`` (``labels``, ``pred_labels`` and the gold x pred ``matrix``),
    and ``ci`` (95% bootstrap intervals of the four headline rates; empty if ``bootstrap=0``).
    Raises ``ValueError`` on length mismatch or no examples.
    """
    if len(preds) != len(golds):
        raise ValueError(f"got {len(preds)} predictions for {len(golds)} gold actions")
    n = len(golds)
    if n == 0:
        raise ValueError("compute_metrics needs at least one example")
    g = np.fromiter((_INDEX[a.type] for a in golds), dtype=np.int64, count=n)
    p = np.fromiter((_K if a is None else _INDEX[a.type] for a in preds), dtype=np.int64, count=n)
    exact = np.fromiter((exact_match(a, b, threshold) for a, b in zip(preds, golds)), dtype=bool, count=n)
    strict = np.fromiter((exact_match(a, b, threshold, strict=True) for a, b in zip(preds, golds)),
                         dtype=bool, count=n)
    typed = g == p
    conf = _confusion(g, p)
    f1 = _f1_from_confusion(conf)
    per_type: dict[str, dict[str, Any]] = {}
    for i, label in enumerate(LABELS):
        mask = g == i
        count = int(mask.sum())
        per_type[label] = {
            "n": count,
            "exact_match": float(exact[mask].mean()) if count else None,
            "exact_match_strict": float(strict[mask].mean()) if count else None,
            "type_accuracy": float(typed[mask].mean()) if count else None,
        }
    pred_counts = np.bincount(p, minlength=_K + 1)
    return {
        "n": n,
        "exact_match": float(exact.mean()),
        "exact_match_strict": float(strict.mean()),
        "type_accuracy": float(typed.mean()),
        "type_macro_f1": float(_macro_from_confusion(conf)),
        "format_rate": float((p != _K).mean()),
        "per_type": per_type,
        "per_label_f1": {label: float(f1[i]) for i, label in enumerate(LABELS)},
        "counts": {
            "gold": {label: int(conf[i].sum()) for i, label in enumerate(LABELS)},
            "pred": {label: int(pred_counts[i]) for i, label in enumerate(LABELS + (INVALID,))},
        },
        "confusion": {"labels": list(LABELS), "pred_labels": list(LABELS + (INVALID,)),
                      "matrix": conf.tolist()},
        "ci": _bootstrap(exact, strict, typed, g, p, bootstrap, seed) if bootstrap > 0 else {},
        "threshold": threshold,
    }


def compute_metrics(outputs: Sequence[str], golds: Sequence[Action], threshold: float = 0.75,
                    bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Parse each model output and compute :func:`compute_metrics_from_actions`."""
    preds = [parse_model_output(o).action for o in outputs]
    return compute_metrics_from_actions(preds, golds, threshold=threshold, bootstrap=bootstrap, seed=seed)
