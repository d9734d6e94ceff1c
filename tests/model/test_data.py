"""The heart.dat loader: the real file, and every kind of malformed file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from model.data import DataError, load_heart
from model.features import FEATURE_NAMES

DATA = Path(__file__).resolve().parents[2] / "data" / "heart.dat"
GOOD_ROW = "70.0 1.0 4.0 130.0 322.0 0.0 2.0 109.0 0.0 2.4 2.0 3.0 3.0 2"


def test_the_committed_file_is_the_documented_one() -> None:
    digest = hashlib.sha256(DATA.read_bytes()).hexdigest()
    assert digest == "f5f3b4204c285bafadd85cb735f38b47689f2be7047feb172dcbeab648110bf9"


def test_loads_270_rows_with_named_columns_and_0_1_target() -> None:
    X, y = load_heart(DATA)
    assert X.shape == (270, 13)
    assert tuple(X.columns) == FEATURE_NAMES
    assert X.dtypes.unique().tolist() == [np.dtype("float64")]
    assert set(np.unique(y)) == {0, 1}
    assert (y == 0).sum() == 150 and (y == 1).sum() == 120
    # First line of the file: class 2 (presence) -> 1; age 70, thal 3.
    assert y[0] == 1 and X.iloc[0]["age"] == 70.0 and X.iloc[0]["thal"] == 3.0
    assert y[1] == 0


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        (GOOD_ROW + " 1.0", "wrong number of columns"),
        (GOOD_ROW.rsplit(" ", 2)[0] + " 2", "line 2: expected 14 values"),
        (
            GOOD_ROW.replace("130.0", "abc"),
            "line 2: column 'resting_blood_pressure' is not a number",
        ),
        (GOOD_ROW.replace("130.0 ", " "), "line 2: expected 14 values"),
        ("", "line 2: expected 14 values"),
        (GOOD_ROW[:-1] + "3", "line 2: class must be 1 (absence) or 2 (presence), got '3'"),
        (GOOD_ROW.replace("130.0", "nan"), "line 2: column 'resting_blood_pressure' is not finite"),
    ],
    ids=[
        "extra-column",
        "missing-column",
        "non-numeric",
        "missing-value",
        "blank-line",
        "bad-class",
        "nan",
    ],
)
def test_malformed_files_are_refused_naming_file_and_line(
    tmp_path: Path, bad_line: str, expected: str
) -> None:
    path = tmp_path / "broken.dat"
    path.write_text(f"{GOOD_ROW}\n{bad_line}\n{GOOD_ROW}\n")
    with pytest.raises(DataError) as err:
        load_heart(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_missing_and_empty_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_heart(tmp_path / "absent.dat")
    (tmp_path / "empty.dat").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_heart(tmp_path / "empty.dat")
