"""A two-layer neural network for binary classification, from scratch in NumPy.

Architecture: inputs -> dense -> ReLU -> dense -> sigmoid, trained on binary
cross-entropy (plus an optional L2 penalty) by backpropagation with plain
gradient descent or Adam, full-batch or in shuffled mini-batches, with
optional early stopping on a held-out validation fraction.

It follows scikit-learn's estimator conventions (so it works in `Pipeline`,
`cross_val_score` and `GridSearchCV`): `__init__` only stores
hyper-parameters, `fit` validates them and creates the learned attributes
(ending in `_`), `predict_proba` returns shape (n, 2). scikit-learn is used
for input validation and the estimator protocol only, never for the maths,
which lives in `model.propagation`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from model.activations import binary_log_loss
from model.features import THRESHOLD
from model.optimizers import make_optimizer
from model.propagation import Params, forward, init_params, loss_and_gradients


class NeuralNet(ClassifierMixin, BaseEstimator):
    """Two-layer ReLU/sigmoid network for binary classification.

    The defaults were chosen by the search in `scripts/tune.py` (see
    `reports/tuning.md`), on folds the reported evaluation does not use.
    `model.evaluation.TUTORIAL_PARAMS` reproduces the tutorial's set-up.

    Parameters
    ----------
    hidden_units : int, default 8
        Width of the hidden ReLU layer.
    learning_rate : float, default 0.01
        Step size of gradient descent or Adam.
    max_epochs : int, default 300
        Passes over the training data. Training stops earlier only with
        `early_stopping=True`.
    solver : {"adam", "sgd"}, default "adam"
        "sgd" is plain (mini-batch) gradient descent, as in the tutorial.
    batch_size : int or None, default 32
        Samples per gradient step; None uses the whole training set
        (full-batch gradient descent). Batches are reshuffled every epoch.
    alpha : float, default 2.0
        L2 penalty on the weights (not the biases), scaled like
        scikit-learn's MLP: loss += alpha / (2 n) * sum of squared weights.
    init : {"he", "normal"}, default "he"
        "he": weights ~ N(0, 2 / fan_in), suited to ReLU. "normal": standard
        normal weights, as the tutorial draws them. Biases start at zero.
    early_stopping : bool, default False
        Hold out `validation_fraction` of the training data and stop when
        its loss has not improved by `tol` for `patience` epochs; the
        weights of the best epoch are kept.
    validation_fraction : float, default 0.1
    patience : int, default 10
    tol : float, default 1e-4
    random_state : int, numpy Generator or None, default None
        Seeds the one generator used for initialisation, the validation
        split and shuffling. NumPy's global generator is never touched.
    """

    def __init__(
        self,
        hidden_units: int = 8,
        learning_rate: float = 0.01,
        max_epochs: int = 300,
        solver: str = "adam",
        batch_size: int | None = 32,
        alpha: float = 2.0,
        init: str = "he",
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 10,
        tol: float = 1e-4,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.hidden_units = hidden_units
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.solver = solver
        self.batch_size = batch_size
        self.alpha = alpha
        self.init = init
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any, validation_data: tuple[Any, Any] | None = None) -> NeuralNet:
        """Train on X (n, d) and binary labels y (n,); return self.

        validation_data : (X_val, y_val), optional
            Held-out data whose loss is recorded after every epoch in
            `validation_loss_curve_` (to plot learning curves); it never
            changes the updates. With `early_stopping` it is the data
            monitored, instead of an internal split.
        """
        self._validate_hyperparameters()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {y_type}."
            )
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(
                f"NeuralNet is a binary classifier: y must hold exactly 2 classes, "
                f"got {len(self.classes_)} class(es): {self.classes_.tolist()}"
            )
        t = y_index.astype(np.float64).reshape(-1, 1)  # (n, 1) targets in {0, 1}

        rng = np.random.default_rng(self.random_state)
        if validation_data is None:
            X_train, t_train, X_val, t_val = self._split_validation(X, t, rng)
        else:
            X_train, t_train = X, t
            X_val = validate_data(self, validation_data[0], dtype=np.float64, reset=False)
            y_val = np.asarray(validation_data[1])
            if not np.all(np.isin(y_val, self.classes_)):
                raise ValueError("validation_data holds labels that are not in y")
            t_val = np.searchsorted(self.classes_, y_val).astype(np.float64).reshape(-1, 1)
        params = init_params(X.shape[1], self.hidden_units, self.init, rng)
        self.loss_curve_: list[float] = []
        self.validation_loss_curve_: list[float] = []
        # A diverging run may overflow; that is detected and reported below,
        # so NumPy's floating-point warnings are not wanted meanwhile.
        with np.errstate(over="ignore", invalid="ignore"):
            params = self._train(params, X_train, t_train, X_val, t_val, rng)
        if not all(np.all(np.isfinite(p)) for p in params.values()):
            raise FloatingPointError(
                "training diverged: the weights are not finite; "
                f"lower learning_rate (got {self.learning_rate})"
            )
        self.weights_: Params = params
        self.n_iter_ = len(self.loss_curve_)
        return self

    def _train(
        self,
        params: Params,
        X_train: np.ndarray,
        t_train: np.ndarray,
        X_val: np.ndarray | None,
        t_val: np.ndarray | None,
        rng: np.random.Generator,
    ) -> Params:
        """The epoch loop; fills the loss curves and returns the final weights
        (with early stopping, those of the best validation epoch)."""
        optimizer = make_optimizer(self.solver, self.learning_rate)
        best_loss, best_params, stale = np.inf, params, 0
        for _epoch in range(self.max_epochs):
            epoch_loss = 0.0
            for batch in self._batches(len(X_train), rng):
                loss, grads = loss_and_gradients(params, X_train[batch], t_train[batch], self.alpha)
                params = optimizer.step(params, grads)
                epoch_loss += loss * len(batch)
            self.loss_curve_.append(epoch_loss / len(X_train))
            if not np.isfinite(epoch_loss):
                return params  # diverged: fit reports it
            if X_val is None or t_val is None:
                continue
            val_loss = binary_log_loss(t_val, forward(params, X_val)[0])
            self.validation_loss_curve_.append(val_loss)
            if not self.early_stopping:
                continue
            if val_loss < best_loss - self.tol:
                best_loss, best_params, stale = val_loss, params, 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        return best_params if self.early_stopping else params

    def _validate_hyperparameters(self) -> None:
        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")

        for name in ("hidden_units", "max_epochs", "patience"):
            positive_int(name)
        if self.batch_size is not None:
            positive_int("batch_size")
        if not (isinstance(self.learning_rate, numbers.Real) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not (isinstance(self.alpha, numbers.Real) and self.alpha >= 0):
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        if not (isinstance(self.tol, numbers.Real) and self.tol >= 0):
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        if not (
            isinstance(self.validation_fraction, numbers.Real) and 0 < self.validation_fraction < 1
        ):
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}"
            )
        if self.solver not in ("adam", "sgd"):
            raise ValueError(f"solver must be 'adam' or 'sgd', got {self.solver!r}")
        if self.init not in ("he", "normal"):
            raise ValueError(f"init must be 'he' or 'normal', got {self.init!r}")

    def _split_validation(
        self, X: np.ndarray, t: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Hold out a stratified validation fraction when early stopping."""
        if not self.early_stopping:
            return X, t, None, None
        val_idx = []
        for label in (0.0, 1.0):
            members = rng.permutation(np.flatnonzero(t[:, 0] == label))
            n_val = round(self.validation_fraction * len(members))
            val_idx.append(members[: max(1, min(n_val, len(members) - 1))])
        val = np.concatenate(val_idx)
        train = np.setdiff1d(np.arange(len(X)), val)
        return X[train], t[train], X[val], t[val]

    def _batches(self, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        if self.batch_size is None or self.batch_size >= n:
            return [np.arange(n)]
        order = rng.permutation(n)
        return [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]

    # ------------------------------------------------------------- predict
    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of shape (n, 2): column 1 is P(classes_[1])."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        p = forward(self.weights_, X)[0]  # (n, 1)
        return np.hstack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """Class labels: classes_[1] where its probability is >= THRESHOLD (0.5)."""
        proba = self.predict_proba(X)
        return self.classes_[(proba[:, 1] >= THRESHOLD).astype(int)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags
