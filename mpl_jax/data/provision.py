r"""Obtaining TFDS datasets once, without TensorFlow: offline files, downloads.

:func:`prepare_dataset` makes ``mnist``, ``fashion_mnist``, ``cifar10`` or
``cifar100`` available in a TFDS data directory as the official TFDS dataset
(same name, version, features and split sizes), written as **ArrayRecord**
files, so that :func:`mpl_jax.data.datasets.load_dataset` reads it with
``tfds.data_source`` and never imports TensorFlow.

How it is prepared without TensorFlow. TFDS's official builders read their
downloaded files through ``tf.io.gfile`` and encode images with
``tf.image.encode_png``. The builders here subclass the official ones (keeping
their ``DatasetInfo``, URLs and registered checksums) and replace only the file
reading: the files are fetched with TFDS's download manager
(``dl_manager.download``, checksum-verified, no extraction), parsed with
Python's ``gzip``/``tarfile`` and numpy, and images are given to TFDS as
``PIL.Image`` objects, which its ``Image`` feature encodes as PNG with Pillow.
``builder.download_and_prepare(file_format='array_record')`` then writes the
dataset, a path TFDS itself tests without TensorFlow (its
``import_without_tf_test``). Example keys are the official ones, so the
examples are stored in the same order as an official build; decoded pixels
and labels are identical (PNG bytes differ, the encoder does).

Where the files come from:

* ``fashion_mnist`` offline, from Debian's package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist/*.gz``): Debian stripped two gzip header
  fields; :func:`restore_debian_fashion_mnist` restores them, which makes the
  files byte-identical to upstream's (checked against TFDS's registered
  SHA-256), and writes them to the dataset's manual directory.
* otherwise from the official URLs, when :func:`network_reachable` can open a
  connection to their hosts within a few seconds (TFDS itself would retry for
  about 200 s on an offline machine).

A dataset that cannot be obtained raises one :class:`DatasetNotFoundError`
that says how to get it.

Example:
  >>> prepare_dataset('fashion_mnist', data_dir='/tmp/tfds')  # doctest: +SKIP
  '/tmp/tfds/fashion_mnist/3.0.1'

References:
  https://www.tensorflow.org/datasets/api_docs/python/tfds/data_source
  https://www.tensorflow.org/datasets/add_dataset (GeneratorBasedBuilder)
  Xiao, Rasul & Vollgraf (2017), Fashion-MNIST, arXiv:1708.07747.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import os
import shutil
import socket
import tarfile
import urllib.parse
import urllib.request
from typing import Iterable, Iterator, Optional, Union

from absl import logging
import numpy as np

PathLike = Union[str, os.PathLike]

# Datasets prepared from TFDS's official definitions (without TensorFlow).
TFDS_DATASETS = ('mnist', 'fashion_mnist', 'cifar10', 'cifar100')

# The file format written and read (random access, no TensorFlow needed).
FILE_FORMAT = 'array_record'

# Where Debian's ``dataset-fashion-mnist`` package installs its files.
DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'

# The four (Fashion-)MNIST files, and the gzip MTIME the Fashion-MNIST ones
# carry upstream (Debian zeroes it and drops the file name; see DATA.md).
IDX_FILES = {
    'train_images': 'train-images-idx3-ubyte.gz',
    'train_labels': 'train-labels-idx1-ubyte.gz',
    'test_images': 't10k-images-idx3-ubyte.gz',
    'test_labels': 't10k-labels-idx1-ubyte.gz',
}
_FASHION_MNIST_MTIME = {
    'train-images-idx3-ubyte.gz': 1504176606,
    'train-labels-idx1-ubyte.gz': 1504176606,
    't10k-images-idx3-ubyte.gz': 1504176627,
    't10k-labels-idx1-ubyte.gz': 1504176627,
}

# CIFAR binary archives (TFDS cifar10 / cifar100 3.0.2): one record is the
# label byte(s), then 3 x 32 x 32 pixels in CHW order.
_CIFAR = {
    'cifar10': dict(
        url='https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
        prefix='cifar-10-batches-bin/',
        train_files=tuple(f'data_batch_{i}.bin' for i in range(1, 6)),
        test_files=('test_batch.bin',),
        label_files=('batches.meta.txt',),
        label_keys=('label',)),
    'cifar100': dict(
        url='https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
        prefix='cifar-100-binary/',
        train_files=('train.bin',),
        test_files=('test.bin',),
        label_files=('coarse_label_names.txt', 'fine_label_names.txt'),
        label_keys=('coarse_label', 'label')),
}
_CIFAR_SIDE = 32

# Seconds allowed to open a TCP connection to a download host before the
# network is declared unreachable.
NETWORK_PROBE_TIMEOUT_S = 3.0


class DatasetError(RuntimeError):
  """A dataset cannot be obtained or read; the message says what to do."""


class DatasetNotFoundError(DatasetError):
  """A dataset is not prepared locally and could not be obtained."""


class DatasetReadError(DatasetError):
  """A prepared dataset's files cannot be read (damaged or incomplete).

  The message is one line naming the dataset, the split, the file and the
  command that prepares the dataset again (:func:`rebuild_command`).
  """


def rebuild_command(name: str, data_dir: PathLike) -> str:
  """The command that deletes and prepares ``name`` again in ``data_dir``."""
  return (f'python3 -m launch.prepare_data --dataset={name} '
          f'--data_dir={os.fspath(data_dir)} --force')


# ---------------------------------------------------------------------------
# Public entry points.


def prepare_dataset(name: str, *, data_dir: Optional[PathLike] = None,
                    source_dir: PathLike = DEBIAN_FASHION_MNIST_DIR,
                    force: bool = False) -> str:
  """Makes sure a TFDS dataset is prepared in ``data_dir``; returns its path.

  Does nothing if it is already prepared (in any file format), unless
  ``force``. Otherwise it is prepared, in this order of preference:

  1. offline from the original files, when all of them are in the manual
     directory ``<data_dir>/downloads/manual/<name>/`` (copied there by
     hand, see :func:`manual_dir_of`);
  2. ``fashion_mnist``: offline from Debian's files when they are in
     ``source_dir`` (:func:`prepare_fashion_mnist_offline`);
  3. by download from the official URLs, when their hosts can be reached.

  Every file's size and SHA-256 are checked against TFDS's registered
  checksums. Preparation writes ArrayRecord files and does not import
  TensorFlow.

  Args:
    name: one of :data:`TFDS_DATASETS`.
    data_dir: TFDS data directory (None: TFDS's default, ``$TFDS_DATA_DIR``,
      else ``~/tensorflow_datasets``).
    source_dir: ``fashion_mnist`` only: where Debian's four ``*-ubyte.gz``
      files are.
    force: delete the prepared dataset (its folder ``<data_dir>/<name>/
      <version>``, nothing else) and prepare it again, e.g. after a
      :class:`DatasetReadError`. The original files kept in the manual
      directory are reused, so Fashion-MNIST is rebuilt offline.

  Returns:
    The prepared dataset's directory (``<data_dir>/<name>/<version>``).

  Raises:
    ValueError: ``name`` is not one of :data:`TFDS_DATASETS`.
    DatasetNotFoundError: it cannot be obtained; the message says how.
  """
  if name not in TFDS_DATASETS:
    raise ValueError(f'{name!r} is not a TFDS dataset mpl_jax prepares; '
                     f'valid names: {", ".join(TFDS_DATASETS)}.')
  tfds = import_tfds()
  data_dir = normalize_dir(data_dir)
  if force:
    # Before tfds.builder, which fails on damaged metadata.
    root = data_dir or os.fspath(tfds.core.constants.DATA_DIR)
    prepared = os.path.join(root, name, str(builder_class(name).VERSION))
    if os.path.isdir(prepared):
      logging.info('Deleting %s to prepare %s again.', prepared, name)
      shutil.rmtree(prepared)
  builder = tfds.builder(name, data_dir=data_dir)
  if builder.is_prepared():
    return os.fspath(builder.data_dir)
  where = data_dir or os.fspath(builder.data_dir_root)
  manual_dir = manual_dir_of(name, builder.data_dir_root)
  if _has_all_files(name, manual_dir):
    logging.info('%s is not prepared in %s; preparing it from the files in '
                 '%s.', name, where, manual_dir)
    try:
      return _download_and_prepare(name, data_dir, manual_dir=manual_dir)
    except Exception as e:  # pylint: disable=broad-except
      raise DatasetNotFoundError(how_to_get(
          name, where, f'preparing it from {manual_dir} failed '
          f'({type(e).__name__}: {e})')) from e
  if name == 'fashion_mnist' and has_debian_fashion_mnist(source_dir):
    logging.info('fashion_mnist is not prepared in %s; preparing it from '
                 "Debian's files in %s.", where, source_dir)
    return prepare_fashion_mnist_offline(data_dir, source_dir=source_dir)
  urls = list(builder_class(name).url_infos or {})
  if not network_reachable(urls):
    raise DatasetNotFoundError(how_to_get(
        name, where, 'it is not prepared there and its download hosts '
        f'({", ".join(sorted(_hosts(urls))) or "unknown"}) cannot be reached'))
  logging.info('%s is not prepared in %s; downloading and preparing it.',
               name, where)
  try:
    return _download_and_prepare(name, data_dir, manual_dir=manual_dir)
  except Exception as e:  # pylint: disable=broad-except
    raise DatasetNotFoundError(how_to_get(
        name, where, f'downloading it failed ({type(e).__name__}: {e})')
    ) from e


def prepare_fashion_mnist_offline(
    data_dir: Optional[PathLike] = None, *,
    source_dir: PathLike = DEBIAN_FASHION_MNIST_DIR) -> str:
  """Prepares TFDS's ``fashion_mnist`` from Debian's files, offline, no TF.

  Restores the upstream files into ``<data_dir>/downloads/manual/
  fashion_mnist/`` (:func:`restore_debian_fashion_mnist`), then prepares the
  dataset from that manual directory: TFDS's download manager finds every
  file there and checks its registered checksum, so nothing is downloaded.
  Does nothing if the dataset is already prepared.

  Args:
    data_dir: TFDS data directory (None: TFDS's default).
    source_dir: where Debian's four ``*-ubyte.gz`` files are.

  Returns:
    The prepared dataset's directory (``<data_dir>/fashion_mnist/<version>``).

  Raises:
    DatasetNotFoundError: the files are missing or wrong, or preparation
      failed.
  """
  tfds = import_tfds()
  data_dir = normalize_dir(data_dir)
  builder = tfds.builder('fashion_mnist', data_dir=data_dir)
  if builder.is_prepared():
    logging.info('fashion_mnist is already prepared in %s.', builder.data_dir)
    return os.fspath(builder.data_dir)
  manual_dir = manual_dir_of('fashion_mnist', builder.data_dir_root)
  restore_debian_fashion_mnist(manual_dir, source_dir=source_dir)
  logging.info('Preparing fashion_mnist in %s from %s (offline).',
               builder.data_dir_root, manual_dir)
  try:
    return _download_and_prepare('fashion_mnist', data_dir,
                                 manual_dir=manual_dir)
  except Exception as e:  # pylint: disable=broad-except
    raise DatasetNotFoundError(
        f'Preparing fashion_mnist from {manual_dir} failed: '
        f'{type(e).__name__}: {e}') from e


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
    manual_dir: destination (:func:`prepare_fashion_mnist_offline` uses
      ``manual_dir_of('fashion_mnist', data_dir)``).
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


def manual_dir_of(name: str, data_dir: PathLike) -> str:
  """Where the original files of ``name`` are looked for, offline.

  ``<data_dir>/downloads/manual/<name>/``: one folder per dataset, because
  MNIST and Fashion-MNIST files have the same names (TFDS's shared default
  ``<data_dir>/downloads/manual/`` would hand one dataset's files to the
  other's checksum check, which fails).

  Args:
    name: dataset name.
    data_dir: TFDS data directory (not None).
  """
  return os.path.join(os.fspath(data_dir), 'downloads', 'manual', name)


def has_debian_fashion_mnist(
    source_dir: PathLike = DEBIAN_FASHION_MNIST_DIR) -> bool:
  """Whether Debian's four Fashion-MNIST files are in ``source_dir``."""
  return all(os.path.isfile(os.path.join(os.fspath(source_dir), f))
             for f in _FASHION_MNIST_MTIME)


def how_to_get(name: str, where: str, reason: str) -> str:
  """The message of :class:`DatasetNotFoundError`: why, and how to get it."""
  lines = [
      f'Dataset {name!r} is not available in TFDS data_dir {where}: {reason}.',
      'To get it:',
      f'  * on a machine with internet access, run `python -m '
      f'launch.prepare_data --dataset={name} --data_dir={where}` (or simply '
      'run with network access: it is downloaded and prepared '
      f'automatically; with TensorFlow installed, `tfds build {name} '
      f'--file_format=array_record --data_dir={where}` does the same), then '
      f'copy {os.path.join(where, name)} here if needed;',
  ]
  files = ', '.join(sorted(_file_names(name)))
  lines.append(
      f'  * offline with the original files ({files}): copy them into '
      f'{manual_dir_of(name, where)}/ and run again;')
  if name == 'fashion_mnist':
    lines.append(
        '  * offline on Debian/Ubuntu: `apt-get install dataset-fashion-mnist` '
        f'(installs {DEBIAN_FASHION_MNIST_DIR}/*.gz), then `python -m '
        f'launch.prepare_data --dataset=fashion_mnist --data_dir={where}`;')
  lines.append('  * for quick offline runs use a bundled dataset: digits, '
               'mnist_5k.')
  return '\n'.join(lines)


def network_reachable(urls: Iterable[str],
                      timeout: float = NETWORK_PROBE_TIMEOUT_S) -> bool:
  """Whether a TCP connection opens to every host (or proxy) of ``urls``.

  TFDS retries a failing download 10 times with exponential backoff (about
  200 s offline), so this quick probe decides first whether to try at all.
  Without known URLs, it probes TFDS's usual host. Proxies from the
  environment (``https_proxy``, ...) are honoured.
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


def import_tfds():
  """Imports tensorflow-datasets (which does not import TensorFlow itself)."""
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        'MNIST, Fashion-MNIST and CIFAR need tensorflow-datasets: '
        '`pip install "mpl_jax[data]"` (TensorFlow is not needed).') from e
  return tfds


def normalize_dir(data_dir: Optional[PathLike]) -> Optional[str]:
  """Absolute path with ``~`` expanded, or None."""
  if data_dir is None:
    return None
  return os.path.abspath(os.path.expanduser(os.fspath(data_dir)))


# ---------------------------------------------------------------------------
# TensorFlow-free builders.


def builder_class(name: str):
  """The TensorFlow-free builder class of TFDS dataset ``name``.

  A subclass of TFDS's official builder (same name, version, features and
  registered checksums) that reads the downloaded files with Python and numpy.
  It is not registered with TFDS: ``tfds.builder(name)`` stays the official
  class, which reads what this one prepares.

  Args:
    name: one of :data:`TFDS_DATASETS`.

  Returns:
    A ``tfds.core.GeneratorBasedBuilder`` subclass.
  """
  if name not in TFDS_DATASETS:
    raise ValueError(f'No TensorFlow-free builder for {name!r}; valid names: '
                     f'{", ".join(TFDS_DATASETS)}.')
  return _builder_classes()[name]


def _file_names(name: str) -> list[str]:
  """The original files of ``name`` (as TFDS registers them)."""
  infos = builder_class(name).url_infos or {}
  return [info.filename or os.path.basename(urllib.parse.urlsplit(url).path)
          for url, info in infos.items()]


def _has_all_files(name: str, manual_dir: str) -> bool:
  """Whether every original file is in ``manual_dir`` (names only: TFDS
  checks their sizes and SHA-256 when it prepares)."""
  names = _file_names(name)
  return bool(names) and all(os.path.isfile(os.path.join(manual_dir, n))
                             for n in names)


def _download_and_prepare(name: str, data_dir: Optional[str], *,
                          manual_dir: Optional[str] = None) -> str:
  tfds = import_tfds()
  builder = builder_class(name)(data_dir=data_dir)
  config = tfds.download.DownloadConfig(manual_dir=manual_dir)
  builder.download_and_prepare(file_format=FILE_FORMAT,
                               download_config=config)
  logging.info('%s prepared in %s.', name, builder.data_dir)
  return os.fspath(builder.data_dir)


@functools.cache
def _builder_classes():
  """Defines the builders on first use (importing TFDS takes ~1 s)."""
  tfds = import_tfds()
  official = tfds.image_classification

  class Mnist(official.MNIST, skip_registration=True):
    """TFDS ``mnist``, generated without TensorFlow."""
    name = 'mnist'
    url_infos = official.MNIST.url_infos

    def _split_generators(self, dl_manager):
      return _idx_split_generators(self, dl_manager)

    def _generate_examples(self, images_path, labels_path):
      return _idx_examples(images_path, labels_path)

  class FashionMnist(official.FashionMNIST, skip_registration=True):
    """TFDS ``fashion_mnist``, generated without TensorFlow."""
    name = 'fashion_mnist'
    url_infos = official.FashionMNIST.url_infos

    def _split_generators(self, dl_manager):
      return _idx_split_generators(self, dl_manager)

    def _generate_examples(self, images_path, labels_path):
      return _idx_examples(images_path, labels_path)

  class Cifar10(official.Cifar10, skip_registration=True):
    """TFDS ``cifar10``, generated without TensorFlow."""
    name = 'cifar10'
    url_infos = official.Cifar10.url_infos

    def _split_generators(self, dl_manager):
      return _cifar_split_generators(self, dl_manager)

    def _generate_examples(self, archive, split):
      return _cifar_examples(self.name, archive, split)

  class Cifar100(official.Cifar100, skip_registration=True):
    """TFDS ``cifar100``, generated without TensorFlow."""
    name = 'cifar100'
    url_infos = official.Cifar100.url_infos

    def _split_generators(self, dl_manager):
      return _cifar_split_generators(self, dl_manager)

    def _generate_examples(self, archive, split):
      return _cifar_examples(self.name, archive, split)

  return {'mnist': Mnist, 'fashion_mnist': FashionMnist, 'cifar10': Cifar10,
          'cifar100': Cifar100}


def _idx_split_generators(builder, dl_manager):
  """Downloads (or finds in the manual dir) the four IDX files, verified."""
  paths = dl_manager.download(
      {key: urllib.parse.urljoin(builder.URL, fname)
       for key, fname in IDX_FILES.items()})
  generate = builder._generate_examples  # pylint: disable=protected-access
  return {split: generate(paths[f'{split}_images'], paths[f'{split}_labels'])
          for split in ('train', 'test')}


def read_idx(path: PathLike) -> np.ndarray:
  """Reads a gzipped IDX file (the MNIST format) as a uint8 array.

  Header: two zero bytes, the type code ``0x08`` (unsigned byte), the number
  of dimensions, then each size as a big-endian uint32.

  Args:
    path: a ``*-ubyte.gz`` file.

  Returns:
    ``uint8`` array of the stored shape (``[N, 28, 28]`` or ``[N]``).
  """
  with gzip.open(os.fspath(path), 'rb') as f:
    data = f.read()
  if len(data) < 4 or data[:3] != b'\x00\x00\x08' or not 1 <= data[3] <= 4:
    raise ValueError(f'{path} is not an unsigned-byte IDX file.')
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big')
                for i in range(ndim))
  offset = 4 + 4 * ndim
  if len(data) != offset + int(np.prod(shape)):
    raise ValueError(f'{path}: {len(data) - offset} data bytes for shape '
                     f'{shape}.')
  return np.frombuffer(data, np.uint8, offset=offset).reshape(shape)


def _idx_examples(images_path, labels_path) -> Iterator[tuple[int, dict]]:
  """Yields ``(index, {'image': PIL image, 'label': int})`` as TFDS's MNIST."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  images, labels = read_idx(images_path), read_idx(labels_path)
  if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
    raise ValueError(f'{images_path}, {labels_path}: images {images.shape} '
                     f'and labels {labels.shape} do not match.')
  for index, (image, label) in enumerate(zip(images, labels)):
    yield index, {'image': Image.fromarray(image),
                  'label': int(label)}


def _cifar_split_generators(builder, dl_manager):
  """Downloads the archive (verified) and reads the label names from it."""
  spec = _CIFAR[builder.name]
  archive = dl_manager.download(spec['url'])
  members = _read_tar_members(
      archive, [spec['prefix'] + f for f in spec['label_files']])
  for key, fname in zip(spec['label_keys'], spec['label_files']):
    text = members[spec['prefix'] + fname].decode('utf-8')
    builder.info.features[key].names = [n for n in text.split('\n') if n]
  generate = builder._generate_examples  # pylint: disable=protected-access
  return {split: generate(archive, split) for split in ('train', 'test')}


def _cifar_examples(name: str, archive, split: str
                    ) -> Iterator[tuple[int, dict]]:
  """Yields CIFAR examples as TFDS's ``cifar10``/``cifar100`` do."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  spec = _CIFAR[name]
  files = [spec['prefix'] + f for f in spec[f'{split}_files']]
  members = _read_tar_members(archive, files)
  label_keys = spec['label_keys']
  index = 0  # TFDS keys CIFAR examples by their index, as here.
  for fname in files:
    labels, images = parse_cifar_binary(members[fname], len(label_keys))
    for label, image in zip(labels, images):
      record = {key: int(value) for key, value in zip(label_keys, label)}
      record['id'] = f'{split}_{index:05d}'
      record['image'] = Image.fromarray(image)
      yield index, record
      index += 1


def parse_cifar_binary(data: bytes, num_labels: int
                       ) -> tuple[np.ndarray, np.ndarray]:
  """Parses a CIFAR binary batch: ``num_labels`` bytes then CHW pixels.

  Args:
    data: the file's bytes.
    num_labels: 1 for CIFAR-10, 2 (coarse, fine) for CIFAR-100.

  Returns:
    ``(labels uint8[N, num_labels], images uint8[N, 32, 32, 3])`` (HWC).
  """
  pixels = 3 * _CIFAR_SIDE * _CIFAR_SIDE
  record = num_labels + pixels
  if len(data) % record:
    raise ValueError(f'CIFAR batch of {len(data)} bytes is not a multiple of '
                     f'the {record}-byte record.')
  table = np.frombuffer(data, np.uint8).reshape(-1, record)
  images = table[:, num_labels:].reshape(-1, 3, _CIFAR_SIDE, _CIFAR_SIDE)
  return table[:, :num_labels], np.ascontiguousarray(
      images.transpose(0, 2, 3, 1))


def _read_tar_members(archive, names: list[str]) -> dict[str, bytes]:
  """Reads the named members of a (gzipped) tar archive in one pass."""
  wanted, out = set(names), {}
  with tarfile.open(os.fspath(archive), 'r:*') as tar:
    for member in tar:
      if member.name in wanted and member.isfile():
        out[member.name] = tar.extractfile(member).read()
  missing = wanted - set(out)
  if missing:
    raise ValueError(f'{archive} lacks {", ".join(sorted(missing))}.')
  return out


# ---------------------------------------------------------------------------
# Fashion-MNIST gzip headers and TFDS's checksums.


def _hosts(urls: Iterable[str]) -> set[str]:
  return {urllib.parse.urlsplit(u).hostname or '' for u in urls} - {''}


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
