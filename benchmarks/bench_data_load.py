r"""Time to load a prepared TFDS dataset: decoding vs the decoded-array cache.

  python -m benchmarks.bench_data_load --data_dir=~/tensorflow_datasets \
      [--dataset=fashion_mnist]

The dataset must be prepared in ``--data_dir`` (it is prepared first if not,
e.g. Fashion-MNIST offline from Debian's files; that time is not counted).
In one run, this times:

1. the first load: the array cache is deleted, so every PNG image is decoded
   and the cache written (:mod:`mpl_jax.data.array_cache`);
2. the second load in the same process (the in-process cache cleared): the
   prepared files are hashed and the cached arrays read;
3. the second load in a fresh Python process, the case of a new training
   run: the same, plus importing tensorflow-datasets (not mpl_jax or JAX,
   which a run imports anyway);

and checks that the three return identical arrays. Wall-clock times on a
shared machine include other processes' load; process CPU times are printed
too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from absl import app
from absl import flags
import numpy as np

from mpl_jax.data import array_cache
from mpl_jax.data import datasets
from mpl_jax.data import provision

flags.DEFINE_string('dataset', 'fashion_mnist', 'A TFDS dataset of mpl_jax.')
flags.DEFINE_string('data_dir', None, 'TFDS data directory (default: '
                    "TFDS's default).")
FLAGS = flags.FLAGS

_CHILD = r'''
import sys, time
from mpl_jax.data import datasets
start, cpu = time.perf_counter(), time.process_time()
ds = datasets.load_dataset(sys.argv[1], data_dir=sys.argv[2] or None)
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
import hashlib
digest = hashlib.sha256(b''.join(
    a.tobytes() for a in (ds.train_x, ds.train_y, ds.test_x, ds.test_y)))
print(f'RESULT {wall:.3f} {cpu:.3f} {digest.hexdigest()}')
'''


def _timed_load(name, data_dir):
  datasets.clear_dataset_cache()
  start, cpu = time.perf_counter(), time.process_time()
  ds = datasets.load_dataset(name, data_dir=data_dir)
  return ds, time.perf_counter() - start, time.process_time() - cpu


def _digest(ds) -> str:
  import hashlib  # pylint: disable=g-import-not-at-top
  return hashlib.sha256(b''.join(
      a.tobytes() for a in (ds.train_x, ds.train_y, ds.test_x,
                            ds.test_y))).hexdigest()


def main(argv):
  del argv
  name = FLAGS.dataset
  data_dir = provision.normalize_dir(FLAGS.data_dir)
  datasets.prepare_dataset(name, data_dir=data_dir)
  tfds = provision.import_tfds()
  path = array_cache.cache_path(tfds.builder(name, data_dir=data_dir))
  if os.path.exists(path):
    os.remove(path)

  first, first_s, first_cpu = _timed_load(name, data_dir)
  if not os.path.exists(path):
    raise SystemExit(f'the first load wrote no cache at {path}')
  second, second_s, second_cpu = _timed_load(name, data_dir)
  for key in array_cache.ARRAY_KEYS:
    np.testing.assert_array_equal(getattr(first, key), getattr(second, key))
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  out = subprocess.run([sys.executable, '-c', _CHILD, name, data_dir or ''],
                       capture_output=True, text=True, env=env, check=True,
                       cwd=os.path.dirname(os.path.dirname(
                           os.path.abspath(__file__)))).stdout
  line = [l for l in out.splitlines() if l.startswith('RESULT ')][-1]
  fresh_s, fresh_cpu, fresh_digest = line.split()[1:]
  if fresh_digest != _digest(first):
    raise SystemExit('the fresh process loaded different arrays')

  size = os.path.getsize(path) / 2**20
  print(f'{name}: {first.num_train} + {first.num_test} images '
        f'{first.image_shape}; cache {path} ({size:.1f} MiB)')
  print(f'  first load (decode + write cache): {first_s:7.2f} s wall '
        f'{first_cpu:7.2f} s CPU')
  print(f'  second load, same process:         {second_s:7.2f} s wall '
        f'{second_cpu:7.2f} s CPU  ({first_s / second_s:.0f}x faster)')
  print(f'  second load, fresh process:        {float(fresh_s):7.2f} s wall '
        f'{float(fresh_cpu):7.2f} s CPU  (includes importing '
        'tensorflow-datasets)')
  print('  arrays identical in all three loads: yes')


if __name__ == '__main__':
  app.run(main)
