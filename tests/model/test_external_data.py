"""The external cohorts in data/external: the files are the documented ones
(checksums), and the loader reads the counts their README states."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from model.artifact import file_sha256
from model.data import load_external

EXTERNAL = Path(__file__).resolve().parents[2] / "data" / "external"
README = (EXTERNAL / "README.md").read_text()


@pytest.mark.parametrize(
    "name", ["processed.hungarian.data", "processed.switzerland.data", "heart-disease.names"]
)
def test_checksums_are_the_documented_ones(name: str) -> None:
    documented = re.search(rf"`{re.escape(name)}` \|.*`([0-9a-f]{{64}})`", README)
    assert documented is not None
    assert file_sha256(EXTERNAL / name) == documented.group(1)


@pytest.mark.parametrize(
    ("name", "rows", "presence", "column"),
    [("processed.hungarian.data", 294, 106, 1), ("processed.switzerland.data", 123, 115, 2)],
)
def test_the_loader_reads_the_documented_counts(
    name: str, rows: int, presence: int, column: int
) -> None:
    X, y, made_null = load_external(EXTERNAL / name)
    assert X.shape == (rows, 13) and y.sum() == presence and set(np.unique(y)) == {0, 1}
    table = dict(re.findall(r"^\| `(\w+)` \| (.+) \|$", README, flags=re.MULTILINE))
    for feature, cells in table.items():
        documented = int(cells.split(" | ")[column - 1].split()[0])
        j = list(made_null).index(feature)
        assert int(np.isnan(X[:, j]).sum()) == documented, feature
        assert sum(made_null[feature].values()) == documented, feature
    undocumented = [f for f in made_null if f not in table]
    assert all(not np.isnan(X[:, list(made_null).index(f)]).any() for f in undocumented)


def test_hidden_zeros_and_values_outside_the_domain_are_not_measured() -> None:
    X, _, made_null = load_external(EXTERNAL / "processed.switzerland.data")
    assert made_null["serum_cholesterol"] == {
        "unknown": 0, "zero_means_unknown": 123, "outside_domain": 0,
    }  # fmt: skip
    assert made_null["st_depression"]["outside_domain"] == 11  # oldpeak < 0
    assert not (X[~np.isnan(X[:, 9]), 9] < 0).any()
    hungarian, _, _ = load_external(EXTERNAL / "processed.hungarian.data")
    assert int((~np.isnan(hungarian)).all(axis=1).sum()) == 1
    assert int((~np.isnan(X)).all(axis=1).sum()) == 0
