"""The pyoptim command: train and compare end to end on an MNIST subset, and argument errors (status 2)."""

import json
import subprocess
import sys

import pytest

import pyoptim
from pyoptim import cli, nn

SMALL = ["--limit-train", "600", "--limit-test", "300"]


@pytest.fixture
def run(mnist_dir, capsys):
    """Run a CLI command in-process on the MNIST test data: returns (status, stdout, stderr)."""
    def invoke(command, *args):
        status = cli.main([command, "--data-dir", str(mnist_dir), *map(str, args)])
        out, err = capsys.readouterr()
        return status, out, err
    return invoke


def test_train_writes_a_model_and_its_history(run, tmp_path, mnist_dir):
    status, out, err = run("train", *SMALL, "--hidden", 32, "--epochs", 2, "--output-dir", tmp_path,
                           "--optimizer", "ADAMW", "--lr", "3e-3", "--betas", "0.9", "0.99")
    assert status == 0, err
    assert "epoch 1/2" in out and "epoch 2/2" in out and "test accuracy" in out and "total time" in out
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["config"]["optimizer"] == "AdamW"
    assert history["config"]["hyperparameters"] == {"lr": 3e-3, "betas": [0.9, 0.99]}
    assert len(history["val_loss"]) == 2 and 0.5 < history["test_accuracy"] <= 1  # 18 steps
    model = nn.load_model(tmp_path / "model.npz")
    assert model.metadata["test_accuracy"] == history["test_accuracy"]
    from pyoptim.train import load_mnist_splits
    _, test = load_mnist_splits(mnist_dir, limit_train=1, limit_test=300)
    assert model.evaluate(test.x, test.y)[1] == history["test_accuracy"]


@pytest.mark.parametrize("extra", [
    ["--model", "logreg", "--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.9", "--nesterov",
     "--schedule", "warmup-cosine", "--warmup-epochs", "1"],
    ["--model", "binary-logreg", "--digits", "3", "5", "--optimizer", "rmsprop", "--opt", "alpha=0.9",
     "--schedule", "plateau"],
    ["--hidden", "16", "8", "--activation", "tanh", "--batch-size", "full", "--optimizer", "adam", "--lr", "0.01",
     "--schedule", "step", "--step-size", "1", "--gamma", "0.5"],
    ["--hidden", "8", "--activation", "sigmoid", "--batch-size", "stochastic", "--limit-train", "150",
     "--patience", "1", "--dtype", "float64"],
], ids=["logreg-nesterov-warmup", "binary-rmsprop-plateau", "mlp-full-batch-step", "stochastic-early-stop"])
def test_train_options(run, extra):
    status, out, err = run("train", *SMALL, "--epochs", 2, *extra)
    assert status == 0, err
    assert "test accuracy" in out


def test_train_prints_no_progress_bar_when_stderr_is_not_a_terminal(run):
    status, _, err = run("train", *SMALL, "--hidden", 8, "--epochs", 1)
    assert status == 0 and err == ""


def test_compare_writes_plot_table_and_histories(run, tmp_path):
    status, out, err = run("compare", *SMALL, "--rules", "sgd", "Adam", "sgd+nesterov", "--hidden", 16,
                           "--epochs", 2, "--schedule", "cosine", "--output-dir", tmp_path)
    assert status == 0, err
    assert (tmp_path / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "compare.md").read_text()
    for label in ("| SGD |", "| Adam |", "| SGD+Nesterov |"):
        assert label in table
    assert "test accuracy" in table and "best epoch" in table and "seconds / epoch" in table
    runs = json.loads((tmp_path / "compare.json").read_text())["runs"]
    assert [r["config"]["rule"] for r in runs] == ["SGD", "Adam", "SGD+Nesterov"]
    assert all(len(r["train_loss"]) == 2 for r in runs)
    assert runs[2]["config"]["hyperparameters"]["nesterov"] is True


