"""Self-consistency and self-evaluation tables from committed samples: vote accuracies by k, whether voting and
weighting votes by the student's self-evaluation help (paired), reliability bins, risk-coverage and calibration."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from mm import ROOT, selfeval
from mm.files import read_jsonl
from mm.results import predictions_folder, setting
from mm.stats import claim_verdict, interval_text, paired_bootstrap


def vote_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Self-consistency columns (sc.majority@k, sc.weighted@k) as rows: setting, method, seed, vote, k, accuracy."""
    columns = [c for c in frame.columns if c.startswith("sc.")]
    if not columns:
        return pd.DataFrame(columns=["setting", "method", "seed", "vote", "k", "accuracy"])
    long = frame.melt(id_vars=["setting", "method", "seed"], value_vars=columns, value_name="accuracy").dropna()
    long[["vote", "k"]] = long["variable"].str.removeprefix("sc.").str.split("@", expand=True)
    long["k"] = long["k"].astype(int)
    return long.drop(columns="variable")


def vote_gains(frame: pd.DataFrame, root: Path = ROOT) -> pd.DataFrame:
    """Does voting over k sampled CoTs beat the first sample, and does weighting the votes by the student's own
    self-evaluation beat plain majority? Paired on the test items with samples, pooled over the seeds that have them
    (k: the fewest samples any item has; weighted votes over the items that carry the student's P(correct))."""
    if frame.empty:
        return pd.DataFrame()
    rows = []
    for (profile, teacher, dataset, method), group in frame.groupby(["profile", "teacher_profile", "dataset",
                                                                     "method"]):
        seeds, records = [], []
        for seed in sorted(int(s) for s in group["seed"]):
            path = predictions_folder(root, profile, teacher, dataset, method) / f"seed{seed}.samples.jsonl"
            test = [r for r in read_jsonl(path) if r.get("split", "test") == "test"] if path.exists() else []
            seeds += [seed] if test else []
            records += test
        if not records:
            continue
        k = min(len(r["answers"]) for r in records)
        scored = [r for r in records if "p_correct" in r]
        pairs = [(f"majority@{k} − first sample", records, (k, False), (1, False))]  # (k, weighted) of each side
        if scored:
            pairs.append((f"weighted@{k} − majority@{k}", scored, (k, True), (k, False)))
        for comparison, chosen, first, second in pairs:
            ci = paired_bootstrap(selfeval.vote_correct(dataset, chosen, *first),
                                  selfeval.vote_correct(dataset, chosen, *second),
                                  groups=[r["id"] for r in chosen])
            rows.append({"setting": setting(dataset, profile, teacher), "method": method, "comparison": comparison,
                         "seeds": ", ".join(map(str, seeds)), "test questions": ci["n"],
                         "difference (points)": interval_text(ci), "first better": claim_verdict(ci)})
    return pd.DataFrame(rows)


def self_eval_frames(frame: pd.DataFrame, root: Path = ROOT, n_bins: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From the self-consistency samples of the frame's mind_mirror runs: reliability bins per dataset and split
    (valid, test), and risk-coverage curves on test items."""
    bins, curves, empty = [], [], pd.DataFrame()
    if frame.empty:
        return empty, empty
    mirror = frame[frame["method"] == "mind_mirror"]
    for profile, teacher, dataset, seed in sorted(zip(mirror["profile"], mirror["teacher_profile"], mirror["dataset"],
                                                      mirror["seed"], strict=True)):
        path = predictions_folder(root, profile, teacher, dataset, "mind_mirror") / f"seed{seed}.samples.jsonl"
        if not path.exists():
            continue
        by_split, panel = {"valid": [], "test": []}, setting(dataset, profile, teacher)
        for r in read_jsonl(path):
            if "p_correct" in r:
                by_split[r.get("split", "test")].append(r)
        for split, rows in by_split.items():
            if rows:
                bins.append(selfeval.reliability_table(*selfeval.flatten(rows), n_bins).assign(setting=panel,
                                                                                                split=split))
        records = by_split["test"]
        if records:
            curves += [curve.assign(setting=panel, confidence=selfeval.ABSTAIN_BY[by]) for by, (curve, _) in
                       selfeval.abstention(dataset, records, len(records[0]["answers"])).items()]
    return (pd.concat(bins) if bins else empty), (pd.concat(curves) if curves else empty)


def calibration_table(frame: pd.DataFrame, method: str = "mind_mirror") -> pd.DataFrame:
    """Per dataset, mean over seeds: the self-evaluation's ECE and Brier score on valid and test samples, and the
    area under the risk-coverage curve when abstaining by self-evaluation vs by vote agreement (lower is better)."""
    columns = [c for c in frame.columns if c.startswith("cal.")]
    runs = frame[frame["method"] == method].dropna(subset=columns, how="all") if columns else pd.DataFrame()
    if runs.empty:
        return pd.DataFrame()
    table = runs.groupby("setting")[columns].mean().round(3)
    table.columns = [c.removeprefix("cal.") for c in columns]
    table["seeds"] = runs.groupby("setting").size()
    names = {"self_eval_ece_valid": "ECE valid", "self_eval_ece": "ECE test", "self_eval_brier_valid": "Brier valid",
             "self_eval_brier": "Brier test"}
    names |= {c: c.replace("aurc_self_eval", "AURC self-eval").replace("aurc_agreement", "AURC agreement")
              for c in table.columns if c.startswith("aurc_")}
    return table[[c for c in [*names, "seeds"] if c in table.columns]].rename(columns=names)
