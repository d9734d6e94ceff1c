"""The maths of the two-layer network: initialisation, forward pass, backprop.

Pure functions of explicit arrays, with no scikit-learn import. `forward`
is the one forward pass of training and of serving, which runs it on the
scaler-folded weights, the served network and its ensemble stacked into one
network (`model.ensemble`); only one patient alone takes a plain-Python
form of it there.

Shapes, with n samples, d features and h hidden units:
    X (n, d)   W1 (d, h)   b1 (h,)   Z1, A1 (n, h)   W2 (h, 1)   b2 (1,)   Z2, A2 (n, 1)
"""

from __future__ import annotations

import numpy as np

from model.activations import binary_log_loss, relu, relu_grad, sigmoid

Params = dict[str, np.ndarray]
"""The learned weights: exactly W1, b1, W2, b2. Never holds activations."""

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def init_params(n_inputs: int, hidden: int, init: str, rng: np.random.Generator) -> Params:
    """Initial weights drawn from `rng`; biases zero, b1 shaped (h,)."""
    if init == "he":
        scale1, scale2 = np.sqrt(2.0 / n_inputs), np.sqrt(2.0 / hidden)
    else:  # "normal", the tutorial's standard normal draw
        scale1 = scale2 = 1.0
    return {
        "W1": rng.standard_normal((n_inputs, hidden)) * scale1,  # (d, h)
        "b1": np.zeros(hidden),  # (h,)
        "W2": rng.standard_normal((hidden, 1)) * scale2,  # (h, 1)
        "b2": np.zeros(1),  # (1,)
    }


def forward(params: Params, X: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Forward pass. Returns the output A2 (n, 1) and a cache of the
    intermediate arrays for backprop; the cache is separate from `params`
    so that nothing computed from patients' records is ever stored with
    the weights."""
    Z1 = X @ params["W1"]  # (n, h)
    Z1 += params["b1"]
    A1 = relu(Z1)  # (n, h)
    Z2 = A1 @ params["W2"]  # (n, 1), or (n, networks) for networks stacked (`model.ensemble`)
    Z2 += params["b2"]
    A2 = sigmoid(Z2, out=Z2)
    return A2, {"X": X, "Z1": Z1, "A1": A1}


def loss_and_gradients(
    params: Params, X: np.ndarray, t: np.ndarray, alpha: float
) -> tuple[float, Params]:
    """Penalised mean cross-entropy on (X, t) and its gradient for every parameter."""
    n = len(X)
    A2, cache = forward(params, X)
    penalty = 0.5 * alpha / n * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    loss = binary_log_loss(t, A2) + float(penalty)
    return loss, backward(params, cache, A2, t, alpha)


def backward(
    params: Params, cache: dict[str, np.ndarray], A2: np.ndarray, t: np.ndarray, alpha: float
) -> Params:
    """Backpropagation of the mean cross-entropy (+ L2 penalty)."""
    n = len(t)
    # Sigmoid followed by cross-entropy: dL/dZ2 simplifies to (A2 - t) / n,
    # which is exact and avoids dividing by A2 (1 - A2) near 0 or 1.
    dZ2 = (A2 - t) / n  # (n, 1)
    dW2 = cache["A1"].T @ dZ2 + alpha / n * params["W2"]  # (h, 1)
    db2 = dZ2.sum(axis=0)  # (1,)
    dA1 = dZ2 @ params["W2"].T  # (n, h)
    dZ1 = dA1 * relu_grad(cache["Z1"])  # (n, h)
    dW1 = cache["X"].T @ dZ1 + alpha / n * params["W1"]  # (d, h)
    db1 = dZ1.sum(axis=0)  # (h,)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
