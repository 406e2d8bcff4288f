"""The validation split carved out of the training images (issue 20)."""

import ml_collections
import numpy as np
import pytest

from mpl_jax.data import datasets
from mpl_jax.data import streams
from mpl_jax.train import checks
from mpl_jax.train import holdout


def _stream(train_subset=0):
  rng = np.random.default_rng(0)
  n, m = 120, 40
  ds = datasets.ArrayDataset(
      name='toy', train_x=rng.integers(0, 256, (n, 4)).astype(np.uint8),
      train_y=np.tile(np.arange(4, dtype=np.int32), n // 4),
      test_x=rng.integers(0, 256, (m, 4)).astype(np.uint8),
      test_y=np.tile(np.arange(4, dtype=np.int32), m // 4),
      image_shape=(2, 2, 1), num_classes=4, max_value=255)
  return streams.split_stream(ds, [0, 1], classes_per_task=2,
                              scenario='domain', train_subset=train_subset)


def test_last_training_images_become_the_evaluation_set():
  stream = _stream(train_subset=50)
  out = holdout.carve_validation(stream, 8)
  ds, old = out.datasets[0], stream.datasets[0]
  # Evaluation reads "test" arrays: they are the training images.
  assert ds.test_x is old.train_x and ds.test_y is old.train_y
  for before, after in zip(stream.tasks, out.tasks):
    np.testing.assert_array_equal(after.train_idx, before.train_idx[:, :-8])
    np.testing.assert_array_equal(after.test_idx, before.train_idx[:, -8:])
    np.testing.assert_array_equal(after.test_y, before.train_y[:, -8:])
    np.testing.assert_array_equal(after.train_y, before.train_y[:, :-8])
    for s in range(2):   # disjoint from training, labels consistent
      assert not set(after.test_idx[s]) & set(after.train_idx[s])
      classes = old.train_y[after.test_idx[s]]
      assert set(classes) <= set(old.train_y[before.train_idx[s]])
  assert holdout.carve_validation(stream, 0) is stream


def test_invalid_validation_sizes_are_refused():
  stream = _stream()
  have = stream.tasks[0].train_idx.shape[1]
  with pytest.raises(ValueError, match='leaves no training image'):
    holdout.carve_validation(stream, have)
  with pytest.raises(ValueError, match='>= 0'):
    holdout.carve_validation(stream, -1)
  c = ml_collections.ConfigDict(dict(data=dict(train_subset=100,
                                               validation=100)))
  with pytest.raises(checks.ConfigError, match='smaller than'):
    holdout.check_config(c)
  c.data.validation = -3
  with pytest.raises(checks.ConfigError, match='>= 0'):
    holdout.check_config(c)
  c.data.validation = 20
  assert holdout.check_config(c) == 20


def test_config_validation_refuses_before_any_data():
  from configs import split_fmnist_tacos  # pylint: disable=g-import-not-at-top
  from mpl_jax.train import validate  # pylint: disable=g-import-not-at-top
  c = split_fmnist_tacos.get_config('all')
  assert c.data.validation == 0
  c.data.train_subset, c.data.validation = 400, 400
  with pytest.raises(checks.ConfigError, match='data.validation'):
    validate.validate_config(c)
  c.data.validation = 100
  validate.validate_config(c)
