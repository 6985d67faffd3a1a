"""Write a :class:`~.data.ReportData`: figures (PNG, SVG), CSV tables, JSON summary and one
self-contained HTML page (figures embedded as base64 PNG, no external resource)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from .data import ReportData
from .figures import build_figures

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; }
tr.flagged td { background: #fde8e8; }
figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; } .note { color: #555; font-size: 0.9em; }
.scroll { max-width: 100%; overflow-x: auto; margin: 0.5em 0; }
.scroll th { position: sticky; top: 0; }
.scroll td:first-child, .scroll th:first-child { position: sticky; left: 0; background: #fff; }
.scroll th:first-child { background: #f3f3f3; }
tr.flagged td:first-child { background: #fde8e8; }
"""

#: Section headings of the figures (a file name capitalised said "Roc").
TITLES = {
    "roc": "ROC curves",
    "auc_vs_observers": "AUC against the number of observers",
    "observers": "Observers: pool weight and agreement",
    "delivered_masks": "Delivered masks on frames",
    "maps": "Maps: pooled estimate and uncertainty",
    "variance": "Variance within and between observers",
}

#: The columns of the first observers table (who, how much they count, why flagged); the
#: measurements follow in a second table, so that neither is 18 columns wide.
MAIN_COLUMNS = ("observer", "recordings", "weight", "flagged", "agreement", "flag_reason", "note",
                "differs_from_crowd")

CAPTIONS = {
    "roc": "ROC curves. Solid: mean over observers of the method run on one observer alone, "
           "with its standard-error band (cf. the paper's Fig. 5 left). Dashed: the crowd "
           "pooled.",
    "auc_vs_observers": "AUC of the pooled method against the number of observers pooled, "
                        "mean ± standard error over subsets of observers (cf. Fig. 5 right).",
    "observers": "Pool weight of each observer (bars; red = flagged as likely non-compliant) "
                 "and agreement with the others (dots: AUC of the observer's estimate against "
                 "the pooled estimate of everyone else; no ground truth needed).",
    "maps": "Pooled estimate and uncertainty (per-pixel variance of the observers' "
            "estimates) on the frames where the observers disagree most, each with its colour "
            "scale; cyan: reference.",
    "delivered_masks": "The delivered masks (the files a user downloads, cut without the "
                       "reference) outlined in yellow on frames spread over the sequence; "
                       "the reference, where a frame has one, dashed cyan.",
    "variance": "Variance of the estimates within an observer (between their repeated "
                "recordings) and between observers, averaged over pixels.",
}


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else ""
    if isinstance(v, float | np.floating):
        return "" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


def _observer_tables(df) -> str:
    """The observers table in two boxes that scroll sideways on their own: who and why
    first, then the measurements (the observer column repeated, and kept in view)."""
    main = [c for c in MAIN_COLUMNS if c in df.columns]
    rest = [c for c in df.columns if c not in main]
    flags = df["flagged"] if "flagged" in df.columns else None
    parts = [f'<div class="scroll">{_table(df[main], flags=flags)}</div>']
    if rest:
        second = df[["observer", *rest]] if "observer" in df.columns else df[rest]
        parts += ["<h3>Gaze statistics and scores per observer</h3>",
                  f'<div class="scroll">{_table(second, flags=flags)}</div>']
    return "\n".join(parts)


