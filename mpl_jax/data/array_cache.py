"""A cache of decoded TFDS datasets as numpy arrays, derived and disposable.

Reading a prepared TFDS dataset decodes every stored PNG image (Fashion-MNIST:
70,000 images, about 13-18 s of CPU). The first load therefore stores the
decoded arrays in one uncompressed ``.npz`` file, and later loads read that
file instead (well under a second). TFDS stays the source: the cache holds
nothing the prepared files do not, it can be deleted at any time, and it is
rebuilt from them whenever it does not match them.

What "match" means. Each cache file records a fingerprint of what it was
decoded from: the dataset's name and version, the SHA-256 of the prepared
``dataset_info.json`` and ``features.json`` (split names, shard lengths,
features), and the size and SHA-256 of every data file of each split (the
``filepaths`` TFDS lists for the split). A load recomputes the fingerprint
(hashing Fashion-MNIST's 43 MB takes ~0.04 s) and uses the cache only if it is
equal, so a changed, damaged or re-prepared dataset is read and decoded again.
The cache file also stores the SHA-256 of each array, checked on every hit, so
a damaged cache file is detected (and replaced) rather than trusted.

Where. ``<data_dir>/mpl_jax_arrays/<name>-<version>.npz`` beside TFDS's own
folders, or in ``$MPL_JAX_ARRAY_CACHE_DIR`` when that is set (for a shared,
read-only ``data_dir``). Files are written atomically (a temporary file in the
same folder, fsynced, then renamed), so a killed process or two processes
writing at once never leave a half-written cache. A folder that cannot be
written costs one warning line and the load goes on without the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from typing import Any, Optional

from absl import logging
import numpy as np

# Environment variable naming another folder for the cache files.
CACHE_DIR_ENV = 'MPL_JAX_ARRAY_CACHE_DIR'
# Folder name inside a TFDS data directory.
CACHE_SUBDIR = 'mpl_jax_arrays'
# Bumped when what is stored (or how it is decoded) changes.
FORMAT_VERSION = 1

ARRAY_KEYS = ('train_x', 'train_y', 'test_x', 'test_y')
_META_KEY = 'meta'


def cache_path(builder) -> str:
  """The cache file of a TFDS builder's dataset (which need not exist)."""
  folder = os.environ.get(CACHE_DIR_ENV) or os.path.join(
      os.fspath(builder.data_dir_root), CACHE_SUBDIR)
  return os.path.join(os.path.abspath(os.path.expanduser(folder)),
                      f'{builder.name}-{builder.info.version}.npz')


def fingerprint(builder, splits=('train', 'test')) -> Optional[dict]:
  """What the cache must match: metadata and every data file's SHA-256.

  Args:
    builder: a prepared TFDS builder.
    splits: the splits whose files are read.

  Returns:
    A JSON-serialisable dict, or None if a file cannot be hashed (missing or
    unreadable): then the cache is not used, and reading the dataset reports
    the problem.
  """
  out: dict[str, Any] = {
      'format': FORMAT_VERSION,
      'name': builder.name,
      'version': str(builder.info.version),
  }
  try:
    for meta in ('dataset_info.json', 'features.json'):
      path = os.path.join(os.fspath(builder.data_dir), meta)
      out[meta] = _digest(path) if os.path.exists(path) else None
    for split in splits:
      paths = [os.fspath(p) for p in builder.info.splits[split].filepaths]
      if not paths:
        return None
      out[split] = {os.path.basename(p): _digest(p) for p in paths}
  except (OSError, KeyError) as e:
    logging.info('%s: no array cache (%s: %s).', builder.name,
                 type(e).__name__, e)
    return None
  return out


def load(path: str, expected: dict) -> Optional[dict[str, Any]]:
  """The cached arrays and attributes, or None if absent, stale or damaged.

  Args:
    path: the cache file.
    expected: the current :func:`fingerprint`.

  Returns:
    ``{'train_x': ..., ..., 'image_shape': ..., 'num_classes': ...,
    'max_value': ...}``, or None (a stale or damaged file is reported in one
    log line and left to be replaced).
  """
  if not os.path.exists(path):
    return None
  try:
    with np.load(path, allow_pickle=False) as npz:
      meta = json.loads(npz[_META_KEY].tobytes().decode('utf-8'))
      if meta.get('fingerprint') != expected:
        logging.info('Array cache %s is stale (the prepared files changed): '
                     'decoding the dataset again.', path)
        return None
      out = {key: npz[key] for key in ARRAY_KEYS}
  except Exception as e:  # pylint: disable=broad-except
    logging.warning('Array cache %s is unreadable (%s: %s): decoding the '
                    'dataset again.', path, type(e).__name__, e)
    return None
  for key in ARRAY_KEYS:
    if meta['arrays'].get(key) != _array_digest(out[key]):
      logging.warning('Array cache %s is damaged (%s does not match its '
                      'SHA-256): decoding the dataset again.', path, key)
      return None
  out.update(image_shape=tuple(meta['image_shape']),
             num_classes=int(meta['num_classes']),
             max_value=int(meta['max_value']))
  return out


def store(path: str, expected: dict, ds) -> bool:
  """Writes ``ds``'s arrays to ``path`` atomically; False if it cannot.

  Args:
    path: the cache file.
    expected: the :func:`fingerprint` of the files ``ds`` was decoded from.
    ds: an :class:`~mpl_jax.data.datasets.ArrayDataset`.

  Returns:
    Whether the cache was written. A folder that cannot be written is
    reported in one warning line; nothing is raised.
  """
  arrays = {key: np.ascontiguousarray(getattr(ds, key)) for key in ARRAY_KEYS}
  meta = {
      'fingerprint': expected,
      'arrays': {key: _array_digest(a) for key, a in arrays.items()},
      'image_shape': list(ds.image_shape),
      'num_classes': int(ds.num_classes),
      'max_value': int(ds.max_value),
  }
  meta_bytes = np.frombuffer(json.dumps(meta, sort_keys=True).encode(),
                             np.uint8)
  folder = os.path.dirname(path)
  tmp = None
  try:
    os.makedirs(folder, exist_ok=True)
    # A name no other writer uses; 'x' creates it with the usual permissions.
    tmp = os.path.join(folder, f'.{os.path.basename(path)}.{os.getpid()}.'
                       f'{secrets.token_hex(4)}.tmp')
    with open(tmp, 'xb') as f:
      np.savez(f, **arrays, **{_META_KEY: meta_bytes})
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
    tmp = None
    _fsync_dir(folder)
  except OSError as e:
    logging.warning('%s: cannot write the array cache in %s (%s: %s); loading '
                    'without it (set $%s to a writable folder).', ds.name,
                    folder, type(e).__name__, e.strerror or e, CACHE_DIR_ENV)
    return False
  finally:
    if tmp is not None:
      try:
        os.remove(tmp)
      except OSError:
        pass
  logging.info('%s: decoded arrays cached in %s.', ds.name, path)
  return True


def _digest(path: str) -> list:
  with open(path, 'rb') as f:
    sha = hashlib.file_digest(f, 'sha256').hexdigest()
    return [os.fstat(f.fileno()).st_size, sha]


def _array_digest(array: np.ndarray) -> list:
  array = np.ascontiguousarray(array)
  return [str(array.dtype), list(array.shape),
          hashlib.sha256(memoryview(array).cast('B')).hexdigest()]


def _fsync_dir(folder: str) -> None:
  try:
    fd = os.open(folder, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)
