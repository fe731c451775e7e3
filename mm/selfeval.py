"""Scoring sampled CoTs, no model needed: (weighted) votes, the self-evaluation's calibration, and abstention
(risk-coverage). One place for it: a run's metrics (mm.distill) and the report's figures (mm.results) both use it."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mm import answers, tasks


def vote(dataset: str, record: Mapping, k: int, weighted: bool = False) -> tuple[str | None, float]:
    """The answer of the first k samples by (weighted) majority, and its confidence: its share of the votes."""
    picked = record["answers"][:k]
    weights = record["p_correct"][:k] if weighted else [1.0] * len(picked)
    winner = answers.majority_vote(picked, weights)
    total = sum(w for a, w in zip(picked, weights, strict=True) if a is not None)
    support = sum(w for a, w in zip(picked, weights, strict=True) if a == winner and a is not None)
    return winner, (support / total if total > 0 else 0.0)


def vote_table(dataset: str, records: Sequence[Mapping], ks: Sequence[int], weighted: bool) -> pd.DataFrame:
    """Accuracy of the k-sample vote for each k (rows: k, accuracy, weighted)."""
    rows = [{"k": k, "accuracy": float(np.mean(vote_correct(dataset, records, k, weighted))), "weighted": weighted}
            for k in ks]
    return pd.DataFrame(rows)


def vote_correct(dataset: str, records: Sequence[Mapping], k: int, weighted: bool = False) -> list[bool]:
    """Per record: is the k-sample vote's answer right?"""
    task = tasks.get(dataset)
    return [task.is_correct(vote(dataset, r, k, weighted)[0], r["gold"]) for r in records]


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of |accuracy - mean confidence| weighted by the bin's share."""
    table = reliability_table(confidence, correct, n_bins)
    n = table["count"].sum()
    return float((table["count"] / n * (table["accuracy"] - table["confidence"]).abs()).sum()) if n else 0.0


def reliability_table(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> pd.DataFrame:
    """Per non-empty bin: mean confidence, accuracy and count (bins (0, 1/n], ..., ((n-1)/n, 1]; 0 in the first)."""
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=float)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    rows = [{"bin": b, "confidence": conf[bins == b].mean(), "accuracy": hit[bins == b].mean(),
             "count": int((bins == b).sum())} for b in range(n_bins) if (bins == b).any()]
    return pd.DataFrame(rows, columns=["bin", "confidence", "accuracy", "count"])


def brier_score(confidence: Sequence[float], correct: Sequence[bool]) -> float:
    return float(np.mean((np.asarray(confidence, float) - np.asarray(correct, float)) ** 2))


def risk_coverage(confidence: Sequence[float], correct: Sequence[bool]) -> tuple[pd.DataFrame, float]:
    """Accuracy when answering only the most confident share of items, for every coverage; and the area under
    the risk (1 - accuracy) vs coverage curve (AURC, lower is better)."""
    order = np.argsort(-np.asarray(confidence, float), kind="stable")
    hit = np.asarray(correct, float)[order]
    answered = np.arange(1, len(hit) + 1)
    accuracy = np.cumsum(hit) / answered
    curve = pd.DataFrame({"coverage": answered / len(hit), "accuracy": accuracy, "risk": 1 - accuracy})
    return curve, float(curve["risk"].mean()) if len(hit) else 0.0


def flatten(records: Sequence[Mapping]) -> tuple[list[float], list[bool]]:
    """Every sample's P(correct) and whether it was right, across records."""
    return [v for r in records for v in r["p_correct"]], [c for r in records for c in r["correct"]]


def calibration(by_split: Mapping[str, Sequence[Mapping]], n_bins: int) -> dict[str, float]:
    """ECE and Brier score of the self-evaluation per split (test unsuffixed, e.g. `self_eval_ece_valid`)."""
    metrics = {}
    for split, records in by_split.items():
        p, hit = flatten(records)
        suffix = "" if split == "test" else f"_{split}"
        metrics |= {f"self_eval_ece{suffix}": expected_calibration_error(p, hit, n_bins),
                    f"self_eval_brier{suffix}": brier_score(p, hit)}
    return metrics


ABSTAIN_BY = {"self_eval": "self-evaluation (weighted vote share)", "agreement": "vote agreement"}


def abstention(dataset: str, records: Sequence[Mapping], k: int) -> dict[str, tuple[pd.DataFrame, float]]:
    """Risk-coverage curve and AURC of the k-sample vote when abstaining by the self-evaluation's weighted vote share
    (`self_eval`) and by plain vote agreement (`agreement`); both against the weighted vote's correctness."""
    task = tasks.get(dataset)
    final = [vote(dataset, r, k, weighted=True) for r in records]
    right = [task.is_correct(a, r["gold"]) for (a, _), r in zip(final, records, strict=True)]
    agreement = [vote(dataset, r, k)[1] for r in records]
    return {"self_eval": risk_coverage([c for _, c in final], right), "agreement": risk_coverage(agreement, right)}
