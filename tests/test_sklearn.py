"""pyoptim.sklearn: scikit-learn estimators (when scikit-learn is installed)."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from pyoptim.sklearn import LogisticRegression, MLPClassifier  # noqa: E402


@parametrize_with_checks([MLPClassifier(hidden_layer_sizes=(16,), learning_rate=1e-2, max_epochs=50, random_state=0),
                          LogisticRegression(max_epochs=30, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X, y


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "lion", "AdamW"])
def test_pipeline_and_cross_validation(digits, optimizer):
    X, y = digits
    lr = {"sgd": 0.05, "lion": 3e-4}.get(optimizer, 3e-3)
    clf = make_pipeline(StandardScaler(), MLPClassifier((32,), optimizer=optimizer, learning_rate=lr,
                                                        batch_size=32, max_epochs=15, random_state=0))
    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.mean() > 0.85, scores


def test_logistic_regression_and_partial_fit(digits):
    X, y = digits
    X = StandardScaler().fit_transform(X)
    clf = LogisticRegression(max_epochs=20, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.95 and clf.n_iter_ == 20
    proba = clf.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    online = MLPClassifier((32,), learning_rate=3e-3, batch_size=32, random_state=0)
    for epoch in range(10):
        online.partial_fit(X, y, classes=np.unique(y) if epoch == 0 else None)
    assert online.n_iter_ == 10 and online.score(X, y) > 0.95
    with pytest.raises(ValueError, match="classes"):
        MLPClassifier().partial_fit(X, y)


def test_seeded_fits_are_reproducible_and_params_round_trip(digits):
    X, y = digits
    a = MLPClassifier((16,), max_epochs=3, random_state=7).fit(X, y)
    b = MLPClassifier((16,), max_epochs=3, random_state=7).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    params = a.get_params()
    assert params["hidden_layer_sizes"] == (16,) and params["optimizer"] == "adam"
    c = MLPClassifier().set_params(**params)
    assert c.get_params() == params


def test_bad_parameters_name_themselves(digits):
    X, y = digits
    with pytest.raises(ValueError, match="optimizer"):
        MLPClassifier(optimizer="adamm").fit(X, y)
    with pytest.raises(ValueError, match="learning_rate"):
        MLPClassifier(learning_rate=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="lr_decayy"):
        MLPClassifier(optimizer="adagrad", optimizer_params={"lr_decayy": 0.1}).fit(X, y)


def test_pickled_estimator_keeps_training_identically(digits):
    import pickle
    X, y = digits
    a = MLPClassifier((16,), max_epochs=2, random_state=3).fit(X, y)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
