"""Damaged checkpoints: random truncations, single-bit flips anywhere (the zip
directory included) and hand-made inconsistent files each give a CheckpointError
naming the file, and change nothing: not the model, not the optimizer, not the
schedule. Also: killed writes leave temporary files that the next successful
write removes."""

import hashlib
import json
import os
import time
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyoptim
from pyoptim import lr_scheduler, nn
from pyoptim._atomic import STALE_AFTER, TEMP_SUFFIX
from pyoptim.train import CheckpointError, load_checkpoint, save_checkpoint


def trained():
    model = nn.mlp(6, (5,), 3, seed=1)
    opt = pyoptim.NAdam(model.parameters(), lr=1e-2)
    sched = lr_scheduler.StepLR(opt, step_size=2)
    rng = np.random.default_rng(0)
    for _ in range(3):
        model.flat.grads[...] = rng.standard_normal(model.flat.grads.shape).astype(model.flat.grads.dtype)
        opt.step()
        sched.step()
    return model, opt, sched


def fresh():
    model = nn.mlp(6, (5,), 3, seed=2)
    opt = pyoptim.NAdam(model.parameters(), lr=1e-2)
    return model, opt, lr_scheduler.StepLR(opt, step_size=2)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.ckpt"
    model, opt, sched = trained()
    save_checkpoint(path, model=model, optimizer=opt, scheduler=sched, training={"epoch": 3})
    return path.read_bytes()


def snapshot(model, opt, sched):
    return model.get_weights().copy(), opt.state_dict(), sched.state_dict()


def assert_unchanged(before, after):
    assert before[0].tobytes() == after[0].tobytes()
    for (i, a), (j, b) in zip(sorted(before[1]["state"].items()), sorted(after[1]["state"].items())):
        assert i == j and a.keys() == b.keys()
        assert all((x.tobytes() == y.tobytes()) if isinstance(x, np.ndarray) else x == y
                   for x, y in zip(a.values(), b.values()))
    assert before[1]["param_groups"] == after[1]["param_groups"] and before[2] == after[2]


def refused(path):
    model, opt, sched = fresh()
    before = snapshot(model, opt, sched)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model=model, optimizer=opt, scheduler=sched)
    assert str(path) in str(info.value)
    assert_unchanged(before, snapshot(model, opt, sched))
    return info.value


def test_the_good_file_loads(good, tmp_path):
    path = tmp_path / "x.ckpt"
    path.write_bytes(good)
    model, opt, sched = fresh()
    assert load_checkpoint(path, model=model, optimizer=opt, scheduler=sched)["epoch"] == 3
    assert np.array_equal(model.get_weights(), trained()[0].get_weights())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_truncations_and_bit_flips_are_refused(good, tmp_path, data):
    damaged = bytearray(good)
    if data.draw(st.booleans(), label="truncate"):
        damaged = damaged[:data.draw(st.integers(0, len(good) - 1), label="length")]
    else:
        at = data.draw(st.integers(0, len(good) - 1), label="byte")
        damaged[at] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    path = tmp_path / "damaged.ckpt"
    path.write_bytes(bytes(damaged))
    refused_or_intact(path)


def refused_or_intact(path):
    """Either a CheckpointError naming the file with nothing changed, or (a flip in
    bytes no reader uses, such as a header's version field) exactly the good state."""
    model, opt, sched = fresh()
    before = snapshot(model, opt, sched)
    try:
        load_checkpoint(path, model=model, optimizer=opt, scheduler=sched)
    except CheckpointError as e:
        assert str(path) in str(e)
        assert_unchanged(before, snapshot(model, opt, sched))
        return
    assert_unchanged(snapshot(*trained()), snapshot(model, opt, sched))


def test_every_bit_of_the_zip_directory(good, tmp_path):
    """The central directory says which members there are: flips there once loaded
    different content silently."""
    directory = good.find(b"PK\x01\x02")
    assert directory > 0
    for at in range(directory, len(good), 3):
        damaged = bytearray(good)
        damaged[at] ^= 0x10
        path = tmp_path / f"flip{at}.ckpt"
        path.write_bytes(bytes(damaged))
        refused_or_intact(path)


