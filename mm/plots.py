"""seaborn figures from result tables; each function saves one PNG and returns its figure."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: notebooks run headless under papermill

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def _save(fig: plt.Figure, path: str | Path) -> plt.Figure:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return fig


def input_length_histogram(frame: pd.DataFrame, path: str | Path) -> plt.Figure:
    """Input length (words) per dataset and split, from data.summary_frame."""
    grid = sns.displot(frame, x="input_words", hue="split", col="dataset", kind="hist", element="step",
                       stat="density", common_norm=False, facet_kws={"sharex": False, "sharey": False}, height=3)
    grid.set_axis_labels("input length (words)", "density")
    return _save(grid.figure, path)
