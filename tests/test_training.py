"""pyoptim.train: batches, the training loop on real MNIST, schedules, early stopping, rules by name."""

import json
import math

import numpy as np
import pytest

import pyoptim
from pyoptim import lr_scheduler, nn, train
from pyoptim.train import Split


@pytest.fixture(scope="session")
def mnist_subset(mnist_dir):
    """The first 2,000 training and 1,000 test images of MNIST, as float32 features."""
    return train.load_mnist_splits(mnist_dir, limit_train=2000, limit_test=1000)


def small_model(seed=0, hidden=(32,)):
    return nn.mlp(784, hidden, 10, seed=seed)


def synthetic(n=120, d=6, classes=3, seed=0):
    """A small learnable problem: labels from a random linear map of the features."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = np.argmax(x @ rng.standard_normal((d, classes)), axis=1).astype(np.int64)
    return Split(x, y)


# ---- batches ------------------------------------------------------------------------


def test_batches_cover_every_sample_once_per_epoch_in_a_seeded_order():
    data = Split(np.arange(23, dtype=np.float32).reshape(23, 1), np.arange(23))
    batches = train.Batches(data, 5, seed=1)
    assert len(batches) == 5
    first = [(xb.copy(), yb.copy()) for xb, yb in batches.epoch()]
    assert [len(yb) for _, yb in first] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb for _, yb in first])
    assert sorted(seen) == list(range(23)) and list(seen) != list(range(23))
    for xb, yb in first:
        np.testing.assert_array_equal(xb[:, 0], yb)  # rows and labels gathered together
    second = np.concatenate([yb.copy() for _, yb in batches.epoch()])
    assert list(second) != list(seen)  # reshuffled each epoch
    again = train.Batches(data, 5, seed=1)
    np.testing.assert_array_equal(np.concatenate([yb.copy() for _, yb in again.epoch()]), seen)


def test_batches_reuse_their_buffers_and_full_batch_uses_the_data_itself():
    data = synthetic(50)
    batches = train.Batches(data, 8, seed=0)
    addresses = {xb.__array_interface__["data"][0] for xb, _ in batches.epoch()}
    assert len(addresses) == 1
    [(xb, yb)] = list(train.Batches(data, "full").epoch())
    assert xb is data.x and yb is data.y
    assert train.resolve_batch_size(1000, 50) == 50
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1 or 'full'"):
        train.Batches(data, 0)


# ---- training on MNIST --------------------------------------------------------------


def test_small_mlp_learns_mnist_subset_in_two_epochs(mnist_subset):
    data, test = mnist_subset
    model = small_model()
    optimizer = pyoptim.Adam(model.parameters(), lr=2e-3)
    history = train.fit(model, optimizer, data, epochs=2, batch_size=32, seed=0)
    loss, accuracy = model.evaluate(test.x, test.y)
    assert accuracy > 0.80, f"test accuracy {accuracy:.3f} after 2 epochs on 2,000 samples"
    assert history.train_loss[1] < history.train_loss[0]
    assert history.epochs_run == 2 and len(history.lr) == 2 and all(s > 0 for s in history.train_seconds)


def test_binary_logistic_regression_separates_two_digits(mnist_subset):
    data, test = mnist_subset
    pair, pair_test = train.binary_digits(data.x, data.y, 4, 9), train.binary_digits(test.x, test.y, 4, 9)
    assert set(np.unique(pair.y)) == {0, 1}
    assert len(pair) == np.sum((data.y == 4) | (data.y == 9))
    np.testing.assert_array_equal(pair.y, (data.y[(data.y == 4) | (data.y == 9)] == 9).astype(int))
    model = nn.binary_logistic_regression(784)
    train.fit(model, pyoptim.SGD(model.parameters(), lr=0.5), pair, epochs=3, batch_size=16)
    assert model.evaluate(pair_test.x, pair_test.y)[1] > 0.9


@pytest.mark.parametrize("batch_size", ["full", 1, 16], ids=["full-batch", "stochastic", "mini-batch"])
def test_every_batch_mode_runs_and_reduces_the_loss(mnist_subset, batch_size):
    data, _ = mnist_subset
    data = train.limit(data, 300)
    model = small_model()
    initial_loss, _ = model.evaluate(data.x, data.y)
    lr = 0.5 if batch_size == "full" else 0.05
    history = train.fit(model, pyoptim.SGD(model.parameters(), lr=lr), data, epochs=3, batch_size=batch_size)
    final_loss, _ = model.evaluate(data.x, data.y)
    assert final_loss < initial_loss * (0.9 if batch_size == "full" else 0.5)
    assert history.train_loss[-1] < history.train_loss[0]


def test_seeded_runs_are_reproducible_bit_for_bit(mnist_subset):
    data, _ = mnist_subset
    data = train.limit(data, 600)

    def run(seed):
        model = small_model(seed=seed)
        optimizer = pyoptim.AdamW(model.parameters(), lr=1e-3)
        history = train.fit(model, optimizer, data, epochs=2, batch_size=32, validation_fraction=0.2, seed=seed)
        return model.get_weights(), history

    (w1, h1), (w2, h2), (w3, _) = run(7), run(7), run(8)
    np.testing.assert_array_equal(w1, w2)
    assert h1.train_loss == h2.train_loss and h1.val_loss == h2.val_loss
    assert not np.array_equal(w1, w3)


def test_early_stopping_restores_the_best_weights(mnist_subset):
    data, _ = mnist_subset
    data = train.limit(data, 300)  # a few hundred samples and a large lr: validation loss soon rises
    model = nn.mlp(784, (64,), 10, seed=0)
    optimizer = pyoptim.Adam(model.parameters(), lr=1e-2)
    history = train.fit(model, optimizer, data, epochs=40, batch_size=16, validation_fraction=0.3,
                        early_stopping_patience=2, seed=0)
    assert history.stopped_early and history.restored_best
    assert history.epochs_run == history.best_epoch + 2
    best = min(history.val_loss)
    assert history.val_loss[history.best_epoch - 1] == best == history.best_loss
    _, validation = train.split_validation(data, 0.3, seed=0)
    assert model.evaluate(validation.x, validation.y)[0] == best  # the restored weights, exactly


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow warnings on the way up
def test_rising_training_loss_diverges_cleanly():
    data = synthetic(64)
    model = nn.mlp(6, (8,), 3)
    history = train.fit(model, pyoptim.SGD(model.parameters(), lr=1e6), data, epochs=5, batch_size=8)
    assert history.diverged and history.epochs_run < 5


# ---- schedules ---------------------------------------------------------------------


def _lr_history(schedule, epochs=6, **kwargs):
    data = synthetic(40)
    model = nn.mlp(6, (4,), 3)
    optimizer = pyoptim.SGD(model.parameters(), lr=0.1)
    scheduler = train.make_scheduler(schedule, optimizer, epochs=epochs, **kwargs)
    history = train.fit(model, optimizer, data, epochs=epochs, batch_size=8, scheduler=scheduler,
                        validation=synthetic(20, seed=1) if schedule == "plateau" else None)
    return history


@pytest.mark.parametrize("schedule, expected", [
    ("none", lambda e: 0.1),
    ("step", lambda e: 0.1 * 0.5 ** (e // 2)),
    ("exponential", lambda e: 0.1 * 0.8 ** e),
    ("cosine", lambda e: 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * e / 6)) / 2),
    ("warmup-cosine", lambda e: 0.1 * (0.25 + 0.75 * e / 2) if e < 2
     else 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * (e - 2) / 4)) / 2),
])
def test_lr_history_follows_the_schedule(schedule, expected):
    kwargs = {"step": dict(step_size=2, gamma=0.5), "exponential": dict(gamma=0.8), "cosine": dict(eta_min=0.01),
              "warmup-cosine": dict(warmup_epochs=2, warmup_start_factor=0.25, eta_min=0.01)}.get(schedule, {})
    history = _lr_history(schedule, **kwargs)
    np.testing.assert_allclose(history.lr, [expected(e) for e in range(6)], rtol=1e-12)


def test_plateau_schedule_cuts_the_lr_when_validation_loss_stalls():
    history = _lr_history("plateau", epochs=12, plateau_factor=0.5, plateau_patience=0)
    best, expected = math.inf, [0.1]
    for loss in history.val_loss[:-1]:  # ReduceLROnPlateau's rule, with patience 0 and rel threshold 1e-4
        improved = loss < best * (1 - 1e-4)
        best = min(best, loss) if improved else best
        expected.append(expected[-1] if improved else expected[-1] * 0.5)
    assert history.lr == pytest.approx(expected, rel=1e-12)


def test_schedule_errors():
    optimizer = pyoptim.SGD(nn.mlp(6, (4,), 3).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="schedule: expected one of"):
        train.make_scheduler("linear", optimizer, epochs=5)
    with pytest.raises(ValueError, match="warmup_epochs: expected an int in"):
        train.make_scheduler("warmup-cosine", optimizer, epochs=3, warmup_epochs=3)
    assert isinstance(train.make_scheduler("plateau", optimizer, epochs=3), lr_scheduler.ReduceLROnPlateau)


# ---- errors and bookkeeping ---------------------------------------------------------------


def test_fit_argument_errors():
    data = synthetic(40)
    model = nn.mlp(6, (4,), 3)
    optimizer = pyoptim.SGD(model.parameters(), lr=0.1)
    other = pyoptim.SGD(nn.mlp(6, (4,), 3).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="epochs: expected an int >= 1"):
        train.fit(model, optimizer, data, epochs=0)
    with pytest.raises(ValueError, match="optimizer: it does not update this model"):
        train.fit(model, other, data, epochs=1)
    with pytest.raises(TypeError, match="optimizer: expected a pyoptim optimizer"):
        train.fit(model, "adam", data, epochs=1)
    with pytest.raises(ValueError, match="early_stopping_patience: early stopping needs a validation split"):
        train.fit(model, optimizer, data, epochs=1, early_stopping_patience=2)
    with pytest.raises(ValueError, match="validation, validation_fraction: give one"):
        train.fit(model, optimizer, data, epochs=1, validation=data, validation_fraction=0.1)
    with pytest.raises(ValueError, match="scheduler: it belongs to another optimizer"):
        train.fit(model, optimizer, data, epochs=1, scheduler=lr_scheduler.StepLR(other, 1))
    with pytest.raises(ValueError, match=r"targets: expected class labels in \[0, 2\]"):
        train.fit(model, optimizer, Split(data.x, data.y + 5), epochs=1)
    with pytest.raises(ValueError, match=r"validation_fraction: expected a number in \[0, 1\)"):
        train.split_validation(data, 1.0)


def test_split_validation_is_disjoint_seeded_and_ordered():
    data = Split(np.arange(100, dtype=np.float32).reshape(100, 1), np.arange(100))
    fit_part, val = train.split_validation(data, 0.2, seed=3)
    assert len(val) == 20 and len(fit_part) == 80
    assert sorted(np.concatenate([fit_part.y, val.y])) == list(range(100))
    assert list(val.y) == sorted(val.y)
    np.testing.assert_array_equal(train.split_validation(data, 0.2, seed=3)[1].y, val.y)
    assert train.split_validation(data, 0.0)[1] is None


def test_history_json_round_trip(tmp_path):
    h = train.History(epoch=[1], train_loss=[0.5], train_accuracy=[None], val_loss=[float("nan")],
                      val_accuracy=[None], lr=[0.1], train_seconds=[1.0], epoch_seconds=[1.5],
                      elapsed_seconds=[1.5], best_epoch=1, config={"rule": "SGD"})
    h.save_json(tmp_path / "h.json")
    d = json.loads((tmp_path / "h.json").read_text())
    assert d["val_loss"] == [None] and d["config"] == {"rule": "SGD"}
    assert train.History.from_dict(d).train_loss == [0.5]


# ---- rules by name --------------------------------------------------------------------------


def test_comparison_entries_come_from_the_registry():
    entries = train.comparison_entries()
    assert {e.cls for e in entries} == set(pyoptim.Optimizer.registry.values())
    assert not train.takes_flat_buffer(pyoptim.Muon)  # it steps a model's matrices, AdamW the rest
    model = nn.mlp(6, (5,), 3, seed=0)
    both = train.comparison_entries(["muon"])[0].build(model)
    assert isinstance(both, pyoptim.Combined) and [type(o) for o in both.optimizers] == [pyoptim.Muon, pyoptim.AdamW]
    labels = [e.label for e in entries]
    assert {"SGD", "SGD+momentum", "SGD+Nesterov"} <= set(labels)
    by_label = {e.label: e for e in entries}
    assert by_label["SGD+Nesterov"].hyper == {"lr": train.TUNED_LR["sgd+nesterov"], "momentum": 0.9,
                                              "nesterov": True}
    for e in entries:  # a tuned lr where there is one, the class default otherwise
        expected = train.TUNED_LR.get(e.label.lower(), e.cls.default_hyper()["lr"])
        assert e.hyper["lr"] == expected
    assert [e.label for e in train.comparison_entries(["adam", "SGD+nesterov"])] == ["Adam", "SGD+Nesterov"]
    with pytest.raises(ValueError, match="rules: unknown rule 'adamm'"):
        train.comparison_entries(["adamm"])


def test_every_registered_rule_trains_the_mlp(mnist_subset):
    """Each rule, at its tuned lr, lowers the loss of the MNIST MLP within 50 steps (LBFGS: 3 full-batch steps)."""
    data, _ = mnist_subset
    data = train.limit(data, 800)
    for entry in train.comparison_entries():
        model = small_model()
        before, _ = model.evaluate(data.x, data.y)
        # LBFGS is a full-batch method: on mini-batches of 32 its curvature pairs come from
        # different batches and it wanders (up or down by seed); full batch it trains.
        batch, epochs = ("full", 3) if entry.cls.closure_driven else (32, 2)
        history = train.fit(model, entry.build(model), data, epochs=epochs, batch_size=batch)
        after, _ = model.evaluate(data.x, data.y)
        # Loose: RAdam's rectified start and Lion's small sign steps are slow over 50 steps.
        assert not history.diverged and after < 0.9 * before, f"{entry.label}: {before:.3f} -> {after:.3f}"


def test_compare_rules_start_from_the_same_weights_on_the_same_batches():
    data, test = synthetic(64), synthetic(32, seed=1)
    # Rprop's lr is only its first step size, which its step_sizes then bound.
    still = {"lr": 0.0, "step_sizes": (0.0, 0.0)}
    frozen = [train.RuleEntry(name, cls, {k: v for k, v in still.items() if k in cls.default_hyper()})
              for name, cls in pyoptim.Optimizer.registry.items()
              if "lr" in cls.default_hyper() and name != "SparseAdam"  # SparseAdam needs lr > 0, as torch
              and train.takes_flat_buffer(cls)]
    results = train.compare_rules(lambda: nn.mlp(6, (5,), 3, seed=4), frozen, data, test, epochs=2, batch_size=8)
    # With lr = 0 nothing moves, so equal losses mean equal starting weights and equal batches.
    assert len({tuple(r.history.train_loss) for r in results}) == 1
    assert len({r.history.test_loss for r in results}) == 1


def test_optimizers_by_name_and_hyperparameters_from_text():
    assert train.optimizer_class("adamw") is pyoptim.AdamW
    with pytest.raises(ValueError, match="optimizer: expected one of .*Adam"):
        train.optimizer_class("adamx")
    params = nn.mlp(6, (4,), 3).parameters()
    with pytest.raises(ValueError, match="momentum: not hyperparameters of Adam"):
        train.make_optimizer("adam", params, momentum=0.9)
    assert train.parse_hyper_value(pyoptim.Adam, "betas", ["0.8", "0.9"]) == (0.8, 0.9)
    assert train.parse_hyper_value(pyoptim.Adam, "betas", ["0.8,0.9"]) == (0.8, 0.9)
    assert train.parse_hyper_value(pyoptim.SGD, "nesterov", []) is True
    assert train.parse_hyper_value(pyoptim.SGD, "nesterov", ["false"]) is False
    assert train.parse_hyper_value(pyoptim.SGD, "lr", ["1e-2"]) == 0.01
    with pytest.raises(ValueError, match="betas \\(for Adam\\): expected 2 numbers"):
        train.parse_hyper_value(pyoptim.Adam, "betas", ["0.9"])
    with pytest.raises(ValueError, match="lr \\(for SGD\\): expected a number, got 'fast'"):
        train.parse_hyper_value(pyoptim.SGD, "lr", ["fast"])
    with pytest.raises(ValueError, match="nesterov \\(for SGD\\): expected true or false"):
        train.parse_hyper_value(pyoptim.SGD, "nesterov", ["maybe"])


# ---- the headline figures on all of MNIST (bench/mnist_figures.py measures them over several seeds) ----


@pytest.fixture(scope="module")
def mnist_full(mnist_dir):
    return train.load_mnist_splits(mnist_dir)


@pytest.fixture
def one_kernel_thread():
    """One kernel thread: the results do not depend on it, and the model's updates are too small to gain."""
    previous = pyoptim.get_num_threads()
    pyoptim.set_num_threads(1)
    yield
    pyoptim.set_num_threads(previous)


