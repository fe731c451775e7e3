"""Ablation tables: each ablation run beside the default run it changes one thing against, what it changes, and the
paired difference per head; and ablation runs along one distill key, for the figures."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mm import ROOT, config
from mm.results import load_metrics, paired_correctness, predictions_folder, seeds_of
from mm.stats import difference_cell, mean_cell, percent_cell

REFERENCE = "reference"  # the ablation name of the default run that every ablation changes one thing against


def ablation_frame(root: Path = ROOT, params_file: Path | None = None) -> pd.DataFrame:
    """Ablation runs plus, as references, the default runs they change one thing against: the same dataset, method
    and seed under params.yaml (ablation `reference` for mind_mirror, `reference:<method>` for another method), so a
    reference is trained once, not again as an ablation. params_file: only runs at its budgets (load_metrics)."""
    ablations = load_metrics(root, params_file, ablations=True)
    if ablations.empty:
        return ablations
    runs = load_metrics(root, params_file)
    reference = runs[runs["method"].isin(ablations["method"]) & runs["dataset"].isin(ablations["dataset"])
                     & runs["seed"].isin(ablations["seed"]) & (runs["profile"] == config.DEFAULT_STUDENT)
                     & (runs["teacher_profile"] == config.DEFAULT_TEACHER)] if not runs.empty else runs
    names = [_reference_of(method) for method in reference["method"]]
    return pd.concat([ablations, reference.assign(ablation=names)], ignore_index=True)


def ablation_axis(frame: pd.DataFrame, key: str, default: Any) -> pd.DataFrame:
    """Ablation runs along distill.<key>: those that set it (value read from ablations/ablations.yaml) and the
    reference run, placed at the default value."""
    values = {}
    for name in frame.get("ablation", pd.Series(dtype=str)).dropna().unique():
        if name == REFERENCE:
            values[name] = default
        if name.startswith(REFERENCE):
            continue
        _, overrides = config.load_ablation(name)
        if key in overrides.get("distill", {}):
            values[name] = overrides["distill"][key]
    picked = frame[frame["ablation"].isin(values)].copy() if values else frame.iloc[0:0].copy()
    picked[key] = picked["ablation"].map(values)
    return picked


def ablation_table(frame: pd.DataFrame, root: Path = ROOT) -> pd.DataFrame:
    """One row per dataset and ablation, the references first, then in ablations/ablations.yaml's order: what it
    changes, test accuracy of both heads and the validation score (mean ± std over seeds), each head's paired
    difference from the default run of its method (points, 95% bootstrap interval resampling test questions with
    their seeds), the CoT pairs it trained on, and training and total minutes (a reference's total includes
    self-consistency sampling, off in ablations)."""
    if frame.empty:
        return pd.DataFrame()
    names = [*sorted(n for n in frame["ablation"].unique() if n.startswith(REFERENCE)),
             *yaml.safe_load(config.ABLATIONS.read_text())]
    order = {name: i for i, name in enumerate(names)}
    rows = []
    for (dataset, name), runs in sorted(frame.groupby(["dataset", "ablation"]),
                                        key=lambda item: (item[0][0], order.get(item[0][1], len(order)))):
        method = runs["method"].iloc[0]
        rows.append({"dataset": dataset, "ablation": name, "changes": _ablation_changes(name, method),
                     "predict: %": percent_cell(runs["test_accuracy"]),
                     "rationale %": percent_cell(runs.get("test_accuracy_explain", pd.Series(dtype=float))),
                     "valid %": percent_cell(runs.get("val_accuracy", pd.Series(dtype=float))),
                     **_ablation_differences(root, dataset, name, method, seeds_of(runs) & seeds_of(
                         frame, dataset=dataset, ablation=_reference_of(method))),
                     "CoT pairs": mean_cell(runs, "pairs_cot", digits=0),
                     "train min": mean_cell(runs, "train_seconds", 1 / 60),
                     "total min": mean_cell(runs, "wall_seconds", 1 / 60), "seeds": len(runs)})
    return pd.DataFrame(rows).set_index("ablation")


def _reference_of(method: str) -> str:
    """The ablation name ablation_frame gives the default run of a method."""
    return REFERENCE if method == "mind_mirror" else f"{REFERENCE}:{method}"


def _ablation_differences(root: Path, dataset: str, name: str, method: str, seeds: set[int]) -> dict[str, str]:
    """Each head's paired difference between an ablation and the default run of its method, over the given seeds
    (blank for references)."""
    if name.startswith(REFERENCE):
        return {"Δ predict: (points)": "", "Δ rationale (points)": ""}
    mine = predictions_folder(root, config.DEFAULT_STUDENT, config.DEFAULT_TEACHER, dataset, name)
    theirs = predictions_folder(root, config.DEFAULT_STUDENT, config.DEFAULT_TEACHER, dataset, method)
    return {f"Δ {label} (points)": difference_cell(*paired_correctness(mine, theirs, head, seeds))
            for label, head in (("predict:", "predict"), ("rationale", "explain"))}


def _ablation_changes(name: str, method: str) -> str:
    """An ablation's difference from the reference run, read from ablations/ablations.yaml (evaluation-only
    overrides left out: they do not change what is trained or scored)."""
    if name.startswith(REFERENCE):
        return f"none (the default {method} run)"
    _, overrides = config.load_ablation(name)
    changes = [] if method == "mind_mirror" else [f"method {method}"]
    changes += [f"{section}.{key} {json.dumps(value)}" for section, values in overrides.items()
                if section != "evaluate" for key, value in values.items()]
    return ", ".join(changes)
