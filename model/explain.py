"""Exact interventional Shapley values of the network's probability, in NumPy.

For a patient x, a background set of K training rows z_1..z_K and a
coalition S of features, the interventional value is

    v(S) = mean_k f(x_S, z_k,not S)      (x's values on S, z_k's elsewhere)

and feature i's contribution is its Shapley value

    phi_i = sum over S not holding i of |S|! (13 - |S| - 1)! / 13! * (v(S + i) - v(S)),

computed exactly over all 2^13 = 8,192 coalitions (no sampling). Then
v(empty) is the mean probability over the background (`base_value`) and
base_value + sum(phi) = v(all) = f(x): Shapley's efficiency.

Speed comes from the first layer being linear. With the scaler folded into
W1, the hidden pre-activation of coalition S against background row k is

    z_k @ W1 + b1  +  sum over i in S of (x_i - z_k,i) * W1[i]

so one matrix product of the 8,192 x 13 coalition masks with a 13 x (K h)
matrix of per-feature differences gives every pre-activation at once; the
rest is a ReLU, a product with w2 and a sigmoid over 8,192 x K values, and
the Shapley sum is one product with a fixed 13 x 8,192 matrix of weights.
Work that does not depend on the patient (masks, weights, z_k @ W1 + b1)
is done once, when the explainer is made. Figures: docs/performance.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import numpy as np

from model.activations import sigmoid
from model.propagation import Params

N_FEATURES = 13

Transform = Callable[[np.ndarray], np.ndarray]
"""Applied to every coalition's value before the Shapley sum (a site's
recalibration, `model.recalibration`): the contributions then add up to the
transformed probability minus the transformed base value."""


@cache
def coalition_masks(d: int) -> np.ndarray:
    """Every coalition of d features as a row of 0/1 (2^d, d), plus a last
    column of ones that adds the background's own pre-activation (made once
    per process; read-only)."""
    masks = (np.arange(2**d)[:, None] >> np.arange(d)) & 1
    out = np.hstack([masks, np.ones((2**d, 1), dtype=masks.dtype)]).astype(np.float64)
    out.flags.writeable = False
    return out


@cache
def shapley_weights(d: int) -> np.ndarray:
    """The (d, 2^d) matrix C with phi = C @ v: for coalition S, C[i, S] is
    w(|S| - 1) when i is in S and -w(|S|) when not, where
    w(s) = s! (d - s - 1)! / d!."""
    masks = (np.arange(2**d)[:, None] >> np.arange(d)) & 1  # (2^d, d)
    sizes = masks.sum(axis=1)
    w = np.array(
        [math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) for s in range(d)]
    )
    present = w[np.clip(sizes - 1, 0, d - 1)]  # weight when i is in S (|S| >= 1 then)
    absent = w[np.clip(sizes, 0, d - 1)]  # weight when i is not in S (|S| <= d - 1 then)
    out = np.where(masks.T == 1, present[None, :], -absent[None, :])
    out.flags.writeable = False
    return out


class ShapleyExplainer:
    """Exact Shapley values of p(x) = sigmoid(relu(x @ W1 + b1) @ w2 + b2)
    against `background` (K, 13) raw rows (W1 and b1 with the scaler folded in)."""

    def __init__(
        self, W1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: float, background: np.ndarray
    ) -> None:
        self.W1, self.w2, self.b2 = W1, w2, b2  # (13, h), (h,), scalar
        self.background = background  # (K, 13)
        self.hidden = W1.shape[1]
        self._masks = coalition_masks(N_FEATURES)  # (8192, 14)
        self._weights = shapley_weights(N_FEATURES)  # (13, 8192)
        self.b1 = b1
        self._background_pre = background @ W1 + b1  # (K, h)

    @classmethod
    def for_network(cls, weights: Params, background: np.ndarray) -> ShapleyExplainer:
        """The explainer of a network whose first layer takes raw rows (the
        scaler folded in, `model.serving.fold_scaler`)."""
        w = weights
        return cls(w["W1"], w["b1"], w["W2"][:, 0], float(w["b2"][0]), background)

    def explain(
        self, x: np.ndarray, transform: Transform | None = None
    ) -> tuple[float, np.ndarray]:
        """(base_value, contributions (13,)) for one raw row x (13,); with
        `transform` (a recalibration), of the game transform(v(S))."""
        K, h, d = len(self.background), self.hidden, N_FEATURES
        deltas = np.empty((d + 1, K, h))
        np.multiply((x - self.background).T[:, :, None], self.W1[:, None, :], out=deltas[:d])
        deltas[d] = self._background_pre
        pre = self._masks @ deltas.reshape(d + 1, K * h)  # (8192, K h)
        np.maximum(pre, 0.0, out=pre)  # ReLU
        z = pre.reshape(-1, h) @ self.w2  # (8192 K,) logits
        z += self.b2
        values = sigmoid(z, out=z).reshape(2**d, K).mean(axis=1)  # v(S) for every coalition
        if transform is not None:
            values = transform(values)
        return float(values[0]), self._weights @ values

    def explain_measured(
        self,
        x: np.ndarray,
        observed: np.ndarray,
        donors: np.ndarray,
        weights: np.ndarray,
        transform: Transform | None = None,
    ) -> tuple[float, np.ndarray]:
        """(base_value, contributions (13,), 0 for the unmeasured) when only
        `observed` features of x are measured and the probability is the
        expectation over `donors` (J, 13) with `weights` (J,) (`model.missing`).

        The players are the measured features only; an unmeasured one always
        takes the donor's value. For a coalition S of measured features,

            v(S) = sum_j w_j mean_k f(x_S, z_k on the other measured, t_j on the unmeasured),

        so v(all measured) = sum_j w_j f(x_O, t_j,M), the probability answered,
        and v(empty) (`base_value`) is the background's mean probability with
        the unmeasured features as donors like this patient have them."""
        measured, unmeasured = np.flatnonzero(observed), np.flatnonzero(~observed)
        d, h, K = len(measured), self.hidden, len(self.background)
        # Donors matter only through their unmeasured values: alike ones are merged.
        combos, inverse = np.unique(donors[:, unmeasured], axis=0, return_inverse=True)
        combo_weights = np.bincount(inverse.ravel(), weights=weights, minlength=len(combos))
        # pre-activation = A[S, k] (x on S, background k on the other measured) + C[j] (donor j)
        deltas = np.empty((d + 1, K, h))
        np.multiply(
            (x[measured] - self.background[:, measured]).T[:, :, None],
            self.W1[measured][:, None, :],
            out=deltas[:d],
        )
        deltas[d] = self.background[:, measured] @ self.W1[measured]
        A = (coalition_masks(d) @ deltas.reshape(d + 1, K * h)).reshape(2**d, K, h)
        C = combos @ self.W1[unmeasured] + self.b1  # (J, h)
        values = np.zeros(2**d)
        for c, w in zip(C, combo_weights.tolist(), strict=True):
            pre = A + c
            np.maximum(pre, 0.0, out=pre)
            z = pre.reshape(-1, h) @ self.w2
            z += self.b2
            values += w * sigmoid(z, out=z).reshape(2**d, K).mean(axis=1)  # v(S), this donor
        if transform is not None:
            values = transform(values)
        contributions = np.zeros(N_FEATURES)
        if d:
            contributions[measured] = shapley_weights(d) @ values
        return float(values[0]), contributions