def rewritten(good, tmp_path, edit, name="edited.ckpt"):
    """`good` with its meta edited by `edit` and the digest recomputed, as a buggy
    writer would produce: the integrity check passes, the content is inconsistent."""
    source = tmp_path / "source.ckpt"
    source.write_bytes(good)
    with np.load(source, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(str(arrays.pop("meta")))
    arrays.pop("digest")
    edit(meta, arrays)
    text = json.dumps(meta)
    path = tmp_path / name
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(text), digest=np.array(hashlib.sha256(text.encode()).hexdigest()), **arrays)
    return path


def _describe(a):
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "sha256": hashlib.sha256(a.tobytes()).hexdigest()}


def _rename_array(meta, arrays, old, new):
    arrays[new] = arrays.pop(old)
    meta["arrays"][new] = meta["arrays"].pop(old)


INCONSISTENT = {
    "scheduler state not a dict": lambda m, a: m["scheduler"].__setitem__("state", [1, 2]),
    "scheduler state with unknown keys": lambda m, a: m["scheduler"]["state"].__setitem__("bogus", 1),
    "another optimizer": lambda m, a: m["optimizer"].__setitem__("class", "Adam"),
    "optimizer meta not a dict": lambda m, a: m.__setitem__("optimizer", "NAdam"),
    "malformed array name": lambda m, a: _rename_array(m, a, "optimizer/0/exp_avg", "optimizer/x/exp_avg"),
    "array renamed to an unknown one": lambda m, a: _rename_array(m, a, "optimizer/0/exp_avg", "extra/thing"),
    "a field missing": lambda m, a: m.pop("training"),
    "step count negative": lambda m, a: m["optimizer"]["state"]["0"].__setitem__("step", -5),
    "mu_product NaN": lambda m, a: m["optimizer"]["state"]["0"].__setitem__("mu_product", float("nan")),
    "training state not an object": lambda m, a: m.__setitem__("training", [1]),
    "weights of another shape": lambda m, a: (a.__setitem__("model/weights", a["model/weights"][:-1]),
                                               m["arrays"].__setitem__("model/weights", _describe(a["model/weights"]))),
}


@pytest.mark.parametrize("kind", sorted(INCONSISTENT))
def test_inconsistent_files_are_refused_whole(good, tmp_path, kind):
    refused(rewritten(good, tmp_path, INCONSISTENT[kind]))


def test_a_member_swapped_in_the_archive_fails_the_integrity_check(good, tmp_path):
    path = tmp_path / "swapped.ckpt"
    path.write_bytes(good)
    with zipfile.ZipFile(path, "a") as z:  # a second member of the same name: readers take the last
        with z.open("model/weights.npy", "w") as f:
            np.lib.format.write_array(f, np.zeros_like(trained()[0].get_weights()))
    assert "integrity" in str(refused(path))


def test_killed_writes_leave_temps_the_next_write_removes(tmp_path):
    model, opt, sched = trained()
    path = tmp_path / "run.ckpt"
    stale = [tmp_path / f".run.ckpt.{k:08x}{TEMP_SUFFIX}" for k in range(3)]
    for s in stale:
        s.write_bytes(b"half a checkpoint")
        os.utime(s, (time.time() - 2 * STALE_AFTER,) * 2)
    recent = tmp_path / f".run.ckpt.0000000f{TEMP_SUFFIX}"  # as if another write were under way
    recent.write_bytes(b"in progress")
    other = tmp_path / f".other.ckpt.00000001{TEMP_SUFFIX}"
    other.write_bytes(b"not this file's")
    os.utime(other, (time.time() - 2 * STALE_AFTER,) * 2)
    save_checkpoint(path, model=model, optimizer=opt, scheduler=sched)
    assert not any(s.exists() for s in stale)
    assert recent.exists() and other.exists() and path.exists()
