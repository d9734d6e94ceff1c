"""Reading the UCI Statlog (Heart) data file, `heart.dat`.

The file has no header, one space between fields, 13 feature columns in the
order of `model.features.FEATURES` and then the class (1 = absence,
2 = presence). `load_heart` maps the class to 0/1 and refuses a malformed
file with a `DataError` that names the file and the line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from model.features import FEATURE_NAMES, FEATURES, TARGET

N_COLUMNS = len(FEATURE_NAMES) + 1
CLASS_TO_TARGET = {1: 0, 2: 1}


class DataError(ValueError):
    """The data file is missing or malformed; the message names file and line."""


def load_heart(path: str | Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the features (a DataFrame with `FEATURE_NAMES` columns, float64)
    and the target (int64 array of 0 = absence, 1 = presence)."""
    path = Path(path)
    raw = _read_cells(path)
    if raw.empty:
        raise DataError(f"{path}: the file holds no rows")
    _check_cells(path, raw)
    values = raw.apply(pd.to_numeric).astype(np.float64)
    classes = values[TARGET]
    bad = ~classes.isin(list(CLASS_TO_TARGET))
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"{path}, line {row + 1}: class must be 1 (absence) or 2 (presence), "
            f"got {raw[TARGET].iloc[row]!r}"
        )
    y = classes.map(CLASS_TO_TARGET).to_numpy(dtype=np.int64)
    return values[list(FEATURE_NAMES)], y


def _read_cells(path: Path) -> pd.DataFrame:
    """Every cell as a string, one row per line (blank lines kept as rows)."""
    try:
        return pd.read_csv(
            path,
            sep=" ",
            header=None,
            names=[*FEATURE_NAMES, TARGET],
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            index_col=False,
        )
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as exc:
        # pandas says e.g. "Expected 14 fields in line 3, saw 15".
        detail = str(exc).split("C error: ")[-1].strip()
        raise DataError(f"{path}: wrong number of columns: {detail}") from None


def _check_cells(path: Path, raw: pd.DataFrame) -> None:
    """Raise on the first line with a missing or a non-numeric value."""
    for line, row in enumerate(raw.itertuples(index=False), start=1):
        present = [cell for cell in row if isinstance(cell, str)]
        if len(present) != N_COLUMNS:
            raise DataError(
                f"{path}, line {line}: expected {N_COLUMNS} values separated by one space, "
                f"found {len(present)} (a missing value or a wrong column count)"
            )
        for name, cell in zip(raw.columns, row, strict=True):
            try:
                number = float(cell)
            except ValueError:
                raise DataError(
                    f"{path}, line {line}: column {name!r} is not a number: {cell!r}"
                ) from None
            if not np.isfinite(number):
                raise DataError(f"{path}, line {line}: column {name!r} is not finite: {cell!r}")


HIDDEN_ZEROS = ("resting_blood_pressure", "serum_cholesterol")
"""In the UCI collection's other cohorts a 0 here means "not measured"."""


def load_external(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, int]]]:
    """One of the UCI "Heart Disease" collection's processed files (comma-
    separated, no header, `?` = missing, 13 features in heart.dat's coding,
    then `num`: 0 absence, 1-4 presence).

    Returns the rows (n, 13) with NaN where a value is not measured, the
    target (0/1) and, per feature, how many values were made NaN and why:
    `?`; a 0 in HIDDEN_ZEROS; or a value outside the API's domain (a code it
    does not take, or a number outside its plausible range), which the
    service would refuse and which therefore counts as not measured."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, header=None, names=[*FEATURE_NAMES, "num"], dtype=str)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    if raw.shape[1] != N_COLUMNS or raw["num"].isna().any():
        raise DataError(f"{path}: expected {N_COLUMNS} comma-separated columns on every line")
    y = pd.to_numeric(raw["num"]).to_numpy()
    if not np.isin(y, [0, 1, 2, 3, 4]).all():
        raise DataError(f"{path}: num must be 0 to 4")
    X = np.full((len(raw), len(FEATURES)), np.nan)
    made_null: dict[str, dict[str, int]] = {}
    for j, feature in enumerate(FEATURES):
        cells = raw[feature.name].str.strip()
        marked = (cells == "?").to_numpy()
        values = pd.to_numeric(cells.where(~marked), errors="raise").to_numpy(dtype=np.float64)
        zero = (values == 0) & (feature.name in HIDDEN_ZEROS)
        valid = np.array([feature.accepts(v) for v in values]) | marked | zero
        X[:, j] = np.where(marked | zero | ~valid, np.nan, values)
        made_null[feature.name] = {
            "unknown": int(marked.sum()),
            "zero_means_unknown": int(zero.sum()),
            "outside_domain": int((~valid).sum()),
        }
    return X, (y > 0).astype(np.int64), made_null
