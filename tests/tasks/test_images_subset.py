"""data.train_size as the appetite study uses it (issue 30) on the real Fashion-MNIST labels: class-
balanced subsets of the study's sizes, drawn by data.seed, nested within one seed (the 1k images are
among the 3k), and a one-line error for a size larger than the training images left after dev."""

from __future__ import annotations

import numpy as np
import pytest

from attnkit.data.fashion_mnist import FASHION_MNIST_DIR, load_fashion_mnist
from attnkit.data.images import split_indices
from attnkit.errors import ConfigError
from attnkit.tasks import TASKS
from attnkit.tasks.images import FashionConfig

pytestmark = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
)


@pytest.fixture(scope="module")
def labels():
    return load_fashion_mnist("train")[1], load_fashion_mnist("test")[1]


def _train(labels, size, seed):
    return split_indices(*labels, seed=seed, dev_size=5000, train_size=size)


def test_study_sizes_are_class_balanced_and_held_out_of_dev(labels):
    for size in (1000, 3000, 10000):
        parts = _train(labels, size, seed=1)
        assert np.bincount(labels[0][parts["train"]], minlength=10).tolist() == [size // 10] * 10
        assert not np.intersect1d(parts["train"], parts["dev"]).size
    everything = _train(labels, 55000, seed=1)["train"]  # the largest size: every image not in dev
    assert len(everything) == 55000 and len(np.unique(everything)) == 55000


def test_subsets_follow_the_seed_and_nest_within_one_seed(labels):
    small, large = _train(labels, 1000, seed=2), _train(labels, 3000, seed=2)
    np.testing.assert_array_equal(small["train"], _train(labels, 1000, seed=2)["train"])
    assert np.isin(small["train"], large["train"]).all()  # one seed: 1k inside 3k
    np.testing.assert_array_equal(small["dev"], large["dev"])  # and the same dev images
    other = _train(labels, 1000, seed=3)["train"]
    assert len(np.intersect1d(other, small["train"])) < 200  # another seed: another draw (~1000 * 1000 / 55000 shared)


def test_a_size_larger_than_the_training_images_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        TASKS.get("fashion-mnist").build(FashionConfig(dev_size=5000, train_size=55001), tmp_path)
    message = str(err.value)
    assert "data.dev_size + data.train_size must stay within the 60000 training images" in message
    assert "\n" not in message
