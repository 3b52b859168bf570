"""pyoptim.train.trajectories: the paths come from the real optimizers and kernels, the test
functions are what they claim, the pictures are written, and ``pyoptim trajectories`` works
and names the option of a bad argument."""

import sys

import numpy as np
import pytest

import pyoptim
from pyoptim import _checks, cli, train
from pyoptim.train.trajectories import (DEFAULT_RULES, SURFACES, TEST_FUNCTIONS, Walker, animate_walks,
                                        parse_schedule, plot_walks_3d, regression_surface, walk, walks_figure)

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")

BY_HAND = {  # the default rules as one would write them without pyoptim.train
    "sgd": (pyoptim.SGD, {}),
    "sgd+momentum": (pyoptim.SGD, {"momentum": 0.9}),
    "sgd+nesterov": (pyoptim.SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (pyoptim.Adagrad, {}),
    "rmsprop": (pyoptim.RMSprop, {}),
    "adam": (pyoptim.Adam, {}),
}


def stepped_by_hand(surface, cls, hyper, steps, *, schedule=None):
    """The path of `cls` on `surface`, written as a user would: the points and the lr of each step."""
    w, g = np.array(surface.start, dtype=np.float64), np.zeros(2)
    optimizer = cls([(w, g)], **hyper)
    scheduler = schedule(optimizer) if schedule is not None else None
    points, lrs = [w.copy()], []
    for _ in range(steps):
        g[:] = surface.gradient(*w.tolist())
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        points.append(w.copy())
    return np.array(points), np.array(lrs)


# ---- the paths come from the kernels ---------------------------------------------------------


def test_an_adam_path_is_the_adam_kernel_stepped_by_hand():
    surface, steps = SURFACES["rosenbrock"], 40
    path = walk("rosenbrock", ["adam:lr=0.05"], steps=steps).trajectories[0]
    w, g, exp_avg, exp_avg_sq = np.array(surface.start), np.zeros(2), np.zeros(2), np.zeros(2)
    expected = [w.copy()]
    for t in range(1, steps + 1):
        g[:] = surface.gradient(*w.tolist())
        pyoptim.kernels.adam_step(w, g, exp_avg, exp_avg_sq, step=t, lr=0.05)
        expected.append(w.copy())
    np.testing.assert_array_equal(path.points, expected)  # bit for bit
    # ... and the kernel is Adam: the NumPy reference takes the same path.
    w, exp_avg, exp_avg_sq = np.array(surface.start), np.zeros(2), np.zeros(2)
    for t in range(1, steps + 1):
        pyoptim.reference.adam_step(w, np.array(surface.gradient(*w.tolist())), exp_avg, exp_avg_sq, step=t,
                                    lr=0.05)
    np.testing.assert_allclose(path.points[-1], w, rtol=1e-12)


@pytest.mark.parametrize("spec", DEFAULT_RULES)
def test_every_default_rule_is_its_optimizer_stepped_by_hand(spec):
    surface = SURFACES["bowl"]
    cls, hyper = BY_HAND[spec]
    lr = surface.lr[spec]
    path = walk(surface, [spec], steps=30).trajectories[0]
    points, lrs = stepped_by_hand(surface, cls, {"lr": lr, **hyper}, 30)
    np.testing.assert_array_equal(path.points, points)
    np.testing.assert_array_equal(path.lrs, lrs)
    assert path.hyper["lr"] == lr and path.walker.cls is cls
    np.testing.assert_array_equal(path.losses, [surface.value(*p) for p in points])


def test_a_schedule_is_pyoptims_scheduler_stepped_once_per_step():
    surface = SURFACES["bowl"]
    walks = train.trajectories("bowl", ["sgd+momentum"], schedules=["none", "cosine", "step:step_size=7:gamma=0.5"],
                               steps=30, output=None)
    constant, cosine, step = walks[0].trajectories
    assert [t.label for t in walks[0].trajectories] == ["constant lr", "cosine", "step step_size=7 gamma=0.5"]
    sgd = {"lr": surface.lr["sgd+momentum"], "momentum": 0.9}
    for path, schedule in ((constant, None),
                           (cosine, lambda opt: pyoptim.lr_scheduler.CosineAnnealingLR(opt, T_max=30)),
                           (step, lambda opt: pyoptim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5))):
        points, lrs = stepped_by_hand(surface, pyoptim.SGD, sgd, 30, schedule=schedule)
        np.testing.assert_array_equal(path.points, points)
        np.testing.assert_array_equal(path.lrs, lrs)
    assert cosine.lrs[-1] < 0.01 * cosine.lrs[0] and step.lrs[7] == 0.5 * step.lrs[6]


