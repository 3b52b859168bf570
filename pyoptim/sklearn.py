"""scikit-learn estimators trained with pyoptim: ``MLPClassifier`` and ``LogisticRegression``.

They work wherever a scikit-learn classifier does (Pipeline, cross_val_score,
GridSearchCV), take ``optimizer=`` naming any pyoptim rule ("adam", "sgd",
"lion", ... or the class) with ``learning_rate`` and ``optimizer_params``,
and train pyoptim.nn models on float32 (or float64) features::

    from pyoptim.sklearn import MLPClassifier
    clf = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), optimizer="adamw"))
    cross_val_score(clf, X, y, cv=5)

scikit-learn is an optional dependency: importing this module requires it.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state

from . import _checks, nn, num_threads, train
from .train.data import Split

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # older: the estimator method
    def _validate_data(estimator, X, y="no_validation", reset=True, **kwargs):
        return estimator._validate_data(X, y, reset=reset, **kwargs)


class _PyoptimClassifier(ClassifierMixin, BaseEstimator):
    """Shared fit / partial_fit / predict over a pyoptim.nn model."""

    # ---- what a subclass says -------------------------------------------------------------------

    def _build_model(self, n_features: int, n_classes: int, seed: int) -> nn.Sequential:
        raise NotImplementedError

    # ---- scikit-learn API ------------------------------------------------------------------------

    def fit(self, X, y):
        """Train from scratch for up to ``max_epochs`` epochs (fewer with early stopping)."""
        X, y = self._check_training_data(X, y, reset=True)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y: a classifier needs at least 2 classes, got {len(self.classes_)} class")
        self._start(X.shape[1])
        self._train(X, encoded.astype(np.int64), self.max_epochs, early_stopping=self.early_stopping)
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y); the first call needs ``classes`` (every label there will be)."""
        first = not hasattr(self, "model_")
        X, y = self._check_training_data(X, y, reset=first)
        if first:
            if classes is None:
                raise ValueError("classes: the first call to partial_fit needs every class label")
            self.classes_ = np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                raise ValueError(f"classes: expected at least 2 classes, got {len(self.classes_)}")
            self._start(X.shape[1])
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes: {classes!r} differs from the first call's {self.classes_!r}")
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y: labels {unknown!r} are not among classes {self.classes_!r}")
        self._train(X, np.searchsorted(self.classes_, y).astype(np.int64), 1, early_stopping=False)
        return self

    def predict_proba(self, X):
        """Class probabilities, (n_samples, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self, "model_")
        X = self._features(_validate_data(self, X, reset=False, dtype=[np.float64, np.float32]))
        return self.model_.predict_proba(X).astype(np.float64)

    def predict(self, X):
        proba = self.predict_proba(X)  # first: it checks that the estimator is fitted
        return self.classes_[np.argmax(proba, axis=1)]

    # The optimizer holds compiled plans over the model's buffers: pickle its
    # state_dict and rebuild it over the unpickled model.
    def __getstate__(self):
        state = self.__dict__.copy()
        if "optimizer_" in state:
            state["optimizer_"] = state["optimizer_"].state_dict()
        return state

    def __setstate__(self, state):
        saved = state.pop("optimizer_", None)
        self.__dict__.update(state)
        if saved is not None:
            hyper = {"lr": self.learning_rate, **(self.optimizer_params or {})}
            self.optimizer_ = train.make_optimizer(self.optimizer, self.model_, **hyper)
            self.optimizer_.load_state_dict(saved)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"non_deterministic": self.random_state is None}

    # ---- internals --------------------------------------------------------------------------------

    def _check_training_data(self, X, y, reset: bool):
        X, y = _validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self._check_params()
        return self._features(X), y

    def _features(self, X):
        return np.ascontiguousarray(X, dtype=np.dtype(self.dtype))

    def _check_params(self) -> None:
        if self.dtype not in ("float32", "float64", np.float32, np.float64):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {self.dtype!r}")
        for name in ("max_epochs", "batch_size", "n_iter_no_change"):
            _checks.integer(name, getattr(self, name), min=1, expected="a positive int", type_error=False)
        if not isinstance(self.learning_rate, numbers.Real) or not float(self.learning_rate) > 0:
            raise ValueError(f"learning_rate: expected a number > 0, got {self.learning_rate!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction: expected a number in (0, 1), got {self.validation_fraction!r}")
        if self.optimizer_params is not None and not isinstance(self.optimizer_params, dict):
            raise TypeError(f"optimizer_params: expected a dict or None, got {type(self.optimizer_params).__name__}")
        train.optimizer_class(self.optimizer)  # names it, or raises naming the choices

    def _start(self, n_features: int) -> None:
        rng = check_random_state(self.random_state)
        self._seed = int(rng.randint(2**31 - 1))
        self.model_ = self._build_model(n_features, len(self.classes_), self._seed)
        hyper = {"lr": self.learning_rate, **(self.optimizer_params or {})}
        self.optimizer_ = train.make_optimizer(self.optimizer, self.model_, **hyper)
        self.n_iter_ = 0
        self.loss_curve_: list = []

    def _train(self, X, y, epochs: int, *, early_stopping: bool) -> None:
        with num_threads(self.threads):
            history = train.fit(self.model_, self.optimizer_, Split(X, y), epochs=epochs,
                                batch_size=min(self.batch_size, X.shape[0]),
                                validation_fraction=self.validation_fraction if early_stopping else 0.0,
                                early_stopping_patience=self.n_iter_no_change if early_stopping else None,
                                seed=self._seed + self.n_iter_)
        if history.diverged:
            raise FloatingPointError("training diverged (the loss became inf or NaN); lower learning_rate")
        self.n_iter_ += history.epochs_run
        self.loss_curve_ += list(history.train_loss)
        self.history_ = history


class MLPClassifier(_PyoptimClassifier):
    """A multi-layer perceptron classifier (softmax output), trained with any pyoptim rule.

    Parameters follow scikit-learn's MLPClassifier where they overlap
    (``hidden_layer_sizes``, ``activation``, ``batch_size``, ``early_stopping``,
    ``validation_fraction``, ``n_iter_no_change``, ``random_state``); the rule
    is ``optimizer`` with ``learning_rate`` (its ``lr``) and ``optimizer_params``
    (its other hyperparameters, e.g. ``{"betas": (0.9, 0.99)}``).
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, optimizer="adam", learning_rate=1e-3,
                 optimizer_params=None, batch_size=200, max_epochs=200, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, random_state=None, dtype="float32", threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.optimizer_params = optimizer_params
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.dtype = dtype
        self.threads = threads

    def _build_model(self, n_features, n_classes, seed):
        hidden = self.hidden_layer_sizes
        hidden = (hidden,) if isinstance(hidden, numbers.Integral) else tuple(hidden)
        return nn.mlp(n_features, hidden, n_classes, activation=self.activation, dtype=np.dtype(self.dtype),
                      seed=seed)


class LogisticRegression(_PyoptimClassifier):
    """Multinomial logistic regression (softmax), trained by mini-batch descent with any pyoptim rule."""

    def __init__(self, *, optimizer="adam", learning_rate=1e-2, optimizer_params=None, batch_size=128,
                 max_epochs=100, early_stopping=False, validation_fraction=0.1, n_iter_no_change=5,
                 random_state=None, dtype="float32", threads=None):
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.optimizer_params = optimizer_params
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.dtype = dtype
        self.threads = threads

    def _build_model(self, n_features, n_classes, seed):
        return nn.logistic_regression(n_features, n_classes, dtype=np.dtype(self.dtype), seed=seed)


__all__ = ["MLPClassifier", "LogisticRegression"]