def test_compare_without_matplotlib_still_writes_the_table(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    status, out, err = run("compare", *SMALL, "--rules", "adam", "--hidden", 8, "--epochs", 1,
                           "--output-dir", tmp_path)
    assert status == 0, err
    assert "matplotlib is not installed" in err
    assert (tmp_path / "compare.md").exists() and not (tmp_path / "compare.png").exists()


def test_compare_hyperparameters_apply_to_the_rules_that_take_them(run, tmp_path):
    status, _, err = run("compare", *SMALL, "--rules", "adam", "sgd", "--hidden", 8, "--epochs", 1,
                         "--betas", "0.8", "0.9", "--rule-lr", "sgd=0.05", "--output-dir", tmp_path)
    assert status == 0, err
    runs = {r["config"]["rule"]: r["config"]["hyperparameters"]
            for r in json.loads((tmp_path / "compare.json").read_text())["runs"]}
    assert runs["Adam"]["betas"] == [0.8, 0.9] and "betas" not in runs["SGD"]
    assert runs["SGD"]["lr"] == 0.05


@pytest.mark.parametrize("argv, message", [
    (["train", "--optimizer", "adamx"], "--optimizer: expected one of"),
    (["train", "--optimizer", "adam", "--momentum", "0.9"], "--momentum: Adam has no hyperparameter 'momentum'"),
    (["train", "--lr", "fast"], "--lr: lr (for Adam): expected a number, got 'fast'"),
    (["train", "--lr", "-1"], "--lr: expected a number >= 0.0"),
    (["train", "--betas", "0.9"], "--betas: betas (for Adam): expected 2 numbers"),
    (["train", "--betas", "0.9", "1.5"], "--betas: betas[1]: expected a number in [0.0, 1.0)"),
    (["compare", "--rules", "sgd", "--lr", "-1"], "--lr: expected a number >= 0.0"),
    (["train", "--opt", "betas"], "--opt: expected KEY=VALUE"),
    (["train", "--opt", "colour=red"], "Adam has no hyperparameter 'colour'"),
    (["train", "--optimizer", "sgd", "--nesterov"], "--nesterov: Nesterov momentum requires momentum > 0"),
    (["train", "--epochs", "0"], "--epochs: expected a positive integer"),
    (["train", "--batch-size", "0"], "argument --batch-size: expected a positive integer, 'full' or 'stochastic'"),
    (["train", "--batch-size", "half"], "argument --batch-size"),
    (["train", "--model", "cnn"], "argument --model: invalid choice"),
    (["train", "--patience", "2", "--validation-fraction", "0"], "--patience: early stopping needs a validation"),
    (["train", "--validation-fraction", "1.5"], "--validation-fraction: expected a number in [0, 1)"),
    (["train", "--schedule", "warmup-cosine", "--epochs", "2", "--warmup-epochs", "2"],
     "--warmup-epochs: expected an int in [1, epochs)"),
    (["train", "--data-dir", "/nonexistent/mnist"], "--data-dir: /nonexistent/mnist is not a directory"),
    (["train", "--model", "binary-logreg", "--digits", "3", "3"], "--digits: expected two different digits"),
    (["train", "--limit-train", "0"], "argument --limit-train: expected a positive integer"),
    (["compare", "--rules", "adamm"], "--rules: unknown rule 'adamm'"),
    (["compare", "--rules", "sgd", "--betas", "0.9", "0.99"], "--betas: none of the compared rules takes it"),
    (["compare", "--rule-lr", "nope=1"], "--rule-lr: expected RULE=LR"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["trajectories", "--rules", "adamx"], "--rules: 'adamx': expected one of"),
    (["trajectories", "--function", "bowl", "--batch-sizes", "8"], "--batch-sizes: bowl is a function"),
    (["trajectories", "--schedules", "cosine:gamma=x"], "--schedules: 'cosine:gamma=x': gamma: expected a number"),
])
def test_bad_arguments_exit_with_status_2_and_a_clear_message(capsys, argv, message):
    status = cli.main(argv)
    _, err = capsys.readouterr()
    assert status == 2
    assert message in err and "usage: pyoptim" in err


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_rules_lists_every_registered_optimizer(capsys):
    assert cli.main(["rules"]) == 0
    out = capsys.readouterr().out
    for name, cls in pyoptim.Optimizer.registry.items():
        assert f"{name}: " in out
    assert "SGD+Nesterov" in out


def test_every_hyperparameter_of_every_rule_has_an_option():
    parser = cli.build_parser()
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    options = {s for action in train_parser._actions for s in action.option_strings}
    for cls in pyoptim.Optimizer.registry.values():
        for name in cls.default_hyper():
            if name not in cli.OTHER_OPTION_NAMES:  # those are reachable with --opt only
                assert f"--{name.replace('_', '-')}" in options, (cls.__name__, name)


def test_kernel_threads_are_restored_after_a_run(run):
    before = pyoptim.get_num_threads()
    status, _, err = run("train", *SMALL, "--hidden", 8, "--epochs", 1, "--threads", 2)
    assert status == 0, err
    assert pyoptim.get_num_threads() == before


def test_python_dash_m_pyoptim_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "pyoptim", "train", "--optimizer", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "pyoptim train: error: --optimizer" in done.stderr
    done = subprocess.run([sys.executable, "-m", "pyoptim", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "compare" in done.stdout


@pytest.mark.slow
def test_train_mlp_on_full_mnist_reaches_97_percent(run, tmp_path):
    status, out, err = run("train", "--epochs", 5, "--batch-size", 128, "--lr", "2e-3", "--output-dir", tmp_path)
    assert status == 0, err
    assert json.loads((tmp_path / "history.json").read_text())["test_accuracy"] > 0.97
