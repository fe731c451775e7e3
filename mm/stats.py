"""Statistics of the result tables: paired bootstrap intervals for a difference in accuracy (resampling test
questions, or seeds and then questions), the smallest difference the data could detect, the claim read off an
interval, and mean ± std cells over seeds. Numbers in, numbers or cells out: reading runs is mm.results."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

# The paper's claim, best first: each method beats the next one (MM > step-by-step > label distillation > gold).
PAPER_ORDER = ("mind_mirror", "step_by_step", "distill_label", "finetune_gold")


def paired_bootstrap(a: Sequence[bool], b: Sequence[bool], n_boot: int = 2000, seed: int = 0,
                     groups: Sequence[str] | None = None) -> dict:
    """Difference in accuracy a - b over paired items with a 95% percentile bootstrap interval. `groups` names each
    pair's test question: one question scored under several seeds is one draw, not several, so whole questions are
    resampled (n: the number of questions). The trained models stay fixed: seed-to-seed variance is left out
    (hierarchical_bootstrap puts it in)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or not len(a) or (groups is not None and len(groups) != len(a)):
        raise ValueError(f"paired samples must be non-empty and equally long, got {a.shape} and {b.shape}"
                         f"{'' if groups is None else f' and {len(groups)} groups'}")
    keys = np.arange(len(a)) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = int(keys.max()) + 1
    gap, size = np.bincount(keys, a - b, n_groups), np.bincount(keys, minlength=n_groups)
    idx = np.random.default_rng(seed).integers(0, n_groups, size=(n_boot, n_groups))
    diffs = gap[idx].sum(1) / size[idx].sum(1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {"diff": float(a.mean() - b.mean()), "low": float(low), "high": float(high), "n": n_groups}


def hierarchical_bootstrap(first: Sequence[Sequence[bool]], second: Sequence[Sequence[bool]], n_boot: int = 2000,
                           seed: int = 0) -> dict:
    """Difference in accuracy first - second with a 95% percentile interval that counts both sources of chance: which
    seeds were trained and which test questions were drawn. Row k of each is seed k's correctness on the same
    questions in the same order (seed k of one method paired with seed k of the other). Each resample draws the seeds
    with replacement and, within them, the questions with replacement (one draw for all seeds: a question keeps its
    seeds together); the statistic is the mean difference. With one seed only questions vary ("resamples"), and the
    interval is paired_bootstrap's over those questions. Few seeds give few distinct seed draws (3 seeds: 10), so
    the interval is coarse; it is the honest width of what 3 seeds can tell.

    Also returned: se, the standard deviation of the resampled differences, and mdd, the minimum detectable
    difference (minimum_detectable_difference of se)."""
    first, second = np.asarray(first, float), np.asarray(second, float)
    if first.ndim != 2 or first.shape != second.shape or not first.size:
        raise ValueError(f"need two equal non-empty seeds × questions arrays, got {first.shape} and {second.shape}")
    gaps = first - second
    n_seeds, n_questions = gaps.shape
    rng = np.random.default_rng(seed)
    questions = rng.integers(0, n_questions, size=(n_boot, n_questions))  # drawn first: one seed = paired_bootstrap
    flat = (np.arange(n_boot)[:, None] * n_questions + questions).ravel()
    times_drawn = np.bincount(flat, minlength=n_boot * n_questions).reshape(n_boot, n_questions)
    per_seed = gaps @ times_drawn.T / n_questions  # each seed's mean difference over each resample's questions
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    diffs = np.take_along_axis(per_seed.T, seeds, axis=1).mean(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    se = float(diffs.std(ddof=1))
    return {"diff": float(gaps.mean()), "low": float(low), "high": float(high), "se": se,
            "mdd": minimum_detectable_difference(se), "seeds": n_seeds, "n": n_questions,
            "resamples": "seeds × questions" if n_seeds > 1 else "questions"}


def minimum_detectable_difference(se: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true difference a two-sided test at level alpha would detect with the given power, for an
    estimate with standard error se: MDD = (z_{1-alpha/2} + z_{power}) × se, i.e. (1.96 + 0.84) × se ≈ 2.8 × se at
    alpha 0.05 and power 0.8 (normal approximation). A difference below it going unresolved says little: the study
    could not have seen it."""
    z = NormalDist().inv_cdf
    return (z(1 - alpha / 2) + z(power)) * se


def seed_matrices(by_seed: Mapping[int, Mapping[str, tuple[bool, bool]]]) -> tuple[np.ndarray, np.ndarray]:
    """Two runs' correctness as seeds × questions arrays (for hierarchical_bootstrap) from each seed's pairs by
    question id, over the questions every seed has scored, sorted by id (seeds without any are left out)."""
    scored = [pairs for _, pairs in sorted(by_seed.items()) if pairs]
    questions = sorted(set.intersection(*(set(pairs) for pairs in scored))) if scored else []
    pairs = np.array([[seed_pairs[q] for q in questions] for seed_pairs in scored], dtype=float).reshape(
        len(scored), len(questions), 2)
    return pairs[..., 0], pairs[..., 1]


def pooled_pairs(by_seed: Mapping[int, Mapping[str, tuple[bool, bool]]]) -> tuple[list, list, list]:
    """Each seed's pairs by question id pooled into three lists: the first run's correctness, the second's, and
    each pair's question (for paired_bootstrap's groups)."""
    mine, theirs, questions = [], [], []
    for pairs in by_seed.values():
        mine += [a for a, _ in pairs.values()]
        theirs += [b for _, b in pairs.values()]
        questions += list(pairs)
    return mine, theirs, questions


def interval_text(ci: Mapping) -> str:
    """'+d [low, high]' in points."""
    return f"{100 * ci['diff']:+.1f} [{100 * ci['low']:+.1f}, {100 * ci['high']:+.1f}]"


def difference_cell(mine: Sequence[bool], theirs: Sequence[bool], items: Sequence[str] | None = None) -> str:
    """'+d [low, high]' in points: paired accuracy difference with its 95% bootstrap interval (resampling `items`,
    the test questions, when given); blank if unpaired."""
    return interval_text(paired_bootstrap(mine, theirs, groups=items)) if len(mine) else ""


def claim_verdict(ci: Mapping) -> str:
    """The claim 'first beats second' read off a paired 95% interval: an interval that spans zero settles nothing."""
    if ci["low"] > 0:
        return "holds"
    if ci["high"] < 0:
        return "reversed"
    return "not resolved"


# Each control against what it isolates (first, second): does self-evaluation add (with and without it, filtered
# and unfiltered)? do the verdict-only targets do as well? do 5 CoTs add over one? does a distilled student beat gold
# fine-tuning on the same questions?
CONTROL_PAIRS = (("mind_mirror", "no_self_eval"), ("unfiltered", "unfiltered_no_self_eval"),
                 ("unfiltered", "unfiltered_sbs"), ("mind_mirror", "verdict_only"), ("mind_mirror", "cots1"),
                 ("mind_mirror", "finetune_gold_matched"), ("step_by_step", "finetune_gold_matched"),
                 ("distill_label", "finetune_gold_matched"))


def comparison_pairs(methods: Sequence[str], target: str = "mind_mirror") -> list[tuple[str, str]]:
    """Which methods to compare (first, second): `target` against each other paper method, then the paper's ordering
    pair by pair, then every method against the base (gold fine-tuning, where the paper's order ends), then each
    control of CONTROL_PAIRS whose both sides are among `methods`; each pair once."""
    paper = [m for m in methods if m in PAPER_ORDER]
    pairs = [(target, m) for m in paper if m != target]
    ordered = [m for m in PAPER_ORDER if m in paper]
    pairs += [pair for pair in zip(ordered[:-1], ordered[1:], strict=True) if pair not in pairs]
    if ordered and ordered[-1] == PAPER_ORDER[-1]:
        pairs += [(m, ordered[-1]) for m in ordered[:-1] if (m, ordered[-1]) not in pairs]
    return pairs + [pair for pair in CONTROL_PAIRS if set(pair) <= set(methods)]


def comparison_cells(by_seed: Mapping[int, Mapping[str, tuple[bool, bool]]]) -> dict[str, Any]:
    """A paired comparison's cells from each seed's pairs by question id: the difference with its hierarchical
    interval (seeds × questions; one seed: questions), the claim 'first beats second' read off it, the minimum
    detectable difference, and the interval resampling questions only, for these trained models (narrower: it
    leaves seed-to-seed variance out)."""
    ci = hierarchical_bootstrap(*seed_matrices(by_seed))
    mine, theirs, questions = pooled_pairs(by_seed)
    return {"test questions": ci["n"], "resamples": ci["resamples"], "difference (points)": interval_text(ci),
            "paper's claim": claim_verdict(ci), "MDD (points)": round(100 * ci["mdd"], 1),
            "difference, questions only (points)": interval_text(paired_bootstrap(mine, theirs, groups=questions))}


def percent_cell(values: pd.Series) -> str:
    """'mean ± std (n)' in percent over the non-missing values; one value has no spread, so 'value (1)'."""
    values = values.dropna()
    if values.empty:
        return ""
    if len(values) == 1:
        return f"{100 * values.mean():.1f} (1)"
    return f"{100 * values.mean():.1f} ± {100 * values.std():.1f} ({len(values)})"


def mean_cell(runs: pd.DataFrame, column: str, scale: float = 1.0, digits: int = 1) -> float | str:
    """Mean of a column over seeds, scaled and rounded (digits 0: an int); blank where no run reports it."""
    values = runs[column].dropna() if column in runs else pd.Series(dtype=float)
    return round(float(values.mean()) * scale, digits or None) if len(values) else ""
