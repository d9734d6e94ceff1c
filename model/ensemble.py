"""The served network and its bootstrap ensemble as one wide network.

Every network here has the same shape (13 -> h ReLU -> 1 sigmoid), with the
scaler folded into its first layer. Their first layers are put side by side
into one (13, (m + 1) h) matrix, and their second layers into one
block-diagonal ((m + 1) h, m + 1) matrix, so that the served network and
its m members cost two matrix products in all, not m + 1 forward passes.
Extra linear outputs (the Mahalanobis whitening of `model.typicality`)
ride in the same first product.

The interval is the 5th and 95th percentiles of the members' probabilities
(linear interpolation between order statistics, as `np.percentile`'s
default), computed here for any number of rows at once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from model.activations import sigmoid
from model.propagation import Params

LEVEL = 0.9
"""The interval holds the central 90% of the members' probabilities."""


class WideNetwork:
    """Networks[0] is the served network, the rest the ensemble members."""

    def __init__(self, networks: list[Params], extra: tuple[np.ndarray, np.ndarray]) -> None:
        hidden = networks[0]["W1"].shape[1]
        n = len(networks)
        A, c = extra  # (13, k), (k,): extra outputs x @ A - c
        self.W = np.hstack([net["W1"] for net in networks] + [A])  # (13, n h + k)
        self.b = np.concatenate([net["b1"] for net in networks] + [-c])  # (n h + k,)
        self.W2 = np.zeros((n * hidden, n))  # block diagonal
        for i, net in enumerate(networks):
            self.W2[i * hidden : (i + 1) * hidden, i] = net["W2"][:, 0]
        self.b2 = np.array([float(net["b2"][0]) for net in networks])  # (n,)
        self.n_hidden = n * hidden
        self._W_hidden, self._W_extra = self.W[:, : self.n_hidden].copy(), A
        self._b_hidden, self._b_extra = self.b[: self.n_hidden].copy(), -c
        # For one row: the biases as a last input row (the row gets a 1
        # appended), and a constant hidden unit right after the others
        # (pre-activation 1, kept by the ReLU) whose output weights are the
        # b2s: two products and a ReLU, no additions, no copies.
        k = self.W.shape[1] - self.n_hidden
        constant = np.zeros((len(self.W) + 1, 1))
        constant[-1] = 1.0
        W_biased = np.vstack([self.W, self.b])  # (14, n h + k)
        self._W_one = np.hstack(
            [W_biased[:, : self.n_hidden], constant, W_biased[:, self.n_hidden :]]
        )
        self._W2_one = np.vstack([self.W2, self.b2])  # (n h + 1, n)
        self._units = self.n_hidden + 1
        assert self._W_one.shape[1] == self._units + k

    def forward(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, networks), extra outputs (n, k)) for raw rows X (n, 13)."""
        hidden = X @ self._W_hidden  # (n, networks h), contiguous for the next product
        hidden += self._b_hidden
        np.maximum(hidden, 0.0, out=hidden)  # ReLU
        z = hidden @ self.W2  # (n, networks)
        z += self.b2
        extra = X @ self._W_extra  # (n, k)
        extra += self._b_extra
        return sigmoid(z, out=z), extra

    def forward_one(self, row: list[float]) -> tuple[list[float], list[float]]:
        """`forward` for one row, in as few NumPy calls as possible (each has
        a fixed cost that, for one row, outweighs its arithmetic)."""
        pre = np.array([*row, 1.0]) @ self._W_one  # (n h + 1 + k,)
        hidden = pre[: self._units]
        np.maximum(hidden, 0.0, out=hidden)  # ReLU; the constant unit stays 1
        z = (hidden @ self._W2_one).tolist()
        return [_sigmoid(v) for v in z], pre[self._units :].tolist()


def _sigmoid(z: float) -> float:
    """`model.activations.sigmoid` of one float, without overflow (exp of a
    non-positive number only)."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


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
        one = sorted(members)
        (i, t), (j, u) = _quantile_positions(len(one), level)
        return one[i] + (one[i + 1] - one[i]) * t, one[j] + (one[j + 1] - one[j]) * u
    ordered = np.sort(members, axis=1)
    (i, t), (j, u) = _quantile_positions(ordered.shape[1], level)
    low = ordered[:, i] + (ordered[:, i + 1] - ordered[:, i]) * t
    high = ordered[:, j] + (ordered[:, j + 1] - ordered[:, j]) * u
    return low, high
