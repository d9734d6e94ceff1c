"""The activations (ReLU, sigmoid), their derivatives and the loss: small pure functions.

Each derivative sits next to its forward function. None of them keeps state
or writes into its argument (the tutorial's ReLU derivative overwrote the
cached pre-activations in place; `relu_grad` returns a new array).
"""

from __future__ import annotations

import numpy as np


def relu(z: np.ndarray) -> np.ndarray:
    """max(z, 0), elementwise."""
    return np.maximum(z, 0.0)


def relu_grad(z: np.ndarray) -> np.ndarray:
    """d relu / dz at the pre-activation `z`: 1 where z > 0, else 0."""
    return (z > 0).astype(z.dtype)


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-z)), elementwise, for any z (infinities included).

    The one sigmoid of the project: training, serving (the ensemble, one
    patient or many), the Shapley values and a site's recalibration. z is clipped to
    [-700, 700] first, where exp stays finite and the answer is already 0
    or 1 to within 1e-300, so nothing overflows or warns. With `out` (which
    may be z itself) the result is written there; otherwise z is untouched.
    """
    z = np.maximum(z, -700.0, out=np.empty(np.shape(z)) if out is None else out)
    np.minimum(z, 700.0, out=z)  # the clip, as two ufuncs: np.clip costs more on few values
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)
    return z


def sigmoid_grad(a: np.ndarray) -> np.ndarray:
    """d sigmoid / dz expressed through the output a = sigmoid(z)."""
    return a * (1.0 - a)


def binary_log_loss(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Mean binary cross-entropy.

    Probabilities are clipped to [eps, 1 - eps] (eps of float64), as
    scikit-learn does, so that a confident wrong answer costs a large but
    finite loss instead of log(0).
    """
    eps = np.finfo(np.float64).eps
    p = np.clip(y_prob, eps, 1.0 - eps)
    y = np.asarray(y_true, dtype=np.float64).reshape(p.shape)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))
