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

    def forward(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, networks), extra outputs (n, k)) for raw rows X (n, 13)."""
        pre = X @ self.W  # (n, networks h + k)
        pre += self.b
        hidden = pre[:, : self.n_hidden]
        np.maximum(hidden, 0.0, out=hidden)  # ReLU
        z = hidden @ self.W2  # (n, networks)
        z += self.b2
        return sigmoid(z), pre[:, self.n_hidden :]


def percentile_interval(members: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each (n,): the (1 - level) / 2 and (1 + level) / 2
    quantiles of each row of `members` (n, m), linearly interpolated."""
    ordered = np.sort(members, axis=1)
    m = ordered.shape[1]
    bounds = []
    for q in ((1 - level) / 2, (1 + level) / 2):
        position = q * (m - 1)
        i = min(int(position), m - 2)
        t = position - i
        bounds.append(ordered[:, i] + (ordered[:, i + 1] - ordered[:, i]) * t)
    return bounds[0], bounds[1]
