"""Figures of the crowd report (matplotlib, object API: no pyplot, no global backend state).

Each function takes a :class:`~.data.ReportData` and returns a
:class:`matplotlib.figure.Figure` or None when the data for it is missing. Figures are drawn
with the Agg canvas, so they render in worker processes without a display.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .data import METHOD_ORDER, ReportData

COLOURS = {"probability": "#7f7f7f", "el": "#1f77b4", "eel": "#d62728", "vilarino": "#2ca02c"}


def _colour(method: str, i: int) -> str:
    return COLOURS.get(method, f"C{(i + 4) % 10}")


def roc_figure(report: ReportData) -> Figure | None:
    """Mean ROC over single observers with a standard-error band, per method (Fig. 5 left);
    pooled curves dashed."""
    c = report.curves
    mean = c[c["curve"] == "roc_mean"]
    pooled = c[c["curve"] == "roc_pooled"]
    if mean.empty and pooled.empty:
        return None
    fig = Figure(figsize=(5.5, 5.0))
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.1, top=0.93)
    ax = fig.add_subplot()
    methods = [m for m in METHOD_ORDER if m in set(mean["method"])]
    methods += sorted(set(mean["method"]) - set(methods))
    single = report.summary.get("single", {})
    for i, m in enumerate(methods):
        d = mean[mean["method"] == m]
        auc = single.get(m, {}).get("auc", {})
        label = f"{m}, single observer"
        if auc.get("mean") is not None:
            se = auc.get("se")
            label += f" (AUC {auc['mean']:.3f}" + (f" ± {se:.3f})" if se is not None else ")")
        ax.plot(d["x"], d["y"], color=_colour(m, i), label=label)
        ax.fill_between(d["x"], d["y"] - d["se"], np.minimum(d["y"] + d["se"], 1.0),
                        color=_colour(m, i), alpha=0.2, linewidth=0)
    styles = ["--", "-.", (0, (1, 1)), (0, (5, 1, 1, 1, 1, 1))]
    for i, m in enumerate(dict.fromkeys(pooled["method"])):
        d = pooled[pooled["method"] == m]
        auc = report.summary.get("pooled", {}).get(m, {}).get("auc")
        base = "probability" if m.startswith("pooled estimate") else m.split(" ")[0]
        ax.plot(d["x"], d["y"], linestyle=styles[i % len(styles)], color=_colour(base, i),
                label=f"{m}, pooled" + (f" (AUC {auc:.3f})" if auc is not None else ""))
    ax.plot([0, 1], [0, 1], ":", color="0.6", linewidth=0.8)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false-positive rate",
           ylabel="true-positive rate", title="ROC: mean over observers ± SE")
    ax.legend(loc="lower right", fontsize=7)
    return fig


def subsets_figure(report: ReportData) -> Figure | None:
    """AUC against the number of observers pooled, mean ± SE over subsets (Fig. 5 right)."""
    c = report.curves
    d = c[c["curve"] == "auc_vs_observers"]
    if d.empty:
        return None
    fig = Figure(figsize=(5.0, 4.0))
    fig.subplots_adjust(left=0.15, right=0.96, bottom=0.12, top=0.92)
    ax = fig.add_subplot()
    method = d["method"].iloc[0]
    se = d["se"].fillna(0.0)
    ax.errorbar(d["x"], d["y"], yerr=se, marker="o", capsize=3, color=_colour(method, 0),
                label=f"pooled {method}")
    ax.set(xlabel="observers pooled", ylabel="AUC", title="AUC vs number of observers",
           xticks=d["x"].astype(int).tolist())
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def observers_figure(report: ReportData) -> Figure | None:
    """Pool weights per observer (flagged observers in red) and agreement with the others."""
    t = report.observers
    if t.empty:
        return None
    fig = Figure(figsize=(max(4.0, 0.7 * len(t) + 2), 3.8))
    fig.subplots_adjust(left=0.1, right=0.88, bottom=0.3, top=0.9)
    ax = fig.add_subplot()
    x = np.arange(len(t))
    w = t["weight"].to_numpy(float)
    colours = ["#d62728" if f else "#1f77b4" for f in t["flagged"]]
    ax.bar(x, np.nan_to_num(w), color=colours)
    ax.axhline(1.0 / len(t), color="0.5", linestyle=":", linewidth=0.8, label="equal weight")
    ax.set_xticks(x, t["observer"], rotation=45, ha="right", fontsize=8)
    ax.set(ylabel="pool weight", title=f"Observers (pool: {report.summary['pool']['method']}; "
                                       f"red = flagged)")
    if "agreement" in t:
        ax2 = ax.twinx()
        ax2.plot(x, t["agreement"].to_numpy(float), "ko", markersize=4, label="agreement")
        ax2.set_ylabel("agreement (AUC vs others)")
        ax2.set_ylim(min(0.4, float(np.nanmin(t["agreement"])) - 0.05), 1.0)
    ax.legend(loc="upper left", fontsize=7)
    return fig


def _frame(frames, t: int) -> np.ndarray:
    """Frame ``t`` of an array or of a lazy reader that slices along its first axis (the
    chunked path's frames: a memory map or a reader decoding the frames asked for)."""
    return np.asarray(frames[t:t + 1])[0]


def _displayable(image: np.ndarray) -> np.ndarray:
    """uint8 as is; anything else (z-scored MRI, float RGB) scaled to [0, 1] by its 1st and
    99th percentiles, since imshow clips float RGB outside [0, 1]."""
    if image.dtype == np.uint8:
        return image
    img = image.astype(np.float64)
    lo, hi = np.nanpercentile(img, [1, 99])
    return np.clip((img - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)


def _pick_frames(report: ReportData, k: int) -> list[int]:
    """Frames with the most uncertainty, spread over the sequence."""
    T = report.labels.shape[0]
    per_frame = np.array([report.uncertainty[report.labels[t]].mean() for t in range(T)])
    thirds = np.array_split(np.arange(T), min(k, T))
    return [int(part[np.argmax(per_frame[part])]) for part in thirds if part.size]


def maps_figure(report: ReportData, *, n_frames: int = 3) -> Figure | None:
    """Per frame: the image, the pooled estimate and the uncertainty (variance between
    observers), with the reference contour when available."""
    if report.labels is None:
        return None
    frames = _pick_frames(report, n_frames)
    cols = 3 if report.frames is not None else 2
    fig = Figure(figsize=(3.0 * cols + 0.6, 2.8 * len(frames)))
    fig.subplots_adjust(left=0.02, right=0.9, bottom=0.02, top=0.94, wspace=0.05, hspace=0.15)
    axes = fig.subplots(len(frames), cols, squeeze=False)
    vmax = max(float(report.uncertainty.max()), 1e-6)
    for row, t in enumerate(frames):
        lab = report.labels[t]
        panels = []
        if report.frames is not None:
            panels.append(("image", _displayable(_frame(report.frames, t)), {"cmap": "gray"}))
        panels.append(("pooled estimate", report.pooled[lab], {"cmap": "magma", "vmin": 0,
                                                               "vmax": 1}))
        panels.append(("uncertainty (variance)", report.uncertainty[lab],
                       {"cmap": "viridis", "vmin": 0, "vmax": vmax}))
        for col, (name, img, kw) in enumerate(panels):
            ax = axes[row, col]
            im = ax.imshow(img, interpolation="nearest", **kw)
            if report.truth is not None and t < report.truth.shape[0] and report.truth[t].any():
                ax.contour(report.truth[t], levels=[0.5], colors="cyan", linewidths=0.7)
            ax.set_title(f"frame {t}: {name}", fontsize=8)
            ax.axis("off")
            if name in _SCALES:  # every map gets its colour scale; the image needs none
                bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
                bar.set_label(_SCALES[name], fontsize=7)
                bar.ax.tick_params(labelsize=7)
    return fig


#: The colour bar label of each map panel of :func:`maps_figure`.
_SCALES = {"pooled estimate": "probability of the object (0-1)",
           "uncertainty (variance)": "variance between observers"}


def _mask_frames(report: ReportData, k: int) -> list[int]:
    """``k`` frames spread over the sequence, taken among those with a reference when any."""
    T = report.masks.shape[0]
    pool = np.arange(T)
    if report.truth is not None:
        with_truth = report.truth.frames_with_object()
        with_truth = with_truth[with_truth < T]
        if with_truth.size:
            pool = with_truth
    picks = np.unique(np.linspace(0, pool.size - 1, min(k, pool.size)).round().astype(int))
    return [int(pool[i]) for i in picks]


def delivered_masks_figure(report: ReportData, *, n_frames: int = 4) -> Figure | None:
    """The delivered masks (what the user downloads) outlined on frames, yellow, with the
    reference in cyan on the frames that have one."""
    if report.masks is None or report.masks.ndim != 3 or not report.masks.shape[0]:
        return None
    frames = _mask_frames(report, n_frames)
    fig = Figure(figsize=(3.0 * len(frames), 3.2))
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.1, top=0.88, wspace=0.05)
    axes = fig.subplots(1, len(frames), squeeze=False)[0]
    for ax, t in zip(axes, frames):
        if report.frames is not None and t < len(report.frames):
            ax.imshow(_displayable(_frame(report.frames, t)), cmap="gray", interpolation="nearest")
        else:
            ax.imshow(np.zeros(report.masks.shape[1:]), cmap="gray", vmin=0, vmax=1)
        mask = np.asarray(report.masks[t], bool)
        if mask.any():
            ax.contour(mask, levels=[0.5], colors="yellow", linewidths=1.0)
        has_truth = (report.truth is not None and t < report.truth.shape[0]
                     and report.truth[t].any())
        if has_truth:
            ax.contour(report.truth[t], levels=[0.5], colors="cyan", linewidths=0.8,
                       linestyles="dashed")
        ax.set_title(f"frame {t}: {100 * mask.mean():.1f}% of pixels"
                     + ("" if mask.any() else " (empty mask)"), fontsize=8)
        ax.axis("off")
    legend = "yellow: delivered mask"
    if report.truth is not None:
        legend += "; dashed cyan: reference"
    fig.text(0.5, 0.02, legend, ha="center", fontsize=8)
    return fig


def variance_figure(report: ReportData) -> Figure | None:
    """Variance within observers (repeats) and between observers."""
    v = report.summary.get("variance", {})
    if v.get("within") is None and v.get("between") is None:
        return None
    fig = Figure(figsize=(4.0, 3.2))
    fig.subplots_adjust(left=0.2, right=0.96, bottom=0.18, top=0.9)
    ax = fig.add_subplot()
    names = ["within observers\n(repeats)", "between observers"]
    values = [v.get("within") or 0.0, v.get("between") or 0.0]
    ax.bar(names, values, color=["#9467bd", "#ff7f0e"])
    ax.set(ylabel="mean variance of the estimate", title="Where the estimates vary")
    if v.get("within") is None:
        ax.text(0, 0, "no repeats", ha="center", va="bottom", fontsize=8)
    return fig


#: Figure name -> builder, in report order. "roc" is written as roc.png even when empty
#: (a placeholder saying why), because the command promises that file.
FIGURES = {
    "roc": roc_figure,
    "auc_vs_observers": subsets_figure,
    "observers": observers_figure,
    "delivered_masks": delivered_masks_figure,
    "maps": maps_figure,
    "variance": variance_figure,
}


def placeholder(text: str) -> Figure:
    """A small figure that says why the real one is absent."""
    fig = Figure(figsize=(5.0, 1.5))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=9)
    return fig


def build_figures(report: ReportData) -> dict[str, Figure]:
    """All figures that the data supports (``roc`` always: a placeholder without truth)."""
    out = {}
    for name, builder in FIGURES.items():
        fig = builder(report)
        if fig is None and name == "roc":
            fig = placeholder("No ROC curve: no reference masks were given.")
        if fig is not None:
            out[name] = fig
    return out
