"""pyoptim.train.experiments: what `pyoptim train` and `pyoptim compare` run, from Python;
and the command line's errors, which name the option an error is about whatever its wording."""

import io
import json

import numpy as np
import pytest

import pyoptim
from pyoptim import _checks, cli, nn, train
from pyoptim._progress import ProgressBar
from pyoptim.train import experiments

SMALL = dict(limit_train=400, limit_test=200, hidden=(16,), epochs=2, batch_size=32)


def test_train_from_python_as_the_command_line_does(mnist_dir, tmp_path):
    settings = train.ExperimentSettings(data_dir=mnist_dir, schedule="cosine", **SMALL)
    training = train.prepare_training(settings, "AdamW", {"lr": 3e-3, "betas": (0.9, 0.99)})
    assert isinstance(training.optimizer, pyoptim.AdamW) and training.scheduler is not None
    data = train.load_experiment_data(settings)
    assert (len(data.train), len(data.validation), len(data.test)) == (360, 40, 200)
    epochs_seen = []
    history = train.run_training(training, data, on_epoch=lambda h: epochs_seen.append(h.epochs_run))
    assert epochs_seen == [1, 2] and 0.2 < history.test_accuracy <= 1  # learning: chance is 0.1
    assert history.config["optimizer"] == "AdamW" and history.config["hidden"] == (16,)
    assert history.config["hyperparameters"] == {"lr": 3e-3, "betas": (0.9, 0.99)}
    assert history.config["data_dir"] == str(mnist_dir)
    written = train.save_training(training, history, tmp_path / "run")
    assert [p.name for p in written] == ["model.npz", "history.json"]
    assert nn.load_model(written[0]).metadata["test_accuracy"] == history.test_accuracy


def test_compare_from_python(mnist_dir, tmp_path):
    settings = train.ExperimentSettings(data_dir=mnist_dir, model="logreg", **SMALL)
    comparison = train.prepare_comparison(settings, train.comparison_entries(["sgd", "adam"]))
    data = train.load_experiment_data(settings)
    results = train.run_comparison(comparison, data)
    assert [r.entry.label for r in results] == ["SGD", "Adam"]
    written = train.save_comparison(comparison, data, results, tmp_path, total_seconds=1.0, command="a script")
    assert [p.name for p in written] == ["compare.png", "compare.md", "compare.json"]
    assert "command: `a script`" in (tmp_path / "compare.md").read_text()
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert saved["config"]["model"] == "logreg" and len(saved["runs"]) == 2


def test_a_run_has_its_kernel_threads_and_restores_them(monkeypatch):
    seen = []
    monkeypatch.setattr(experiments, "fit", lambda *args, **kwargs: seen.append(pyoptim.get_num_threads())
                        or train.History(diverged=True))
    samples = train.Split(np.zeros((2, 784), np.float32), np.zeros(2, np.int64))
    training = train.prepare_training(train.ExperimentSettings(threads=2, hidden=(4,)))
    with pyoptim.num_threads(1):
        train.run_training(training, train.ExperimentData(samples, None, samples))
        assert seen == [2] and pyoptim.get_num_threads() == 1


@pytest.mark.parametrize("settings, optimizer, hyper, argument", [
    (dict(epochs=0), "adam", {}, "epochs"),
    (dict(patience=2, validation_fraction=0.0), "adam", {}, "patience"),
    (dict(model="binary-logreg", digits=(3, 3)), "adam", {}, "digits"),
    (dict(hidden=(8, 0)), "adam", {}, "hidden"),
    (dict(threads=0), "adam", {}, "threads"),
    (dict(schedule="plateau", plateau_factor=1.5), "adam", {}, "plateau_factor"),  # ReduceLROnPlateau's factor
    (dict(schedule="warmup-cosine", warmup_start_factor=0.0), "adam", {}, "warmup_start_factor"),
    (dict(schedule="step", step_size=0), "adam", {}, "step_size"),
    ({}, "adamx", {}, "optimizer"),
    ({}, "adam", {"betas": (0.9, 1.5)}, "betas"),
    ({}, "sgd", {"nesterov": True}, "nesterov"),  # needs momentum > 0: the one added last is at fault
])
def test_errors_name_the_argument_they_are_about(settings, optimizer, hyper, argument):
    with pytest.raises(_checks.ArgumentError) as caught:
        train.prepare_training(train.ExperimentSettings(**settings), optimizer, hyper)
    assert caught.value.argument == argument and str(caught.value).startswith(f"{argument}: ")


