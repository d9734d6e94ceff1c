"""The README's quickstart (the two commands, the documented example patient,
an answer every machine gives) and the examples the pages show beside it
(docs/api.md's Python, docs/answers.md's answer, docs/clinical.md's card):
each is what the service answers (the reference tables: tests/test_docs.py)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from app.api.answer_models import Prediction
from model.features import EXAMPLE_PATIENT
from tests.app.test_cds_hooks import today_54  # noqa: F401  (a fixture)
from tests.tolerances import ACROSS_MACHINES, assert_probabilities_close

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_quickstart_commands_are_make_targets_and_ci_runs_the_test_command() -> None:
    quickstart = _section(README.read_text(), "Quickstart")
    block = re.search(r"```sh\n(.*?)```", quickstart, flags=re.DOTALL)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["make serve", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    for target in ("serve", "test"):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), target
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "make test" in [line.strip() for line in ci]


def test_readme_examples_send_the_documented_example_patient() -> None:
    quickstart = _section(README.read_text(), "Quickstart")
    curl_body = re.search(r"-d '(\{.*?\})'", quickstart, flags=re.DOTALL)
    assert curl_body is not None
    assert json.loads(curl_body.group(1)) == EXAMPLE_PATIENT
    from_python = _section((DOCS / "api.md").read_text(), "From Python")
    python_patient = re.search(r"patient = (\{.*?\n\})", from_python, flags=re.DOTALL)
    assert python_patient is not None
    assert ast.literal_eval(python_patient.group(1)) == EXAMPLE_PATIENT
    answer = re.search(r"^# (\{.*\})$", quickstart, flags=re.MULTILINE)
    assert answer is not None
    shown = json.loads(answer.group(1))
    required = Prediction.__required_keys__
    documented = [name for name in Prediction.__annotations__ if name in required]
    assert list(shown) == documented
    TypeAdapter(Prediction).validate_python(shown)


def test_readme_shows_a_real_answer(client: TestClient) -> None:
    """The quickstart's answer is what the service answers (same weights: the
    same data and seed give the same model)."""
    quickstart = _section(README.read_text(), "Quickstart")
    answer = re.search(r"^# (\{.*\})$", quickstart, flags=re.MULTILINE)
    assert answer is not None
    shown = json.loads(answer.group(1))
    real = client.post("/predict", json=EXAMPLE_PATIENT).json()
    # to 1e-9, not to the bit: another CPU's BLAS kernels round training otherwise
    floats = ("probability", "interval")
    assert {k: v for k, v in shown.items() if k not in floats} == {
        k: v for k, v in real.items() if k not in floats
    }
    assert_probabilities_close(shown["probability"], real["probability"], ACROSS_MACHINES)
    assert shown["interval"]["level"] == real["interval"]["level"]
    for end in ("low", "high"):
        assert_probabilities_close(shown["interval"][end], real["interval"][end], ACROSS_MACHINES)


def test_readme_shows_a_real_answer_with_measurements_missing(client: TestClient) -> None:
    """The answer shown for the example patient without slope, vessels and
    thal is the service's, to the 3 decimals shown."""
    section = _section((DOCS / "answers.md").read_text(), "With measurements missing")
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block is not None
    shown = json.loads(block.group(1))
    missing = ("st_slope", "num_major_vessels", "thal")
    real = client.post("/predict", json={**EXAMPLE_PATIENT, **dict.fromkeys(missing)}).json()
    rounding = 5e-4 + ACROSS_MACHINES  # 3 decimals shown
    assert shown["model_version"] == real["model_version"]
    assert (shown["class"], shown["label"]) == (real["class"], real["label"])
    assert_probabilities_close(shown["probability"], real["probability"], rounding)
    for end in ("low", "high"):
        assert_probabilities_close(shown["interval"][end], real["interval"][end], rounding)
    assert [(w["code"], w["field"]) for w in shown["warnings"]] == [
        (w["code"], w["field"]) for w in real["warnings"]
    ]
    assert [m["field"] for m in shown["missing"]] == list(missing)
    for s, r in zip(shown["missing"], real["missing"], strict=True):
        for end in ("low", "high"):
            assert_probabilities_close(s["if_measured"][end], r["if_measured"][end], rounding)


@pytest.mark.usefixtures("today_54")
def test_readme_shows_a_real_card_for_the_example_call(client: TestClient) -> None:
    """docs/clinical.md's example: the curl names the example call, and the
    card shown is what the service answers for it (on the day the page says)."""
    section = _section((DOCS / "clinical.md").read_text(), "The example call")
    assert "-d @examples/cds-hooks-call.json" in section
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block is not None
    (shown,) = json.loads(block.group(1))["cards"]
    call = (ROOT / "examples" / "cds-hooks-call.json").read_bytes()
    response = client.post(
        "/cds-services/heart-disease-risk",
        content=call,
        headers={"Content-Type": "application/json"},
    )
    (real,) = response.json()["cards"]
    for key in ("summary", "indicator", "selectionBehavior"):
        assert shown[key] == real[key], key
    assert shown["source"]["label"] == real["source"]["label"]
    shown_lines = [line for line in shown["detail"].splitlines() if line != "| ... |"]
    assert all(line in real["detail"].splitlines() for line in shown_lines)
    shown_ra = shown["suggestions"][0]["actions"][0]["resource"]
    real_ra = real["suggestions"][0]["actions"][0]["resource"]
    assert shown_ra["method"]["coding"][0]["version"] == real_ra["method"]["coding"][0]["version"]
    shown_p, real_p = shown_ra["prediction"][0], real_ra["prediction"][0]
    assert_probabilities_close(
        shown_p["probabilityDecimal"], real_p["probabilityDecimal"], ACROSS_MACHINES
    )
    assert shown_p["rationale"] == real_p["rationale"]
    assert shown_p["qualitativeRisk"]["coding"][0]["code"] == "moderate"
    assert real_p["qualitativeRisk"]["coding"][0]["code"] == "moderate"
