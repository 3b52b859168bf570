"""pyoptim.num_threads: a block with its own kernel thread count, restored after."""

import pytest

import pyoptim


@pytest.fixture
def one_thread():
    """Start from one kernel thread (whatever the machine), so that a change is visible."""
    previous = pyoptim.get_num_threads()
    pyoptim.set_num_threads(1)
    yield
    pyoptim.set_num_threads(previous)


def test_the_block_runs_with_the_count_and_the_previous_one_comes_back(one_thread):
    with pyoptim.num_threads(2):
        assert pyoptim.get_num_threads() == 2
    assert pyoptim.get_num_threads() == 1


def test_the_count_is_restored_when_the_block_raises(one_thread):
    with pytest.raises(RuntimeError, match="inside"):
        with pyoptim.num_threads(2):
            raise RuntimeError("inside")
    assert pyoptim.get_num_threads() == 1


def test_none_leaves_the_count_alone(one_thread):
    with pyoptim.num_threads(None):
        assert pyoptim.get_num_threads() == 1
        pyoptim.set_num_threads(2)  # a change made inside the block is undone too
    assert pyoptim.get_num_threads() == 1


@pytest.mark.parametrize("bad, error", [(0, ValueError), (True, TypeError), (1.5, TypeError)])
def test_a_bad_count_is_refused_and_changes_nothing(one_thread, bad, error):
    with pytest.raises(error, match="threads"):
        with pyoptim.num_threads(bad):
            pass
    assert pyoptim.get_num_threads() == 1
