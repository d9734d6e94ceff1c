"""The risk page's HTML, rendered on the server from its Jinja2 templates
(`templates/`): the whole page, the answer alone (what a what-if swaps in),
and the page's error page.

What the templates show is built here, in plain values: the 13 inputs
(`FieldView`, from `model.features` and, after a SMART launch, the chart's
`Reading`s), and an /explain answer (`answer_view`). Units, ranges and
conversion factors all come from their one definition in Python; the
page's script reads the factors from the HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.clinical.cds_routes import public_url
from app.clinical.fhir_inputs import FASTING_THRESHOLD, MMOL_CHOLESTEROL, MMOL_GLUCOSE, Reading
from model.features import FEATURE_NAMES, FEATURES, THRESHOLD, Feature
from model.typicality import MISSING_INPUT

HERE = Path(__file__).parent
environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

CONCENTRATIONS = {"serum_cholesterol": MMOL_CHOLESTEROL, "fasting_blood_sugar": MMOL_GLUCOSE}
"""The inputs typed as a concentration, in mg/dL or mmol/L: mg/dL per mmol/L."""
LABELS = {"fasting_blood_sugar": "Fasting blood glucose"}
"""Where the page asks for something else than the feature (a concentration,
used as above FASTING_THRESHOLD or not)."""


@dataclass(frozen=True)
class FieldView:
    """One input as the page shows it."""

    name: str
    label: str
    unit: str | None  # None for a coded input
    minimum: float | None
    maximum: float | None
    step: str
    codes: dict[int, str] | None
    factor: float | None  # a concentration: mg/dL per mmol/L
    value: str  # as typed in the field, "" for not measured
    unit_chosen: str  # "mg/dL" or "mmol/L" for a concentration
    reading: Reading | None  # what the chart gave, after a launch

    @property
    def accepted(self) -> str:
        if self.name == "fasting_blood_sugar":
            return f"used as above {FASTING_THRESHOLD:g} mg/dL ({FASTING_THRESHOLD / MMOL_GLUCOSE:.1f} mmol/L) or not"  # noqa: E501
        if self.codes is not None:
            return ""
        hint = f"accepted: {self.minimum:g} to {self.maximum:g} {self.unit}"
        if self.factor is not None:
            low, high = self.minimum / self.factor, self.maximum / self.factor  # type: ignore[operator]
            hint += f" ({low:.1f} to {high:.1f} mmol/L)"
        return hint


def fields(readings: list[Reading] | None) -> list[FieldView]:
    """The 13 inputs, prefilled from `readings` (FEATURE_NAMES order) when given."""
    return [_field(f, readings[i] if readings else None) for i, f in enumerate(FEATURES)]


def _field(feature: Feature, reading: Reading | None) -> FieldView:
    factor = CONCENTRATIONS.get(feature.name)
    value, unit_chosen = "", "mg/dL"
    if reading is not None and reading.value is not None:
        if reading.charted is not None and factor is not None:
            amount, charted_unit = reading.charted
            value, unit_chosen = f"{amount:g}", ("mmol/L" if charted_unit == "mmol/L" else "mg/dL")
        else:
            value = f"{reading.value:g}"
    if feature.name == "fasting_blood_sugar":
        return FieldView(feature.name, LABELS[feature.name], "mg/dL", 0, None, "any", None,
                         factor, value, unit_chosen, reading)  # fmt: skip
    unit: str | None = "mg/dL" if factor is not None else feature.unit
    step = "1" if feature.integer else "any"
    return FieldView(feature.name, FIELD_LABELS[feature.name], unit,
                     feature.minimum, feature.maximum, step, feature.codes, factor, value,
                     unit_chosen, reading)  # fmt: skip


def answer_view(answer: dict[str, Any], record_id: str | None) -> dict[str, Any]:
    """What the answer shows, from an /explain answer (as JSON, parsed)."""
    labels, interval = FIELD_LABELS, answer["interval"]
    contributions = [
        {"label": labels[c["field"]], "points": c["contribution"] * 100}
        for c in answer["contributions"]
    ]
    widest = max([abs(c["points"]) for c in contributions] + [1.0])
    return {
        "percent": _percent(answer["probability"]),
        "low": _percent(interval["low"]),
        "high": _percent(interval["high"]),
        "level": _percent(interval["level"]),
        "present": answer["class"] == 1,
        "threshold": _percent(THRESHOLD),
        "base": _percent(answer["base_value"]),
        "warnings": [_plain(w, labels) for w in answer["warnings"] if w["code"] != MISSING_INPUT],
        "contributions": contributions,
        "widest": widest,
        "missing": [
            {
                "label": labels[m["field"]],
                "low": _percent(m["if_measured"]["low"]),
                "high": _percent(m["if_measured"]["high"]),
            }
            for m in answer.get("missing", [])
        ],
        "model_version": answer["model_version"],
        "record_id": record_id,
    }


FIELD_LABELS = {f.name: LABELS.get(f.name, f.description) for f in FEATURES}
"""Each input's name on the page, by its API name."""


def _percent(p: float) -> int:
    """A probability as the whole percent the page shows (as f"{p:.0%}" does)."""
    return int(f"{p * 100:.0f}")


def _plain(warning: dict[str, Any], labels: dict[str, str]) -> str:
    """A warning in words: its field named by its label, not its API name."""
    message = str(warning["message"])
    field = warning.get("field")
    if field in labels and message.startswith(field):
        message = labels[field] + message[len(field) :]
    return message


def page(**context: Any) -> str:
    return environment.get_template("page.html").render(names=FEATURE_NAMES, **context)


def answer(view: dict[str, Any]) -> str:
    return environment.get_template("answer.html").render(a=view)


TITLES = {400: "This launch cannot go on", 401: "Open the risk page from the EHR",
          403: "Not from the risk page", 404: "Not found", 502: "The EHR did not answer",
          503: "The service is busy or not ready"}  # fmt: skip


def error_page(status: int, message: str) -> str:
    title = TITLES.get(status, "The risk page cannot be shown")
    return environment.get_template("error.html").render(status=status, title=title,
                                                         message=message)  # fmt: skip


def own_origin(request: Request) -> str:
    """This service's origin as browsers see it (PUBLIC_BASE_URL's, when set)."""
    parts = urlsplit(public_url(request, "/"))
    return f"{parts.scheme}://{parts.netloc}"


def is_page(request: Request) -> bool:
    """Whether `request` is a browser's navigation to the page or its launch,
    whose errors are answered as an HTML page (`error_page`)."""
    path = request.url.path.rstrip("/")
    return request.method in ("GET", "HEAD") and (path == "/app" or path.startswith("/smart/"))


def html(request: Request, content: str, status: int = 200,
         headers: dict[str, str] | None = None) -> HTMLResponse:  # fmt: skip
    """An HTML answer of the page, under its Content-Security-Policy: only
    this service's own script, styles and requests; framed only by
    PAGE_FRAME_ANCESTORS; never cached, never a referrer."""
    ancestors = request.app.state.settings.page_frame_ancestors
    policy = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
              "connect-src 'self'; form-action 'self'; base-uri 'none'; "
              f"frame-ancestors {ancestors}")  # fmt: skip
    return HTMLResponse(content, status, headers={
        "Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", **(headers or {}),
    })  # fmt: skip
