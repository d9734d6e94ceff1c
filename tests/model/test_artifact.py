"""The artifact: format, round trip, and refusal of every unsafe or broken file."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model.artifact import ArtifactError, file_sha256, load_artifact, sidecar_path
from model.features import FEATURE_NAMES
from scripts.train import train
from tests.artifact_helpers import (
    RunsCode,
    copy_artifact,
    read_payload,
    write_with_matching_hash,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_artifact_has_the_documented_format(artifact_path: Path) -> None:
    payload = read_payload(artifact_path)
    assert set(payload) == {
        "weights", "ensemble", "background", "donors", "reference", "scaler", "features",
        "metadata",
    }  # fmt: skip
    w = payload["weights"]
    h = w["W1"].shape[1]
    assert {k: v.shape for k, v in w.items()} == {
        "W1": (13, h),
        "b1": (h,),
        "W2": (h, 1),
        "b2": (1,),
    }
    m = payload["ensemble"]["W1"].shape[0]
    assert m >= 20
    assert {k: v.shape for k, v in payload["ensemble"].items()} == {
        "W1": (m, 13, h),
        "b1": (m, h),
        "W2": (m, h, 1),
        "b2": (m, 1),
    }
    assert payload["background"].shape[0] >= 20 and payload["background"].shape[1] == 13
    n_train = payload["metadata"]["data"]["n_train"]
    assert n_train == 216 and payload["donors"].shape == (n_train, 13)  # every training row
    ref = payload["reference"]
    assert {k: np.shape(v) for k, v in ref.items()} == {
        "minimum": (13,), "maximum": (13,), "mean": (13,), "precision": (13, 13), "threshold": ()
    }  # fmt: skip
    assert type(payload["scaler"]).__name__ == "StandardScaler"
    assert payload["features"] == list(FEATURE_NAMES)
    meta = payload["metadata"]
    for key in ("model_version", "trained_at", "hyperparameters", "metrics", "libraries"):
        assert key in meta
    assert meta["data"]["sha256"] == file_sha256(ROOT / "data" / "heart.dat")
    assert set(meta["metrics"]["held_out"]) == {"accuracy", "roc_auc", "log_loss", "brier"}


def test_the_sidecar_is_in_sha256sum_format(artifact_path: Path) -> None:
    result = subprocess.run(
        ["sha256sum", "-c", sidecar_path(artifact_path).name],
        cwd=artifact_path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # a whole training run, with cross-validation
def test_same_data_and_seed_give_the_same_weights(tmp_path: Path, artifact_path: Path) -> None:
    again = tmp_path / "again.pkl"
    train(ROOT / "data" / "heart.dat", again, cv_repeats=1)
    first, second = read_payload(artifact_path), read_payload(again)
    for part in ("weights", "ensemble", "reference"):
        for k in first[part]:
            assert np.array_equal(first[part][k], second[part][k]), (part, k)
    assert np.array_equal(first["background"], second["background"])
    cv = second["metadata"]["metrics"]["cross_validated"]
    assert cv["scheme"].startswith("1 x repeated stratified 10-fold")
    assert 0.5 < cv["roc_auc"]["mean"] <= 1 and cv["roc_auc"]["std"] > 0
    assert (
        read_payload(again)["metadata"]["model_version"]
        == read_payload(artifact_path)["metadata"]["model_version"]
    )


def test_missing_artifact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as err:
        load_artifact(tmp_path / "model.pkl")
    assert str(tmp_path / "model.pkl") in str(err.value)
    assert "make train" in str(err.value)


def test_missing_sidecar_is_refused(artifact_path: Path, tmp_path: Path) -> None:
    path = copy_artifact(artifact_path, tmp_path)
    sidecar_path(path).unlink()
    with pytest.raises(ArtifactError, match=r"checksum file model\.pkl\.sha256 not found"):
        load_artifact(path)


@pytest.mark.parametrize("how", ["appended", "flipped", "truncated"])
def test_tampered_artifact_is_refused_before_unpickling(
    artifact_path: Path, tmp_path: Path, how: str
) -> None:
    path = copy_artifact(artifact_path, tmp_path)
    data = bytearray(path.read_bytes())
    if how == "appended":
        data += b"x"
    elif how == "flipped":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="SHA-256 does not match"):
        load_artifact(path)


def test_malicious_pickle_is_refused_and_never_runs(artifact_path: Path, tmp_path: Path) -> None:
    path = copy_artifact(artifact_path, tmp_path)
    marker = tmp_path / "pwned"
    payload = read_payload(artifact_path)
    payload["metadata"] = {"note": RunsCode(marker)}
    write_with_matching_hash(
        path, payload
    )  # the hash matches: only the unpickler stands in the way
    with pytest.raises(ArtifactError, match=r"global '(posix|os)\.system' is forbidden"):
        load_artifact(path)
    assert not marker.exists()


def _mutations() -> list[tuple[str, Any, str]]:
    def weights(**changes: Any) -> Any:
        def apply(p: dict[str, Any]) -> None:
            p["weights"].update(changes)

        return apply

    def set_key(key: str, value: Any) -> Any:
        def apply(p: dict[str, Any]) -> None:
            p[key] = value

        return apply

    def drop(key: str) -> Any:
        return lambda p: p.pop(key)

    def ensemble(change: Any) -> Any:
        return set_key_from("ensemble", change)

    def reference(change: Any) -> Any:
        return set_key_from("reference", change)

    def set_key_from(key: str, change: Any) -> Any:
        def apply(p: dict[str, Any]) -> None:
            p[key] = change(p[key])

        return apply

    return [
        ("W1-shape", weights(W1=np.zeros((12, 8))), "shape"),
        ("b1-shape", weights(b1=np.zeros((1, 8))), "weights['b1'] has shape (1, 8)"),
        ("W2-nan", weights(W2=np.full((8, 1), np.nan)), "non-finite"),
        ("b2-inf", weights(b2=np.array([np.inf])), "non-finite"),
        ("W1-int", weights(W1=np.zeros((13, 8), dtype=np.int64)), "float64"),
        ("extra-weight", weights(W3=np.zeros(1)), "exactly"),
        ("features-order", set_key("features", list(reversed(FEATURE_NAMES))), "features must be"),
        ("features-short", set_key("features", list(FEATURE_NAMES[:12])), "features must be"),
        ("no-scaler", drop("scaler"), "expected a dict with keys"),
        ("scaler-wrong-type", set_key("scaler", {"mean_": 1}), "scaler must be a StandardScaler"),
        ("metadata-list", set_key("metadata", []), "metadata must be a dict"),
        ("extra-key", set_key("activations", np.zeros(3)), "expected a dict with keys"),
        ("no-ensemble", drop("ensemble"), "expected a dict with keys"),
        ("one-member", ensemble(lambda e: {k: v[:1] for k, v in e.items()}), "at least 2"),
        ("member-nan", ensemble(lambda e: {**e, "b1": e["b1"] * np.nan}), "non-finite"),
        ("member-shape", ensemble(lambda e: {**e, "W2": e["W2"][:, :4]}), "shape"),
        ("background-shape", set_key("background", np.zeros((32, 12))), "background"),
        ("background-int", set_key("background", np.zeros((32, 13), dtype=int)), "float64"),
        ("reference-keys", reference(lambda r: {"mean": r["mean"]}), "reference must hold"),
        ("threshold-nan", reference(lambda r: {**r, "threshold": float("nan")}), "threshold"),
        ("threshold-array", reference(lambda r: {**r, "threshold": np.ones(1)}), "threshold"),
        (
            "precision-not-pd",
            reference(lambda r: {**r, "precision": -np.eye(13)}),
            "positive definite",
        ),
    ]


@pytest.mark.parametrize(
    ("name", "mutate", "message"), _mutations(), ids=[m[0] for m in _mutations()]
)
def test_malformed_artifacts_are_refused(
    artifact_path: Path, tmp_path: Path, name: str, mutate: Any, message: str
) -> None:
    path = copy_artifact(artifact_path, tmp_path)
    payload = read_payload(artifact_path)
    mutate(payload)
    write_with_matching_hash(path, payload)
    with pytest.raises(ArtifactError) as err:
        load_artifact(path)
    assert message in str(err.value)
    assert "malformed artifact" in str(err.value) and "make train" in str(err.value)
    assert "\n" not in str(err.value)


def test_not_a_dict_and_not_a_pickle_are_refused(artifact_path: Path, tmp_path: Path) -> None:
    path = copy_artifact(artifact_path, tmp_path)
    write_with_matching_hash(path, [1, 2, 3])
    with pytest.raises(ArtifactError, match="expected a dict"):
        load_artifact(path)
    path.write_bytes(b"this is not a pickle")
    sidecar_path(path).write_text(f"{file_sha256(path)}  model.pkl\n")
    with pytest.raises(ArtifactError, match="refused to load"):
        load_artifact(path)


def test_scaler_with_bad_scale_is_refused(artifact_path: Path, tmp_path: Path) -> None:
    path = copy_artifact(artifact_path, tmp_path)
    payload = read_payload(artifact_path)
    payload["scaler"].scale_ = np.zeros(13)
    write_with_matching_hash(path, payload)
    with pytest.raises(ArtifactError, match="scale_ must be > 0"):
        load_artifact(path)
