"""seaborn figures from result tables; each function saves one PNG and returns its figure."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


def _save(fig: plt.Figure, path: str | Path | None) -> plt.Figure:
    """Lay out and save (no path: only shown inline, e.g. in a stage that declares no figure)."""
    if not fig.legends:  # a seaborn grid has laid out its own legend beside the axes: keep it clear of them
        fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def teacher_cots(cots: pd.DataFrame, path: str | Path | None = None, top: int = 12) -> plt.Figure:
    """A teacher pool at a glance: right / wrong / unparsed share of each CoT index k (are later samples worse?), and
    its most frequent answers, right or wrong (does it answer one class whatever the question?)."""
    outcome = cots["correct"].map({True: "right", False: "wrong"}).where(cots["parsed"], "unparsed")
    shares = pd.crosstab(cots["k"], outcome, normalize="index")
    answers = cots["answer"].fillna("(unparsed)").astype(str)
    common = answers.value_counts().index[:top]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    shares.plot.bar(stacked=True, ax=left, rot=0, color={"right": "tab:green", "wrong": "tab:red",
                                                          "unparsed": "tab:gray"})
    left.set(xlabel="CoT index k", ylabel="share of questions", title="each sample's outcome")
    left.legend(title="outcome", loc="upper left", bbox_to_anchor=(1, 1))
    sns.countplot(y=answers[answers.isin(common)], order=common, hue=outcome[answers.isin(common)], ax=right,
                  palette={"right": "tab:green", "wrong": "tab:red", "unparsed": "tab:gray"})
    right.set(xlabel="CoTs", ylabel="answer", title=f"its {len(common)} most frequent answers")
    right.legend(title="outcome")
    return _save(fig, path)


def input_length_histogram(frame: pd.DataFrame, path: str | Path) -> plt.Figure:
    """Input length (words) per dataset and split, from data.summary_frame."""
    grid = sns.displot(frame, x="input_words", hue="split", col="dataset", kind="hist", element="step",
                       stat="density", common_norm=False, facet_kws={"sharex": False, "sharey": False}, height=3)
    grid.set_axis_labels("input length (words)", "density")
    return _save(grid.figure, path)


def accuracy_by_method(frame: pd.DataFrame, baselines: pd.DataFrame, path: str | Path) -> plt.Figure:
    """Test accuracy per setting (dataset, student) and method (bars: mean over seeds, dots: seeds), dashed: trivial
    baselines."""
    grid = sns.catplot(frame, x="method", y="test_accuracy", col="setting", kind="bar", errorbar="sd", height=3.2,
                       aspect=1.1, sharey=False, alpha=0.7)
    for panel, ax in grid.axes_dict.items():
        runs = frame[frame["setting"] == panel]
        sns.stripplot(runs, x="method", y="test_accuracy", ax=ax, color="black", size=3,
                      jitter=False)  # seaborn jitters with the global RNG: figures would differ run to run
        for _, row in baselines[baselines["dataset"] == runs["dataset"].iloc[0]].iterrows():
            ax.axhline(row["accuracy"], ls="--", lw=1, color="gray")
        ax.tick_params(axis="x", rotation=30)
    grid.set_axis_labels("", "test accuracy")
    return _save(grid.figure, path)


def valid_curves(curves: pd.DataFrame, path: str | Path) -> plt.Figure:
    """Valid accuracy against epochs of the selected stage, one line per run (from results.curve_frame); dots: the
    selected checkpoints; dotted: the epoch cap. A run converged where its curve flattened before the cap."""
    grid = sns.relplot(curves, x="epoch", y="valid_accuracy", hue="method", units="seed", estimator=None,
                       col="setting", kind="line", height=3, alpha=0.7, facet_kws={"sharey": False})
    for panel, ax in grid.axes_dict.items():
        runs = curves[curves["setting"] == panel]
        best = runs[runs["best"]]
        ax.scatter(best["epoch"], best["valid_accuracy"], color="black", s=12, zorder=3)
        for cap in runs["epochs_cap"].dropna().unique():
            ax.axvline(cap, ls=":", lw=1, color="gray")
    grid.set_axis_labels("epoch (selected stage)", "valid accuracy")
    return _save(grid.figure, path)


def accuracy_vs_k(votes: pd.DataFrame, path: str | Path) -> plt.Figure:
    """Self-consistency: accuracy of the k-sample vote, majority vs self-evaluation-weighted."""
    grid = sns.relplot(votes, x="k", y="accuracy", hue="vote", style="method", col="setting", kind="line",
                       marker="o", errorbar="sd", height=3, facet_kws={"sharey": False})
    return _save(grid.figure, path)


def reliability_diagram(table: pd.DataFrame, path: str | Path) -> plt.Figure:
    """Student self-evaluation: accuracy per confidence bin against the diagonal, per split (from
    selfeval_tables.self_eval_frames)."""
    grid = sns.relplot(table, x="confidence", y="accuracy", size="count", hue="split", col="setting", height=3,
                       sizes=(20, 200))
    for ax in grid.axes.flat:
        ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1)
        ax.set(xlim=(0, 1), ylim=(0, 1))
    grid.set_axis_labels("student P(correct)", "share correct")
    return _save(grid.figure, path)


def risk_coverage_curves(curves: pd.DataFrame, path: str | Path) -> plt.Figure:
    """Accuracy vs coverage when abstaining on the least confident items, per confidence source."""
    grid = sns.relplot(curves, x="coverage", y="accuracy", hue="confidence", col="setting", kind="line", height=3,
                       errorbar="sd", facet_kws={"sharey": False})  # sd, not a random bootstrap: same PNG each run
    return _save(grid.figure, path)


def teacher_vs_student(frame: pd.DataFrame, path: str | Path) -> plt.Figure:
    """Per dataset: the teacher's CoT accuracy on train questions beside each student's test accuracy."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    sns.barplot(frame, x="dataset", y="accuracy", hue="who", ax=ax)
    ax.set(ylabel="accuracy", xlabel="")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return _save(fig, path)


def no_runs(message: str, path: str | Path) -> plt.Figure:
    """A declared figure with nothing to plot yet (e.g. no ablation run at the current budget): says so."""
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return _save(fig, path)


def ablation_curve(frame: pd.DataFrame, x: str, path: str | Path) -> plt.Figure:
    """Test accuracy against one ablated parameter (mean ± sd over seeds)."""
    grid = sns.relplot(frame, x=x, y="test_accuracy", hue="method", col="dataset", kind="line", marker="o",
                       errorbar="sd", height=3, facet_kws={"sharey": False})
    return _save(grid.figure, path)
