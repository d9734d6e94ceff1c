"""The monitoring report (`app.record.monitor.report`, the JSON of
GET /monitoring) as one self-contained HTML page: no script, no style sheet
or font to fetch, so that it opens offline and can be attached to a ticket.
`python -m scripts.audit report` writes it."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:60em}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #999;padding:.25em .6em;text-align:right}"
    "th:first-child,td:first-child{text-align:left}"
    ".alarm{background:#fdd}"
)


def _figure(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return escape(str(value))


def _table(head: list[str], rows: list[list[Any]], alarms: list[bool] | None = None) -> str:
    out = ["<table><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr>"]
    for i, row in enumerate(rows):
        alarm = ' class="alarm"' if alarms and alarms[i] else ""
        out.append(f"<tr{alarm}>" + "".join(f"<td>{_figure(v)}</td>" for v in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _histogram(counts: list[int]) -> str:
    """Ten bars (probabilities 0-0.1 ... 0.9-1) as inline SVG."""
    top = max(counts) or 1
    bars = [
        f'<rect x="{i * 30 + 2}" y="{100 - 100 * c / top:.1f}" width="26" '
        f'height="{100 * c / top:.1f}" fill="#47a"><title>{i / 10:.1f}-{(i + 1) / 10:.1f}: '
        f"{c}</title></rect>"
        for i, c in enumerate(counts)
    ]
    return (
        f'<svg width="300" height="100" role="img" aria-label="probabilities">{"".join(bars)}</svg>'
    )


def render(report: dict[str, Any], model_version: str) -> str:
    """The page for `report`, computed for `model_version`."""
    when = datetime.fromisoformat(report["computed_at"]).isoformat(timespec="seconds")
    drift = report["drift"]
    parts = [
        f"<!doctype html><html lang=en><meta charset=utf-8><title>Monitoring {escape(when)}"
        f"</title><style>{STYLE}</style><h1>Heart-disease risk: monitoring</h1>",
        f"<p>{report['rows']} latest answers, model {escape(model_version)}, computed {when}. "
        f"An input has drifted when its p-value is under {report['bonferroni_alpha']:.4f} "
        f"({report['alpha']} / 13, Bonferroni); PSI is a figure beside it. Under 50 values: "
        "no verdict.</p>",
        "<h2>Drift against the training data</h2>",
        _table(
            ["input", "test", "values", "p-value", "PSI", "drifted", "missing share"],
            [
                [
                    name,
                    d["test"],
                    d["n"],
                    d["p_value"],
                    d["psi"],
                    "no verdict" if d["drifted"] is None else d["drifted"],
                    report["missing_share"][name],
                ]
                for name, d in drift.items()
            ],
            [bool(d["drifted"]) for d in drift.values()],
        ),
        "<h2>Warnings given</h2>",
        _table(["warning", "share of answers"], [list(w) for w in report["warning_share"].items()]),
        "<h2>Probabilities given</h2>",
    ]
    p = report["probabilities"]
    if p["n"]:
        parts.append(_histogram(p["histogram"]))
        keys = ("n", "mean", "p10", "median", "p90", "share_presence")
        parts.append(_table(["", *keys], [["answers", *(p[k] for k in keys)]]))
    performance = report["performance"]
    parts.append("<h2>Performance on answers with a known outcome</h2>")
    figures = ("n", "auc", "brier", "calibration_intercept", "calibration_slope")
    parts.append(_table(["", *figures], [["outcomes", *(performance.get(k) for k in figures)]]))
    return "".join(parts) + "</html>\n"
