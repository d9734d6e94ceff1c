"""The served network and its bootstrap ensemble as one stacked network.

Every network here has the same shape (13 -> h ReLU -> 1 sigmoid), with the
scaler folded into its first layer. Their first layers are put side by side
into one (13, (m + 1) h) matrix, and their second layers into one
block-diagonal ((m + 1) h, m + 1) matrix: one network with m + 1 outputs,
which training's forward pass (`model.propagation.forward`) scores in two
matrix products, not m + 1 forward passes. Extra linear outputs (the
Mahalanobis whitening of `model.typicality`) come with it.

The interval is the 5th and 95th percentiles of the members' probabilities
(linear interpolation between order statistics, as `np.percentile`'s
default).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from model.activations import sigmoid
from model.propagation import Params, forward

LEVEL = 0.9
"""The interval holds the central 90% of the members' probabilities."""


class WideNetwork:
    """Networks[0] is the served network, the rest the ensemble members,
    stacked into one network (`params`), with extra linear outputs."""

    def __init__(self, networks: list[Params], extra: tuple[np.ndarray, np.ndarray]) -> None:
        hidden, n = networks[0]["W1"].shape[1], len(networks)
        W2 = np.zeros((n * hidden, n))  # block diagonal
        for i, net in enumerate(networks):
            W2[i * hidden : (i + 1) * hidden, i] = net["W2"][:, 0]
        self.params: Params = {
            "W1": np.hstack([net["W1"] for net in networks]),  # (13, n h)
            "b1": np.concatenate([net["b1"] for net in networks]),  # (n h,)
            "W2": W2,  # (n h, n)
            "b2": np.concatenate([net["b2"] for net in networks]),  # (n,)
        }
        A, c = extra  # (13, k), (k,): extra outputs x @ A - c
        self._A, self._c = A, c
        # For one row: the first layer, the extra outputs and every bias in
        # one product (the row gets a 1 appended), with a constant hidden
        # unit after the others (pre-activation 1, kept by the ReLU) whose
        # output weights are the b2s: two products and a ReLU in all.
        W1, b1 = self.params["W1"], self.params["b1"]
        constant = np.zeros((len(W1) + 1, 1))
        constant[-1] = 1.0
        self._W_one = np.hstack([np.vstack([W1, b1]), constant, np.vstack([A, -c])])
        self._W2_one = np.vstack([W2, self.params["b2"]])  # (n h + 1, n)
        self._units = n * hidden + 1

    def forward(self, X: Any) -> tuple[Any, Any]:
        """(probabilities (rows, networks), extra outputs (rows, k)) for raw
        rows X (rows, 13): training's forward pass (`model.propagation`)
        over the stacked weights, and the extra product.

        One row given as a list of floats (the single-patient path) gives
        lists: the same arithmetic in two products, a ReLU and the sigmoid,
        since for one row NumPy's fixed cost per call outweighs the work."""
        if isinstance(X, list):
            pre = np.array([*X, 1.0]) @ self._W_one  # (n h + 1 + k,)
            hidden = pre[: self._units]
            np.maximum(hidden, 0.0, out=hidden)  # ReLU; the constant unit stays 1
            z = hidden @ self._W2_one
            return sigmoid(z, out=z).tolist(), pre[self._units :].tolist()
        extra = X @ self._A  # (rows, k)
        extra -= self._c
        return forward(self.params, X)[0], extra


def _quantile_positions(m: int, level: float) -> list[tuple[int, float]]:
    """For the (1 - level) / 2 and (1 + level) / 2 quantiles of m sorted
    values: the lower order statistic's index and the fraction towards the
    next (linear interpolation, as `np.percentile`'s default)."""
    positions = []
    for q in ((1 - level) / 2, (1 + level) / 2):
        position = q * (m - 1)
        i = min(int(position), m - 2)
        positions.append((i, position - i))
    return positions


def percentile_interval(members: Any, level: float = LEVEL) -> tuple[Any, Any]:
    """(low, high): the (1 - level) / 2 and (1 + level) / 2 quantiles of the
    members' probabilities, linearly interpolated. For `members` (n, m), two
    (n,) arrays; for one row as a list of floats (the single-patient path),
    two floats, from the same arithmetic in plain Python (`sorted`), without
    NumPy's per-call cost."""
    if isinstance(members, list):
        ordered: Any = sorted(members)
        m, column = len(ordered), ordered.__getitem__
    else:
        ordered = np.sort(members, axis=1)
        m, column = ordered.shape[1], lambda k: ordered[:, k]
    (i, t), (j, u) = _quantile_positions(m, level)
    return (
        column(i) + (column(i + 1) - column(i)) * t,
        column(j) + (column(j + 1) - column(j)) * u,
    )
