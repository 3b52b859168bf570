"""pyoptim.nn: hand-written gradients against finite differences, losses, models, saving and loading."""

import json
import tracemalloc
import zipfile

import numpy as np
import pytest

import pyoptim
from pyoptim import nn
from pyoptim.flat import FlatParameters

ACTIVATIONS = [nn.ReLU, nn.Tanh, nn.Sigmoid]


def numerical_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() w.r.t. every element of x (changed in place, then restored)."""
    grad = np.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        up = f()
        flat_x[i] = old - h
        down = f()
        flat_x[i] = old
        flat_g[i] = (up - down) / (2 * h)
    return grad


def assert_gradients_close(analytic, numeric, rtol=1e-6):
    scale = max(1.0, np.abs(numeric).max())
    np.testing.assert_allclose(analytic, numeric, rtol=0, atol=rtol * scale)


def bound_layer(layer, rng, dtype=np.float64):
    """A layer with its parameters in a FlatParameters of its own, initialised from rng."""
    shapes = layer.param_shapes()
    if shapes:
        flat = FlatParameters(shapes, dtype=dtype)
        layer.bind({n: flat[n] for n in shapes}, {n: flat.grad(n) for n in shapes})
        layer.reset_parameters(rng)
        for name in shapes:  # non-zero biases too, so that their gradient is exercised
            flat[name][...] += rng.standard_normal(flat[name].shape) * 0.1
    return layer


# ---- layers and activations ------------------------------------------------------


def test_dense_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    layer = bound_layer(nn.Dense(5, 3), rng)
    x = rng.standard_normal((4, 5))
    weights_of_output = rng.standard_normal((4, 3))  # f = sum(w * layer(x)): every output matters
    out = np.empty((4, 3))
    scratch = layer.scratch(4, 5, np.float64)

    def f():
        layer.forward(x, out, scratch)
        return float(np.sum(weights_of_output * out))

    f()
    grad_in = np.empty_like(x)
    layer.backward(x, out, weights_of_output, grad_in, scratch)
    assert_gradients_close(layer.weight_grad, numerical_gradient(f, layer.weight))
    assert_gradients_close(layer.bias_grad, numerical_gradient(f, layer.bias))
    assert_gradients_close(grad_in, numerical_gradient(f, x))


@pytest.mark.parametrize("cls", ACTIVATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("in_place", [False, True], ids=["separate", "in-place"])
def test_activation_gradients_match_finite_differences(cls, in_place):
    rng = np.random.default_rng(1)
    layer = cls()
    x = rng.standard_normal((6, 4)) * 2
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU's kink out of the differences' reach
    scratch = layer.scratch(6, 4, np.float64)
    weights_of_output = rng.standard_normal((6, 4))
    out = np.empty_like(x)

    def f():
        layer.forward(x, out, scratch)
        return float(np.sum(weights_of_output * out))

    f()
    grad_out = weights_of_output.copy()
    grad_in = grad_out if in_place else np.empty_like(x)
    layer.backward(x, out, grad_out, grad_in, scratch)
    assert_gradients_close(grad_in, numerical_gradient(f, x))


@pytest.mark.parametrize("cls", ACTIVATIONS, ids=lambda c: c.__name__)
def test_activation_forward_in_place_equals_separate(cls):
    x = np.linspace(-30, 30, 61, dtype=np.float32).reshape(1, -1)
    layer = cls()
    scratch = layer.scratch(1, 61, np.float32)
    separate = np.empty_like(x)
    layer.forward(x, separate, scratch)
    in_place = x.copy()
    layer.forward(in_place, in_place, scratch)
    np.testing.assert_array_equal(separate, in_place)
    assert np.all(np.isfinite(separate))


def test_activation_values():
    x = np.array([[-2.0, 0.0, 3.0]])
    out = np.empty_like(x)
    nn.ReLU().forward(x, out, {})
    np.testing.assert_array_equal(out, [[0, 0, 3]])
    nn.Tanh().forward(x, out, {})
    np.testing.assert_allclose(out, np.tanh(x))
    nn.Sigmoid().forward(x, out, {})
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-x)), rtol=1e-15)


# ---- losses ------------------------------------------------------------------------


def loss_cases():
    rng = np.random.default_rng(2)
    return [
        ("softmax-ce", nn.SoftmaxCrossEntropy(), rng.standard_normal((5, 4)) * 3, rng.integers(0, 4, 5)),
        ("bce-labels", nn.BinaryCrossEntropy(), rng.standard_normal((6, 1)) * 3, rng.integers(0, 2, 6)),
        ("bce-soft", nn.BinaryCrossEntropy(), rng.standard_normal((6, 1)) * 3, rng.random(6)),
        ("mse-floats", nn.MeanSquaredError(), rng.standard_normal((5, 3)), rng.standard_normal((5, 3))),
        ("mse-one-output", nn.MeanSquaredError(), rng.standard_normal((5, 1)), rng.standard_normal(5)),
        ("mse-labels", nn.MeanSquaredError(), rng.standard_normal((5, 3)), rng.integers(0, 3, 5)),
    ]


@pytest.mark.parametrize("name, loss, outputs, targets", loss_cases(), ids=[c[0] for c in loss_cases()])
def test_loss_gradients_match_finite_differences(name, loss, outputs, targets):
    n, width = outputs.shape
    loss.check_targets(targets, n, width)
    work = loss.workspace(n, width, np.float64)
    grad = np.empty_like(outputs)
    value = loss.value_and_grad(outputs, targets, grad, work)
    assert value == pytest.approx(loss.value_and_grad(outputs, targets, None, work), rel=1e-15)
    numeric = numerical_gradient(lambda: loss.value_and_grad(outputs, targets, None, work), outputs)
    assert_gradients_close(grad, numeric)


def test_loss_values_match_textbook_formulas():
    rng = np.random.default_rng(3)
    z, y = rng.standard_normal((7, 4)), rng.integers(0, 4, 7)
    log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    ce = nn.SoftmaxCrossEntropy()
    assert ce.value_and_grad(z, y, None, ce.workspace(7, 4, np.float64)) == pytest.approx(
        -log_softmax[np.arange(7), y].mean(), rel=1e-13)

    z1, t = rng.standard_normal((7, 1)), rng.integers(0, 2, 7)
    s = 1 / (1 + np.exp(-z1[:, 0]))
    bce = nn.BinaryCrossEntropy()
    assert bce.value_and_grad(z1, t, None, bce.workspace(7, 1, np.float64)) == pytest.approx(
        np.mean(-t * np.log(s) - (1 - t) * np.log(1 - s)), rel=1e-13)

    target = rng.standard_normal((7, 4))
    mse = nn.MeanSquaredError()
    assert mse.value_and_grad(z, target, None, mse.workspace(7, 4, np.float64)) == pytest.approx(
        np.mean((z - target) ** 2), rel=1e-13)
    onehot = np.eye(4)[y]
    assert mse.value_and_grad(z, y, None, mse.workspace(7, 4, np.float64)) == pytest.approx(
        np.mean((z - onehot) ** 2), rel=1e-13)


def test_losses_are_stable_for_extreme_logits():
    z = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]], dtype=np.float32)
    y = np.array([1, 1])
    ce = nn.SoftmaxCrossEntropy()
    grad = np.empty_like(z)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is harmless
        value = ce.value_and_grad(z, y, grad, ce.workspace(2, 3, np.float32))
    assert value == pytest.approx(1e4 / 2)  # sample 0 pays 1e4, sample 1 nothing
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0], [0, 0, 0]], atol=1e-7)

    zb = np.array([[1e4], [-1e4], [30.0], [-30.0]], dtype=np.float32)
    tb = np.array([0, 1, 1, 0])
    bce = nn.BinaryCrossEntropy()
    gb = np.empty_like(zb)
    with np.errstate(over="raise", invalid="raise"):
        value = bce.value_and_grad(zb, tb, gb, bce.workspace(4, 1, np.float32))
    assert value == pytest.approx(2e4 / 4, rel=1e-6)
    np.testing.assert_allclose(gb[:, 0], [0.25, -0.25, 0, 0], atol=1e-7)


def test_loss_target_checks():
    ce = nn.SoftmaxCrossEntropy()
    with pytest.raises(TypeError, match="targets: expected an integer"):
        ce.check_targets(np.zeros(3), 3, 10)
    with pytest.raises(ValueError, match=r"targets: expected class labels in \[0, 9\]"):
        ce.check_targets(np.array([0, 10, 2]), 3, 10)
    with pytest.raises(ValueError, match="targets: expected shape"):
        ce.check_targets(np.array([0, 1]), 3, 10)
    with pytest.raises(ValueError, match="needs at least 2 outputs"):
        ce.check_width(1)
    with pytest.raises(ValueError, match="exactly 1 output"):
        nn.BinaryCrossEntropy().check_width(2)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        nn.BinaryCrossEntropy().check_targets(np.array([0.5, 1.5]), 2, 1)


# ---- whole models ---------------------------------------------------------------------


def model_gradient_check(model, x, y):
    model.loss_and_grad(x, y)
    analytic = model.flat.grads.copy()
    numeric = numerical_gradient(lambda: model.evaluate(x, y)[0], model.flat.params)
    assert_gradients_close(analytic, numeric)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_two_hidden_layer_mlp_gradient_check(activation):
    rng = np.random.default_rng(4)
    model = nn.mlp(6, hidden=(5, 4), n_classes=3, activation=activation, dtype=np.float64, seed=1)
    model_gradient_check(model, rng.standard_normal((8, 6)), rng.integers(0, 3, 8))


def test_stacked_activations_gradient_check():
    """Consecutive activations each keep their own output for their backward pass."""
    rng = np.random.default_rng(11)
    model = nn.Sequential([nn.Dense(5, 4, init="xavier"), nn.Tanh(), nn.Sigmoid(), nn.ReLU(), nn.Dense(4, 3)],
                          nn.SoftmaxCrossEntropy(), dtype=np.float64, seed=2)
    model_gradient_check(model, rng.standard_normal((6, 5)), rng.integers(0, 3, 6))


def test_mlp_with_mse_and_logistic_regressions_gradient_check():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 6))
    model_gradient_check(nn.mlp(6, (4,), 3, loss="mse", dtype=np.float64), x, rng.integers(0, 3, 8))
    model_gradient_check(nn.logistic_regression(6, 3, dtype=np.float64), x, rng.integers(0, 3, 8))
    binary = nn.binary_logistic_regression(6, dtype=np.float64)
    binary.flat.params[:] *= 5  # confident logits, where a naive sigmoid loss would lose precision
    model_gradient_check(binary, x, rng.integers(0, 2, 8))


def test_parameters_and_gradients_live_in_one_flat_buffer_each():
    model = nn.mlp(10, (7, 5), 3)
    [(params, grads)] = model.parameters()
    assert params is model.flat.params and grads is model.flat.grads
    for layer in model.layers:
        if isinstance(layer, nn.Dense):
            assert np.shares_memory(layer.weight, params) and np.shares_memory(layer.weight_grad, grads)
    assert model.n_parameters == 10 * 7 + 7 + 7 * 5 + 5 + 5 * 3 + 3
    assert model.dtype == np.float32


def test_one_optimizer_step_updates_the_whole_model():
    rng = np.random.default_rng(6)
    model = nn.mlp(10, (8,), 3)
    before = {name: param.copy() for name, param, _ in model.flat.items()}
    optimizer = pyoptim.Adam(model.parameters(), lr=1e-2)
    model.loss_and_grad(rng.random((4, 10), dtype=np.float32), rng.integers(0, 3, 4))
    optimizer.step()
    for name, param, _ in model.flat.items():
        assert np.any(param != before[name]), name


def test_gradients_are_overwritten_not_accumulated():
    rng = np.random.default_rng(7)
    model = nn.mlp(10, (8,), 3)
    x, y = rng.random((5, 10), dtype=np.float32), rng.integers(0, 3, 5)
    model.loss_and_grad(x, y)
    first = model.flat.grads.copy()
    model.loss_and_grad(x, y)
    np.testing.assert_array_equal(model.flat.grads, first)


def test_a_training_step_reuses_its_buffers():
    rng = np.random.default_rng(8)
    model = nn.mlp(784, (128,), 10)
    optimizer = pyoptim.Adam(model.parameters(), lr=1e-3)
    x, y = rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64)
    for _ in range(3):  # warm up: buffers are made on the first step at a batch size
        model.loss_and_grad(x, y)
        optimizer.step()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            model.loss_and_grad(x, y)
            optimizer.step()
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    # One (64, 128) float32 activation alone is 32 KiB; a step allocates none.
    assert peak < 8 * 1024, f"a training step allocated up to {peak} bytes"


def test_seed_fixes_the_initial_weights_for_both_dtypes():
    a, b = nn.mlp(20, (16,), 4, seed=3), nn.mlp(20, (16,), 4, seed=3)
    np.testing.assert_array_equal(a.flat.params, b.flat.params)
    assert not np.array_equal(a.flat.params, nn.mlp(20, (16,), 4, seed=4).flat.params)
    wide = nn.mlp(20, (16,), 4, seed=3, dtype=np.float64)
    for name, param, _ in a.flat.items():
        np.testing.assert_array_equal(wide.flat[name].astype(np.float32), param)


def test_initialisers_have_the_textbook_scale():
    model = nn.Sequential([nn.Dense(1000, 500, init="he"), nn.ReLU(), nn.Dense(500, 400, init="glorot")],
                          nn.SoftmaxCrossEntropy(), dtype=np.float64, seed=0)
    he, xavier = model.layers[0].weight, model.layers[2].weight
    assert he.std() == pytest.approx(np.sqrt(2 / 1000), rel=0.01)
    limit = np.sqrt(6 / (500 + 400))
    assert xavier.max() <= limit and xavier.min() >= -limit and xavier.std() == pytest.approx(limit / np.sqrt(3), rel=0.01)
    assert np.all(model.layers[0].bias == 0)
    assert np.all(nn.Dense(3, 2, init="zeros").init == "zeros")


def test_predict_and_predict_proba():
    rng = np.random.default_rng(9)
    x = rng.random((300, 12), dtype=np.float32)
    model = nn.mlp(12, (8,), 5)
    proba = model.predict_proba(x, batch_size=64)
    assert proba.shape == (300, 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(x, batch_size=7), proba.argmax(axis=1))
    binary = nn.binary_logistic_regression(12)
    p = binary.predict_proba(x)
    assert p.shape == (300, 2)
    np.testing.assert_array_equal(binary.predict(x), (p[:, 1] > 0.5).astype(int))
    with pytest.raises(TypeError, match="predict_proba: a model trained with MeanSquaredError"):
        nn.mlp(12, (8,), 5, loss="mse").predict_proba(x)


def test_evaluate_matches_one_big_batch():
    rng = np.random.default_rng(10)
    x, y = rng.random((250, 12)), rng.integers(0, 5, 250)
    model = nn.mlp(12, (8,), 5, dtype=np.float64)
    loss, accuracy = model.evaluate(x, y, batch_size=64)
    whole_loss, _ = model.evaluate(x, y, batch_size=1000)
    assert loss == pytest.approx(whole_loss, rel=1e-12)
    assert accuracy == np.mean(model.predict(x) == y)


def test_bad_inputs_give_clear_errors():
    model = nn.mlp(12, (8,), 5)
    with pytest.raises(TypeError, match="x: expected dtype float32"):
        model.forward(np.zeros((2, 12)))
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 12\)"):
        model.forward(np.zeros((2, 11), dtype=np.float32))
    with pytest.raises(TypeError, match="x: expected a numpy array"):
        model.forward([[0.0] * 12])
    with pytest.raises(TypeError, match="in_features: expected a positive int"):
        nn.Dense("3", 2)
    with pytest.raises(ValueError, match="out_features: expected a positive int"):
        nn.Dense(3, 0)
    with pytest.raises(ValueError, match="init: expected one of"):
        nn.Dense(3, 2, init="orthogonal")
    with pytest.raises(ValueError, match="activation: expected one of"):
        nn.mlp(12, (8,), 5, activation="gelu")
    with pytest.raises(ValueError, match="Dense: expected an input of width 8"):
        nn.Sequential([nn.Dense(12, 7), nn.Dense(8, 5)], nn.SoftmaxCrossEntropy())
    with pytest.raises(TypeError, match="loss: expected a pyoptim.nn Loss"):
        nn.Sequential([nn.Dense(12, 5)], "cross-entropy")
    with pytest.raises(TypeError, match="dtype: expected float32 or float64"):
        nn.mlp(12, (8,), 5, dtype=np.float16)


# ---- saving and loading ---------------------------------------------------------------


@pytest.mark.parametrize("build", [
    lambda: nn.mlp(12, (8, 6), 5, activation="tanh", seed=2),
    lambda: nn.mlp(12, (7,), 4, activation="sigmoid", dtype=np.float64, seed=3),
    lambda: nn.logistic_regression(12, 3, seed=4),
    lambda: nn.binary_logistic_regression(12, seed=5),
], ids=["mlp-tanh", "mlp-sigmoid-float64", "logreg", "binary-logreg"])
def test_save_load_round_trip(tmp_path, build):
    model = build()
    rng = np.random.default_rng(0)
    for _, param, _ in model.flat.items():  # trained-looking weights, biases included
        param += rng.standard_normal(param.shape).astype(model.dtype)
    x = np.random.default_rng(1).random((40, 12)).astype(model.dtype)
    path = tmp_path / "model.npz"
    model.save(path, metadata={"note": "round trip", "epochs": 3})
    loaded = nn.load_model(path)
    assert loaded.config() == model.config()
    assert loaded.metadata == {"note": "round trip", "epochs": 3}
    np.testing.assert_array_equal(loaded.flat.params, model.flat.params)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary file left behind


def test_model_file_is_plain_npz_with_json_architecture(tmp_path):
    model = nn.mlp(12, (8,), 5)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        architecture = json.loads(str(archive["architecture"]))
        assert architecture["format"] == "pyoptim.nn.Sequential" and architecture["version"] == 1
        assert [layer["type"] for layer in architecture["layers"]] == ["Dense", "ReLU", "Dense"]
        np.testing.assert_array_equal(archive["0.weight"], model.layers[0].weight)
        assert sorted(archive.files) == ["0.bias", "0.weight", "2.bias", "2.weight", "architecture"]


def _rewrite(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("damage", ["garbage", "npy-file", "truncated", "no-architecture", "bad-json", "other-format",
                                    "wrong-shape", "missing-array", "object-array", "unknown-layer"])
def test_loading_a_corrupt_file_gives_a_clear_error(tmp_path, damage):
    path = tmp_path / "model.npz"
    model = nn.mlp(12, (8,), 5)
    model.save(path)
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    architecture = json.loads(str(arrays["architecture"]))
    if damage == "garbage":
        path.write_bytes(b"this is not a model" * 10)
    elif damage == "npy-file":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "no-architecture":
        del arrays["architecture"]
        _rewrite(path, arrays)
    elif damage == "bad-json":
        _rewrite(path, {**arrays, "architecture": np.array("{not json")})
    elif damage == "other-format":
        _rewrite(path, {**arrays, "architecture": np.array(json.dumps({**architecture, "version": 99}))})
    elif damage == "wrong-shape":
        _rewrite(path, {**arrays, "0.weight": np.zeros((3, 3), np.float32)})
    elif damage == "missing-array":
        del arrays["2.bias"]
        _rewrite(path, arrays)
    elif damage == "object-array":
        _rewrite(path, {**arrays, "0.bias": np.array([{"evil": 1}], dtype=object)})
    elif damage == "unknown-layer":
        architecture["layers"][1]["type"] = "Softplus"
        _rewrite(path, {**arrays, "architecture": np.array(json.dumps(architecture))})
    with pytest.raises(nn.ModelFileError, match="not a valid pyoptim model file") as info:
        nn.load_model(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_loading_a_missing_file():
    with pytest.raises(FileNotFoundError, match="no such model file"):
        nn.load_model("/nonexistent/model.npz")


def test_saving_unserialisable_metadata_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match="metadata: expected JSON-able values"):
        nn.mlp(4, (3,), 2).save(tmp_path / "m.npz", metadata={"f": object()})
    assert not list(tmp_path.iterdir())


def test_zip_with_crc_error_is_reported(tmp_path):
    path = tmp_path / "model.npz"
    nn.mlp(12, (8,), 5).save(path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("0.weight.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # flip a byte inside the weights
    path.write_bytes(bytes(data))
    with pytest.raises(nn.ModelFileError, match="not a valid pyoptim model file"):
        nn.load_model(path)