@pytest.mark.slow
@pytest.mark.parametrize("model, optimizer, hyper, epochs, batch, schedule, target", [
    ("logreg", "adam", {"lr": 1e-3}, 5, 64, "none", 0.92),
    ("mlp", "adam", {"lr": 2e-3}, 5, 128, "none", 0.975),
    ("mlp", "sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, 10, 64, "cosine", 0.98),
    ("mlp", "adam", {"lr": 2e-3}, 5, 32, "cosine", 0.98),
], ids=["logreg-5-epochs", "mlp-adam-5-epochs", "mlp-nesterov-cosine-10-epochs", "mlp-adam-cosine-5-epochs"])
def test_mnist_test_accuracy_figures(mnist_full, one_kernel_thread, model, optimizer, hyper, epochs, batch,
                                     schedule, target):
    data, test = mnist_full
    net = nn.logistic_regression(784, 10) if model == "logreg" else nn.mlp(784, (128,), 10)
    opt = train.make_optimizer(optimizer, net.parameters(), **hyper)
    train.fit(net, opt, data, epochs=epochs, batch_size=batch, seed=0,
              scheduler=train.make_scheduler(schedule, opt, epochs=epochs))
    assert net.evaluate(test.x, test.y)[1] >= target


@pytest.mark.parametrize("name", ["AdamWScheduleFree", "SGDScheduleFree"])
def test_fit_trains_schedule_free_at_y_and_validates_at_x(name):
    data = synthetic()
    model = nn.mlp(6, (8,), 3, seed=0)
    opt = pyoptim.Optimizer.registry[name](model.parameters(), lr=0.05)
    history = train.fit(model, opt, data, epochs=3, batch_size=16, validation=data)
    assert opt.param_groups[0]["train_mode"] is False  # the caller gets the average x
    assert history.val_loss[-1] == model.evaluate(data.x, data.y)[0]
    at_x = model.flat.params.copy()
    opt.train()
    assert not np.array_equal(model.flat.params, at_x)  # y differs from x after training
    opt.eval()
    np.testing.assert_allclose(model.flat.params, at_x, rtol=1e-5, atol=1e-7)