def test_hyperparameters_that_only_fail_together_name_the_first_that_breaks_them():
    train.check_hyperparameters(pyoptim.SGD, {"nesterov": True, "momentum": 0.9})  # fine in any order
    with pytest.raises(ValueError) as caught:
        train.check_hyperparameters(pyoptim.SGD, {"dampening": 0.5, "momentum": 0.9, "nesterov": True})
    assert caught.value.argument == "nesterov"
    assert caught.value.problem.startswith("Nesterov momentum requires")  # the name is not repeated
    with pytest.raises(TypeError) as caught:  # the type of the rule's own error is kept
        train.check_hyperparameters(pyoptim.Adam, {"lr": 1e-3, "amsgrad": "yes"})
    assert caught.value.argument == "amsgrad"


@pytest.mark.parametrize("argv, message", [
    (["--schedule", "plateau", "--plateau-factor", "1.5"], "--plateau-factor: expected a number in [0.0, 1.0)"),
    (["--schedule", "plateau", "--plateau-patience", "-1"], "--plateau-patience: expected an integer >= 0"),
    (["--schedule", "warmup-cosine", "--warmup-start-factor", "0"], "--warmup-start-factor: expected a number in"),
    (["--schedule", "step", "--step-size", "0"], "--step-size: expected an integer >= 1"),
    (["--schedule", "exponential", "--gamma", "-1"], "--gamma: expected a number >= 0.0"),
    (["--threads", "0"], "--threads: expected a positive integer"),
    (["--hidden", "8", "0"], "--hidden: expected positive widths"),
    (["--optimizer", "sgd", "--weight-decay", "-1"], "--weight-decay: expected a number >= 0.0"),
    (["--opt", "betas=0.9,1.5"], "--betas: betas[1]: expected a number in [0.0, 1.0)"),
    (["--optimizer", "sgd", "--momentum", "0.9", "--dampening", "0.5", "--nesterov"], "--nesterov: Nesterov"),
])
def test_a_bad_value_names_its_command_line_option(capsys, mnist_dir, argv, message):
    # Small and local, should an argument wrongly pass: every one of these fails before any data is read.
    quick = ["--data-dir", str(mnist_dir), "--limit-train", "50", "--limit-test", "50", "--epochs", "2"]
    assert cli.main(["train", *quick, *argv]) == 2
    err = capsys.readouterr().err
    assert f"pyoptim train: error: {message}" in err, err


def test_the_option_comes_from_the_error_not_from_its_wording(capsys, monkeypatch):
    def reworded(cls, group):
        if group["eps"] != 1e-8:
            raise _checks.InvalidValue("eps", "a wording that does not start with the name")
    monkeypatch.setattr(pyoptim.Adam, "check_hyper", classmethod(reworded))
    assert cli.main(["train", "--data-dir", "/nonexistent/mnist", "--eps", "1e-3"]) == 2  # --data-dir first
    assert "error: --data-dir:" in capsys.readouterr().err
    assert cli.main(["train", "--eps", "1e-3"]) == 2
    assert "error: --eps: a wording that does not start with the name" in capsys.readouterr().err


def test_the_batch_progress_bar_draws_batches_and_loss_and_clears_its_line():
    stream = io.StringIO()
    bar = ProgressBar(unit="batches", stream=stream, width=8, min_interval=3600)
    bar.start("epoch 1/2")
    bar(1, 4, 0.5)  # the first call of an epoch draws
    bar(2, 4, 0.25)  # within min_interval: skipped
    bar(4, 4, 0.125)  # the last batch always draws
    bar.clear()
    assert stream.getvalue() == ("\repoch 1/2 [##......] 1/4 loss 0.5000"
                                 "\repoch 1/2 [########] 4/4 loss 0.1250\r\033[K")
    silent = io.StringIO()
    off = ProgressBar(unit="batches", stream=silent, enabled=False)
    off(1, 1, 0.5)
    off.clear()
    assert silent.getvalue() == ""