def test_any_lr_scheduler_through_a_factory():
    def halving(optimizer, steps):
        return pyoptim.lr_scheduler.StepLR(optimizer, step_size=steps // 2, gamma=0.5)

    walker = Walker("Adam, halved", pyoptim.Adam, {"lr": 0.1}, schedule=halving)
    path = walk("saddle", [walker], steps=20).trajectories[0]
    assert list(path.lrs) == [0.1] * 10 + [0.05] * 10


def test_mini_batches_are_reshuffled_each_pass_and_seeded():
    surface, batch, steps = regression_surface(samples=20), 8, 9
    path = walk(surface, [Walker("SGD", pyoptim.SGD, {"lr": 0.1}, batch_size=batch)], steps=steps, seed=3)
    rng, rows = np.random.default_rng(3), []
    while len(rows) < steps:
        order = rng.permutation(20)
        rows += [order[i:i + batch] for i in range(0, 20, batch)]  # batches of 8, 8, 4 per pass
    w, g = np.array(surface.start), np.zeros(2)
    optimizer = pyoptim.SGD([(w, g)], lr=0.1)
    for t in range(steps):
        g[:] = surface.batch_gradient(*w.tolist(), rows[t])
        optimizer.step()
    np.testing.assert_array_equal(path.trajectories[0].points[-1], w)
    # A batch of every sample is full-batch descent.
    whole = walk(surface, [Walker("SGD", pyoptim.SGD, {"lr": 0.1}, batch_size=20), "sgd:lr=0.1"], steps=steps)
    np.testing.assert_array_equal(whole.trajectories[0].points, whole.trajectories[1].points)


def test_the_path_is_noisier_the_smaller_the_batch():
    walks = train.trajectories("regression", ["sgd"], batch_sizes=["full", 16, 4, "stochastic"], output=None)
    surface, paths = walks[0].surface, walks[0].trajectories
    assert [t.label for t in paths] == ["full batch", "batch 16", "batch 4", "stochastic (batch 1)"]
    minimum = np.array(surface.minima[0])
    spread = [np.linalg.norm(t.points[len(t.points) // 2:] - minimum, axis=1).mean() for t in paths]
    assert spread == sorted(spread) and spread[-1] > 10 * spread[0]


def test_a_diverging_path_stops_and_says_so(recwarn):
    path = walk("rosenbrock", ["sgd:lr=0.01"], steps=200).trajectories[0]
    assert path.diverged is not None and path.diverged < 200 and path.reached is None
    assert len(path.points) == path.diverged == len(path.losses) and len(path.lrs) == path.diverged - 1
    assert np.isfinite(path.points).all()
    assert path.outcome(1e-4) == f"diverged at step {path.diverged}"
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_arrival_is_the_step_from_which_the_loss_stays_within_the_tolerance():
    w = walk("bowl", ["sgd+momentum", "sgd"], tolerance=1e-2)
    for path in w.trajectories:
        gaps = path.losses - w.surface.minimum_value
        assert (gaps[path.reached:] <= 1e-2).all() and gaps[path.reached - 1] > 1e-2
    momentum = w.trajectories[0]
    assert (momentum.losses[:momentum.reached] <= 1e-2).any()  # it passed through before it settled
    assert walk("bowl", ["sgd:lr=0.001"]).trajectories[0].reached is None
    # A noisy path whose last point happens to fall inside has not arrived: the loss must
    # stay within the tolerance for at least the last tenth of the steps.
    noisy = walk("regression", [Walker("constant", pyoptim.SGD, {"lr": 0.2}, batch_size=4)], steps=200)
    gaps = noisy.trajectories[0].losses - noisy.surface.minimum_value
    assert gaps[-1] <= noisy.tolerance and (gaps[-20:] > noisy.tolerance).any()
    assert noisy.trajectories[0].reached is None


def test_every_registered_rule_walks_every_function():
    for name in SURFACES:
        w = walk(name, list(pyoptim.Optimizer.registry), steps=5)
        assert [t.walker.cls for t in w.trajectories] == list(pyoptim.Optimizer.registry.values())


# ---- the test functions ------------------------------------------------------------------------


def points_on(surface):
    x0, x1, y0, y1 = surface.extent
    rng = np.random.default_rng(0)
    return [surface.start, *surface.minima, *zip(rng.uniform(x0, x1, 4), rng.uniform(y0, y1, 4))]


@pytest.mark.parametrize("name", list(SURFACES))
def test_each_gradient_matches_finite_differences(name):
    surface = SURFACES[name]
    for x, y in points_on(surface):
        h = 1e-6 * max(1.0, abs(x), abs(y))
        numeric = ((surface.value(x + h, y) - surface.value(x - h, y)) / (2 * h),
                   (surface.value(x, y + h) - surface.value(x, y - h)) / (2 * h))
        scale = max(1.0, float(np.abs(surface.gradient(x, y)).max()))
        np.testing.assert_allclose(surface.gradient(x, y), numeric, rtol=1e-6, atol=1e-6 * scale)
        # The same formulas over arrays, as the contours use them.
        np.testing.assert_allclose(surface.value(np.array([x]), np.array([y])), [surface.value(x, y)], rtol=1e-15)


@pytest.mark.parametrize("name", list(SURFACES))
def test_the_minima_are_minima(name):
    surface = SURFACES[name]
    for x, y in surface.minima:
        assert np.hypot(*surface.gradient(x, y)) < 1e-9
        h = 1e-5
        hessian = np.array([np.subtract(surface.gradient(x + h, y), surface.gradient(x - h, y)),
                            np.subtract(surface.gradient(x, y + h), surface.gradient(x, y - h))]) / (2 * h)
        assert (np.linalg.eigvalsh((hessian + hessian.T) / 2) > 0).all()
        ring = [surface.value(x + 1e-3 * np.cos(a), y + 1e-3 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 16)]
        assert min(ring) > surface.value(x, y)
        x0, x1, y0, y1 = surface.extent
        assert x0 < x < x1 and y0 < y < y1  # in the picture
    assert surface.minimum_value == min(surface.value(x, y) for x, y in surface.minima)


def test_the_regression_minimum_is_the_least_squares_fit():
    surface = regression_surface(samples=30, seed=5)
    rows = np.arange(30)
    gradient = surface.batch_gradient(*surface.minima[0], rows)
    assert np.hypot(*gradient) < 1e-12
    # The mean of the batch gradients over one pass is the full gradient.
    a, b = 0.3, -0.7
    parts = [surface.batch_gradient(a, b, rows[i:i + 10]) for i in range(0, 30, 10)]
    np.testing.assert_allclose(np.mean(parts, axis=0), surface.gradient(a, b), rtol=1e-12)


def test_himmelblau_has_four_minima_and_the_rules_reach_two_of_them():
    w = walk("himmelblau", list(DEFAULT_RULES))
    ends = {tuple(np.round(t.points[-1], 2)) for t in w.trajectories}
    assert len(SURFACES["himmelblau"].minima) == 4 and len(ends) == 2


def test_the_saddle_holds_plain_gradient_descent_only():
    paths = {t.label: t for t in walk("saddle", list(DEFAULT_RULES)).trajectories}
    assert paths["SGD"].reached is None
    assert all(paths[label].reached is not None for label in ("SGD+momentum", "SGD+Nesterov", "Adagrad", "Adam"))


# ---- the pictures --------------------------------------------------------------------------------


def test_the_pictures_are_written_as_valid_images(tmp_path):
    walks = train.trajectories("saddle", ["sgd", "adam"], steps=30, output=tmp_path / "out" / "saddle.png",
                               gif=tmp_path / "saddle.gif", frames=3, surface_view=tmp_path / "saddle-3d.png")
    assert len(walks) == 1 and [t.label for t in walks[0].trajectories] == ["SGD", "Adam"]
    with Image.open(tmp_path / "out" / "saddle.png") as png:
        assert png.format == "PNG" and png.size == (1500, 750)
    with Image.open(tmp_path / "saddle.gif") as gif:
        assert gif.format == "GIF" and gif.size == (560, 525) and gif.n_frames == 3
    with Image.open(tmp_path / "saddle-3d.png") as view:
        assert view.format == "PNG" and view.size == (650, 550)


def test_one_panel_per_function_and_a_key():
    walks = [walk(name, ["sgd", "adam"], steps=10) for name in TEST_FUNCTIONS]
    figure = walks_figure(walks)
    assert len(figure.axes) == 6  # five functions, and the table of learning rates
    stars = [line for ax in figure.axes[:5] for line in ax.get_lines() if line.get_marker() == "*"]
    assert len(stars) == sum(len(SURFACES[name].minima) for name in TEST_FUNCTIONS)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend[0].startswith("SGD: loss ") and ("arrived at step" in legend[0] or "not arrived" in legend[0])


def test_a_schedule_picture_has_the_loss_and_the_lr_and_a_magnified_end():
    walks = train.trajectories("regression", ["sgd"], batch_sizes=[4], schedules=["none", "cosine"], steps=40,
                               output=None)
    figure = walks_figure(walks, title="t")
    paths, losses, lrs = figure.axes[:3]
    assert losses.get_ylabel() == "loss - minimum" and lrs.get_ylabel() == "learning rate"
    assert len(paths.child_axes) == 1  # the inset
    assert [line.get_label().split(":")[0] for line in paths.get_lines()[2:]] == ["constant lr", "cosine"]


def test_animating_and_3d_take_walks_only():
    with pytest.raises(TypeError, match="walks: expected a list of Walk"):
        animate_walks(["bowl"], "x.gif")
    with pytest.raises(TypeError, match="walks"):
        plot_walks_3d([], "x.png")


# ---- rules, schedules and their errors ----------------------------------------------------------


def test_rule_specs():
    assert Walker.parse("sgd").label == "SGD"
    nesterov = Walker.parse("SGD+nesterov:momentum=0.5")
    assert (nesterov.label, nesterov.variant, nesterov.hyper) == ("SGD+Nesterov momentum=0.5", "SGD+Nesterov",
                                                                   {"momentum": 0.5, "nesterov": True})
    adam = Walker.parse("adam:betas=0.8,0.9:label=slow Adam")
    assert (adam.label, adam.cls, adam.hyper) == ("slow Adam", pyoptim.Adam, {"betas": (0.8, 0.9)})
    assert Walker.parse("rmsprop+momentum").hyper == {"momentum": 0.9}
    assert parse_schedule("exponential:gamma=0.9") == ("exponential", {"gamma": 0.9})


@pytest.mark.parametrize("call, argument, message", [
    (dict(rules=["adamx"]), "rules", "'adamx': expected one of"),
    (dict(rules=["adam+nesterov"]), "rules", "Adam has no variant 'nesterov'"),
    (dict(rules=["adam:lr"]), "rules", "expected KEY=VALUE"),
    (dict(rules=["adam:lr=-1"]), "rules", "lr: expected a number >= 0.0"),
    (dict(rules=["adam:momentum=0.9"]), "rules", "momentum: not hyperparameters of Adam"),
    (dict(rules="adam"), "rules", "expected a list of rules"),
    (dict(rules=[]), "rules", "expected at least one rule"),
    (dict(function="sphere"), "function", "expected one of bowl, rosenbrock"),
    (dict(function="bowl", batch_sizes=[4]), "batch_sizes", "only regression takes a batch size"),
    (dict(batch_sizes=[0]), "batch_sizes", "expected a positive integer, 'full' or 'stochastic'"),
    (dict(batch_sizes=["half"]), "batch_sizes", "got 'half'"),
    (dict(schedules=["linear"]), "schedules", "expected one of none, step"),
    (dict(schedules=["step:size=3"]), "schedules", "KEY one of step_size"),
    (dict(schedules=["step:step_size=0"]), "schedules", "step_size"),
    (dict(schedules=["cosine:eta_min=x"]), "schedules", "eta_min: expected a number"),
    (dict(start=(0, 0)), "start", "each function has its own start"),
    (dict(function="bowl", start=(0, float("nan"))), "start", "two finite numbers"),
    (dict(function="bowl", start=3), "start", "expected two numbers"),
    (dict(steps=0), "steps", ">= 1"),
    (dict(tolerance=0), "tolerance", "> 0.0"),
    (dict(every=0), "every", ">= 1"),
    (dict(seed=-1), "seed", ">= 0"),
    (dict(output=3), "output", "expected a file path"),
    (dict(frames=1, gif="x.gif"), "frames", ">= 2"),
])
def test_bad_arguments_name_the_argument_before_anything_runs(call, argument, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(_checks.ArgumentError) as caught:
        train.trajectories(**call)
    assert caught.value.argument == argument and message in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_the_walks_are_checked_then_drawing_refuses(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(_checks.ArgumentError):
        train.trajectories("bowl", ["adamx"], output=tmp_path / "x.png")
    with pytest.raises(ImportError, match="pip install"):
        train.trajectories("bowl", ["sgd"], output=tmp_path / "x.png")
    assert train.trajectories("bowl", ["sgd"], steps=3, output=None)[0].trajectories[0].points.shape == (4, 2)


# ---- pyoptim trajectories ---------------------------------------------------------------------


def test_the_plain_command_draws_every_function(tmp_path, capsys):
    assert cli.main(["trajectories", "--output", str(tmp_path / "t.png")]) == 0
    out = capsys.readouterr().out
    for name in TEST_FUNCTIONS:
        assert f"{name} from (" in out
    assert "Adam  lr 0.05" in out and "arrived at step" in out and f"wrote {tmp_path / 't.png'}" in out
    with Image.open(tmp_path / "t.png") as png:
        assert png.size == (1800, 1120)


def test_the_command_with_batches_an_animation_and_a_3d_view(tmp_path, capsys):
    status = cli.main(["trajectories", "--batch-sizes", "full", "8", "stochastic", "--steps", "20", "--frames",
                       "2", "--output", str(tmp_path / "b.png"), "--gif", "--3d", str(tmp_path / "view.png")])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "regression from (-1, 2.5), 20 steps" in out and "stochastic (batch 1)  lr 0.2" in out
    for name in ("b.png", "b.gif", "view.png"):
        with Image.open(tmp_path / name) as image:
            assert image.size[0] > 500


@pytest.mark.parametrize("argv, message", [
    (["--rules", "adamx"], "--rules: 'adamx': expected one of"),
    (["--function", "bowl", "--batch-sizes", "4"], "--batch-sizes: bowl is a function"),
    (["--schedules", "warmup"], "--schedules: 'warmup': expected one of"),
    (["--start", "1", "2"], "--start: each function has its own start"),
    (["--function", "bowl", "--steps", "0"], "--steps: expected an integer >= 1"),
    (["--tolerance", "-1"], "--tolerance: expected a number > 0.0"),
    (["--every", "0"], "--every: expected an integer >= 1"),
    (["--gif", "--frames", "1"], "--frames: expected an integer >= 2"),
    (["--steps", "many"], "argument --steps: invalid int value"),
    (["--start", "1"], "argument --start: expected 2 arguments"),
])
def test_bad_options_exit_with_status_2_naming_the_option(argv, message, capsys, tmp_path):
    status = cli.main(["trajectories", "--output", str(tmp_path / "x.png"), *argv])
    _, err = capsys.readouterr()
    assert status == 2 and message in err and "usage: pyoptim trajectories" in err
    assert list(tmp_path.iterdir()) == []


def test_the_command_without_matplotlib_fails_with_status_1(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert cli.main(["trajectories", "--function", "bowl", "--output", str(tmp_path / "x.png")]) == 1
    assert "needs matplotlib" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
