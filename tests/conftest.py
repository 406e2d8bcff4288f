"""Shared fixtures: one offline Fashion-MNIST preparation per test session."""

import os

import pytest

from mpl_jax.data import datasets
from mpl_jax.data import provision

DEBIAN_DIR = datasets.DEBIAN_FASHION_MNIST_DIR


@pytest.fixture(scope='session')
def fmnist_data_dir(tmp_path_factory):
  """A TFDS data_dir with fashion_mnist prepared offline from Debian's files.

  Prepared once per session (~30-40 s) without touching the network; tests
  that need it are skipped, with the reason, where the files are missing.
  """
  if not os.path.isfile(os.path.join(DEBIAN_DIR,
                                     'train-images-idx3-ubyte.gz')):
    pytest.skip(f'Debian Fashion-MNIST not found in {DEBIAN_DIR} '
                '(apt-get install dataset-fashion-mnist)')
  data_dir = tmp_path_factory.mktemp('tfds')

  def no_network(*args, **kwargs):
    raise AssertionError('the offline route must not probe the network')

  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(provision, 'network_reachable', no_network)
    datasets.prepare_dataset('fashion_mnist', data_dir=data_dir)
  return data_dir