def _table(df, *, flag_col: str | None = None, flags=None) -> str:
    text = {c for c in df.columns if df[c].dtype == object}  # headed on the side they are read from
    head = "".join(f'<th class="text">{html.escape(str(c))}</th>' if c in text and c != df.columns[0]
                   else f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for key, r in df.iterrows():
        flagged = bool(flags.loc[key]) if flags is not None else bool(flag_col and r.get(flag_col))
        cls = ' class="flagged"' if flagged else ""
        cells = "".join(
            f'<td class="text">{html.escape(_fmt(v))}</td>' if isinstance(v, str)
            else f"<td>{html.escape(_fmt(v))}</td>" for v in r.to_numpy()
        )
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _delivered_rows(d: dict) -> list[tuple[str, str]]:
    """What the user downloads, first: the masks' cut and, with a reference, their Dice."""
    if not d:
        return []
    rows = [(f"delivered masks ({d.get('method', '')})",
             f"score map cut at {_fmt(d.get('threshold'))} ({d.get('threshold_rule', '')}, "
             f"no reference used); {_fmt(100 * d.get('predicted_fraction', float('nan')))}% of "
             "pixels")]
    if d.get("dice") is not None:
        rows.append(("delivered masks: Dice / IoU", f"{_fmt(d['dice'])} / {_fmt(d['iou'])}"
                     f" (reference covers {_fmt(100 * d.get('true_fraction', float('nan')))}% "
                     "of pixels)"))
        rows.append(("score map: AUC / oracle max F1",
                     f"{_fmt(d.get('auc'))} / {_fmt(d.get('f1'))} (the oracle picks its "
                     "threshold with the reference: a user cannot)"))
        at = d.get("dice_at") or {}
        if at:
            rows.append(("Dice at other thresholds",
                         ", ".join(f"{k}: {_fmt(v)}" for k, v in at.items())))
        if d.get("calibration_error") is not None:
            rows.append(("calibration error of the score map", _fmt(d["calibration_error"])))
    return rows


def _summary_rows(report: ReportData) -> list[tuple[str, str]]:
    s = report.summary
    rows = _delivered_rows(s.get("delivered") or {}) + [
        ("observers / recordings", f"{s['n_observers']} / {s['n_recordings']}"),
        ("pool", s["pool"]["method"]),
        ("flagged observers", ", ".join(s["flagged"]) or "none"),
    ]
    v = s.get("variance", {})
    if v.get("between") is not None:
        rows.append(("variance between observers", _fmt(v["between"])))
    if v.get("within") is not None:
        # The share is undefined when the total is (one observer with repeats: no "between").
        share = v.get("within_share")
        of_total = f" ({_fmt(100 * share)}% of the total)" if share is not None else ""
        rows.append(("variance within observers (repeats)", f"{_fmt(v['within'])}{of_total}"))
    for m, d in s.get("single", {}).items():
        auc, f1 = d["auc"], d["f1"]
        rows.append((f"{m}, single observer (n={d['n']}): AUC / max F1",
                     f"{_fmt(auc['mean'])} ± {_fmt(auc['se'])} / "
                     f"{_fmt(f1['mean'])} ± {_fmt(f1['se'])}"))
    for m, d in s.get("pooled", {}).items():
        rows.append((f"{m}, pooled: AUC / max F1", f"{_fmt(d['auc'])} / {_fmt(d['f1'])}"))
    if "frames_scored" in s:
        rows.append(("frames with reference masks", str(s["frames_scored"])))
    return rows


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def render_html(report: ReportData, pngs: dict[str, bytes]) -> str:
    """The self-contained HTML page of ``report`` with the given PNG figures embedded."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        "<h2>Summary</h2><table><tbody>",
        *(f'<tr><th class="text">{html.escape(k)}</th><td class="text">{html.escape(v)}</td>'
          f"</tr>" for k, v in _summary_rows(report)),
        "</tbody></table>",
        *(f'<p class="note">{html.escape(n)}</p>' for n in report.notes),
        "<h2>Observers</h2>",
        _observer_tables(report.observers),
    ]
    for name, data in pngs.items():
        b64 = base64.b64encode(data).decode("ascii")
        parts.append(
            f'<h2>{html.escape(TITLES.get(name, name.replace("_", " ").capitalize()))}</h2><figure>'
            f'<img alt="{html.escape(name)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(CAPTIONS.get(name, ''))}</figcaption></figure>"
        )
    parts.append('<p class="note">Generated by the GazeCrowd engine. Tables: observers.csv, '
                 "curves.csv; figures also as PNG and SVG beside this file.</p></body></html>")
    return "\n".join(parts)


def write_report(report: ReportData, out_dir, *, svg: bool = True) -> dict[str, Path]:
    """Write the report files into ``out_dir`` (created if needed).

    Parameters
    ----------
    report : ReportData
    out_dir : str or Path
    svg : bool, default True
        Also write each figure as SVG.

    Returns
    -------
    dict
        Name -> path: ``report.html``, ``observers.csv``, ``curves.csv``, ``summary.json``,
        and ``<figure>.png`` / ``<figure>.svg`` for each figure (``roc.png`` always).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    figures = build_figures(report)
    pngs = {}
    for name, fig in figures.items():
        pngs[name] = _png(fig)
        path = out / f"{name}.png"
        path.write_bytes(pngs[name])
        written[path.name] = path
        if svg:
            path = out / f"{name}.svg"
            fig.savefig(path, format="svg")
            written[path.name] = path
    for name, df in (("observers.csv", report.observers), ("curves.csv", report.curves)):
        df.to_csv(out / name, index=False)
        written[name] = out / name
    (out / "summary.json").write_text(json.dumps(report.summary, indent=1))
    written["summary.json"] = out / "summary.json"
    (out / "report.html").write_text(render_html(report, pngs), encoding="utf-8")
    written["report.html"] = out / "report.html"
    return written
