"""Activations and loss: values, derivatives, numerical safety, purity."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from model.activations import binary_log_loss, relu, relu_grad, sigmoid, sigmoid_grad


def test_relu_and_its_gradient_leave_their_input_untouched() -> None:
    z = np.array([[-2.0, 0.0, 3.0]])
    before = z.copy()
    assert np.array_equal(relu(z), [[0.0, 0.0, 3.0]])
    assert np.array_equal(relu_grad(z), [[0.0, 0.0, 1.0]])
    assert np.array_equal(z, before)  # the tutorial's relu derivative overwrote z


@pytest.mark.parametrize("z", [-1e4, -745.0, -50.0, 0.0, 50.0, 745.0, 1e4])
def test_sigmoid_is_stable_and_silent_at_extremes(z: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(
            over="raise", invalid="raise", divide="raise"
        ):  # underflow to 0 is exact enough
            a = sigmoid(np.array([z]))
    assert 0.0 <= a[0] <= 1.0
    assert a[0] == pytest.approx(
        1.0 / (1.0 + np.exp(-np.clip(z, -700, 700))), rel=1e-12, abs=1e-300
    )


def test_sigmoid_values_and_symmetry() -> None:
    z = np.linspace(-30, 30, 121)
    a = sigmoid(z)
    assert sigmoid(np.array([0.0]))[0] == 0.5
    np.testing.assert_allclose(a + sigmoid(-z), 1.0, rtol=0, atol=1e-15)
    assert np.all(np.diff(a) >= 0)


def test_sigmoid_grad_matches_central_differences() -> None:
    z = np.linspace(-6, 6, 25)
    h = 1e-6
    numeric = (sigmoid(z + h) - sigmoid(z - h)) / (2 * h)
    np.testing.assert_allclose(sigmoid_grad(sigmoid(z)), numeric, rtol=1e-7, atol=1e-10)


def test_relu_grad_matches_central_differences_away_from_zero() -> None:
    z = np.array([-3.0, -0.5, 0.5, 3.0])
    h = 1e-6
    numeric = (relu(z + h) - relu(z - h)) / (2 * h)
    np.testing.assert_allclose(relu_grad(z), numeric, atol=1e-9)


def test_binary_log_loss_matches_the_definition() -> None:
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.2, 0.6, 0.4])
    expected = -np.mean([np.log(0.9), np.log(0.8), np.log(0.6), np.log(0.6)])
    assert binary_log_loss(y, p) == pytest.approx(expected, rel=1e-12)


def test_binary_log_loss_is_finite_for_certain_wrong_answers() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = binary_log_loss(np.array([1, 0]), np.array([0.0, 1.0]))
    assert np.isfinite(loss)
    assert loss > 30  # -log(eps) is about 36


def test_sigmoid_matches_scipy_and_writes_only_where_told() -> None:
    """The sigmoid against an independent oracle (scipy's expit) over the
    range where neither is 0 or 1, and its `out` contract."""
    from scipy.special import expit

    z = np.linspace(-700, 700, 14001)
    np.testing.assert_allclose(sigmoid(z), expit(z), rtol=1e-13, atol=0)
    before = z.copy()
    sigmoid(z)
    assert np.array_equal(z, before)  # without out, the input stays
    out = sigmoid(z, out=z)
    assert out is z and np.array_equal(z, sigmoid(before))
    assert sigmoid(np.array([np.inf, -np.inf])).tolist() == [1.0, sigmoid(np.array([-700.0]))[0]]
