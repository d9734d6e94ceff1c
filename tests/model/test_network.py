"""NeuralNet: a gradient check of every parameter, training behaviour, and the
tutorial's defects, each pinned by a test."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from model import NeuralNet
from model.propagation import PARAM_NAMES, forward, init_params, loss_and_gradients


def _toy(n: int = 40, d: int = 13, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + 0.3 * rng.standard_normal(n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_backprop_matches_central_finite_differences_for_every_parameter(alpha: float) -> None:
    X, y = _toy()
    t = y.reshape(-1, 1).astype(float)
    params = init_params(13, 8, "he", np.random.default_rng(1))
    params["b1"] = np.random.default_rng(2).normal(0, 0.1, 8)  # not all zero
    params["b2"] = np.array([0.1])
    _, grads = loss_and_gradients(params, X, t, alpha)

    h = 1e-6
    for name in PARAM_NAMES:
        numeric = np.zeros_like(params[name])
        for idx in np.ndindex(params[name].shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            numeric[idx] = (
                loss_and_gradients(plus, X, t, alpha)[0] - loss_and_gradients(minus, X, t, alpha)[0]
            ) / (2 * h)
        analytic = grads[name]
        assert analytic.shape == params[name].shape
        rel = np.linalg.norm(analytic - numeric) / max(
            np.linalg.norm(analytic) + np.linalg.norm(numeric), 1e-12
        )
        assert rel < 1e-6, f"{name}: relative error {rel:.2e}"


def test_a_wrong_gradient_would_be_caught() -> None:
    """The check above can fail: perturbing one analytic entry breaks the bound."""
    X, y = _toy()
    t = y.reshape(-1, 1).astype(float)
    params = init_params(13, 8, "he", np.random.default_rng(1))
    _, grads = loss_and_gradients(params, X, t, 0.0)
    wrong = grads["W2"].copy()
    wrong[0, 0] += 1e-3
    h = 1e-6
    numeric = np.zeros_like(params["W2"])
    for idx in np.ndindex(params["W2"].shape):
        plus = {k: v.copy() for k, v in params.items()}
        minus = {k: v.copy() for k, v in params.items()}
        plus["W2"][idx] += h
        minus["W2"][idx] -= h
        numeric[idx] = (
            loss_and_gradients(plus, X, t, 0.0)[0] - loss_and_gradients(minus, X, t, 0.0)[0]
        ) / (2 * h)
    rel = np.linalg.norm(wrong - numeric) / (np.linalg.norm(wrong) + np.linalg.norm(numeric))
    assert rel > 1e-6


@pytest.mark.parametrize(
    "options",
    [
        {"solver": "sgd", "learning_rate": 0.1},
        {"solver": "adam", "learning_rate": 0.01},
        {"solver": "adam", "batch_size": 8, "alpha": 0.1},
    ],
)
def test_training_loss_decreases(options: dict[str, object]) -> None:
    X, y = _toy(200)
    net = NeuralNet(max_epochs=100, random_state=0, **options).fit(X, y)
    curve = np.array(net.loss_curve_)
    assert len(curve) == 100 == net.n_iter_
    assert curve[-1] < 0.6 * curve[0]
    assert net.score(X, y) > 0.85


def test_full_batch_gradient_descent_decreases_the_loss_every_epoch() -> None:
    X, y = _toy(200)
    net = NeuralNet(solver="sgd", learning_rate=0.05, max_epochs=50, random_state=0).fit(X, y)
    assert np.all(np.diff(net.loss_curve_) < 0)


def test_same_seed_same_weights_and_different_seed_different_weights() -> None:
    X, y = _toy(100)
    options = {"batch_size": 16, "early_stopping": True, "max_epochs": 30}
    a = NeuralNet(random_state=7, **options).fit(X, y).weights_
    b = NeuralNet(random_state=7, **options).fit(X, y).weights_
    c = NeuralNet(random_state=8, **options).fit(X, y).weights_
    for k in PARAM_NAMES:
        assert np.array_equal(a[k], b[k])
    assert not np.array_equal(a["W1"], c["W1"])


def test_global_numpy_generator_is_never_touched() -> None:
    X, y = _toy(60)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    NeuralNet(random_state=None, batch_size=8, max_epochs=5).fit(X, y)
    assert np.array_equal(np.random.get_state()[1], state)


def test_weights_hold_only_parameters_with_stable_shapes() -> None:
    X, y = _toy(50)
    net = NeuralNet(hidden_units=5, max_epochs=3, random_state=0).fit(X, y)
    assert set(net.weights_) == {"W1", "b1", "W2", "b2"}
    shapes = {k: v.shape for k, v in net.weights_.items()}
    assert shapes == {"W1": (13, 5), "b1": (5,), "W2": (5, 1), "b2": (1,)}  # b1 stays (h,)
    # Nothing of size n (an activation computed from the records) is kept anywhere.
    pickled = pickle.dumps(net)
    assert len(pickled) < 4000
    for value in vars(net).values():
        if isinstance(value, np.ndarray):
            assert value.shape[0] != len(X) or value.ndim == 0


def test_forward_returns_its_cache_separately_from_the_parameters() -> None:
    params = init_params(13, 4, "he", np.random.default_rng(0))
    before = {k: v.copy() for k, v in params.items()}
    out, cache = forward(params, np.ones((3, 13)))
    assert out.shape == (3, 1)
    assert set(cache).isdisjoint(params)
    assert set(params) == set(before)
    for k in params:
        assert np.array_equal(params[k], before[k])


def test_probabilities_are_in_range_without_warnings_on_extreme_inputs() -> None:
    X, y = _toy(80)
    net = NeuralNet(max_epochs=20, random_state=0).fit(X, y)
    extreme = np.vstack([X * 1e6, -X * 1e6, np.full((1, 13), 1e300), np.zeros((1, 13))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = net.predict_proba(extreme)
    assert proba.shape == (len(extreme), 2)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_predict_thresholds_predict_proba_and_returns_the_original_labels() -> None:
    X, y = _toy(80)
    labels = np.where(y == 1, "presence", "absence")
    net = NeuralNet(max_epochs=50, random_state=0).fit(X, labels)
    assert list(net.classes_) == ["absence", "presence"]
    proba = net.predict_proba(X)[:, 1]
    assert np.array_equal(net.predict(X), np.where(proba >= 0.5, "presence", "absence"))
    # The tutorial's accuracy helper broke on NumPy 2; score works on it.
    assert 0.0 <= net.score(X, labels) <= 1.0


def test_unfitted_model_refuses_to_predict() -> None:
    with pytest.raises(NotFittedError):
        NeuralNet().predict_proba(np.zeros((1, 13)))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"learning_rate": -1}, "learning_rate must be > 0, got -1"),
        ({"hidden_units": 0}, "hidden_units must be an integer >= 1, got 0"),
        ({"max_epochs": 2.5}, "max_epochs must be an integer >= 1, got 2.5"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"alpha": -0.1}, "alpha must be >= 0, got -0.1"),
        ({"solver": "lbfgs"}, "solver must be 'adam' or 'sgd', got 'lbfgs'"),
        ({"init": "zeros"}, "init must be 'he' or 'normal', got 'zeros'"),
        ({"validation_fraction": 1.0}, "validation_fraction must be in (0, 1), got 1.0"),
        ({"patience": 0}, "patience must be an integer >= 1, got 0"),
        ({"tol": -1.0}, "tol must be >= 0, got -1.0"),
    ],
)
def test_bad_hyperparameters_are_refused_with_a_clear_message(
    options: dict[str, object], message: str
) -> None:
    X, y = _toy(20)
    with pytest.raises(ValueError) as err:
        NeuralNet(**options).fit(X, y)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_one_class_is_refused() -> None:
    X, _ = _toy(20)
    with pytest.raises(ValueError, match="exactly 2 classes"):
        NeuralNet().fit(X, np.zeros(20, dtype=int))


def test_divergence_is_reported_not_returned() -> None:
    X, y = _toy(50)
    with pytest.raises(FloatingPointError, match="diverged"):
        NeuralNet(solver="sgd", learning_rate=1e200, init="normal", random_state=0).fit(
            X * 1e100, y
        )


def test_early_stopping_keeps_the_best_validation_epoch() -> None:
    X, y = _toy(200)
    net = NeuralNet(
        early_stopping=True, patience=5, max_epochs=500, learning_rate=0.05, random_state=0
    ).fit(X, y)
    assert net.n_iter_ < 500
    assert len(net.validation_loss_curve_) == net.n_iter_
    best = int(np.argmin(net.validation_loss_curve_))
    assert net.n_iter_ - 1 - best >= 5 - 1


def test_validation_data_is_recorded_without_changing_the_updates() -> None:
    X, y = _toy(120)
    X_val, y_val = _toy(40, seed=5)
    plain = NeuralNet(max_epochs=30, random_state=0).fit(X, y)
    watched = NeuralNet(max_epochs=30, random_state=0).fit(X, y, validation_data=(X_val, y_val))
    for k in PARAM_NAMES:
        assert np.array_equal(plain.weights_[k], watched.weights_[k])
    assert plain.validation_loss_curve_ == []
    assert len(watched.validation_loss_curve_) == 30
    final = float(-np.mean(np.log(watched.predict_proba(X_val)[np.arange(40), y_val])))
    assert watched.validation_loss_curve_[-1] == pytest.approx(final, rel=1e-9)
