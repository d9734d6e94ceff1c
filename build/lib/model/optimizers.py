"""Update rules: plain gradient descent and Adam.

Each optimizer's `step` returns new parameter arrays; it never changes the
arrays it is given, so a caller may keep an earlier set of weights (early
stopping keeps the best epoch's) without copying.
"""

from __future__ import annotations

import numpy as np

from model.propagation import Params


class GradientDescent:
    """theta <- theta - learning_rate * gradient."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate

    def step(self, params: Params, grads: Params) -> Params:
        return {k: params[k] - self.learning_rate * grads[k] for k in params}


class Adam:
    """Adam (Kingma & Ba, 2015) with the paper's default moments and bias correction.

    The moments are kept as one flat vector over all parameters, so that a
    step is a dozen NumPy calls rather than a dozen per parameter array: the
    arrays are tiny and each call's fixed cost dominates. Elementwise, the
    arithmetic is the same, so the weights are identical to the bit.
    """

    def __init__(
        self,
        learning_rate: float,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.t = 0
        self.m: np.ndarray | float = 0.0
        self.v: np.ndarray | float = 0.0

    def step(self, params: Params, grads: Params) -> Params:
        self.t += 1
        names = list(grads)
        g = np.concatenate([grads[k].ravel() for k in names])
        theta = np.concatenate([params[k].ravel() for k in names])
        self.m = m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = v = self.beta2 * self.v + (1 - self.beta2) * g * g
        m_hat = m / (1 - self.beta1**self.t)
        v_hat = v / (1 - self.beta2**self.t)
        flat = theta - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)
        new, start = {}, 0
        for k in names:
            size = grads[k].size
            new[k] = flat[start : start + size].reshape(grads[k].shape)
            start += size
        return new


def make_optimizer(solver: str, learning_rate: float) -> GradientDescent | Adam:
    """The optimizer named by `solver` ("sgd" or "adam")."""
    if solver == "sgd":
        return GradientDescent(learning_rate)
    return Adam(learning_rate)
