"""Shared fixtures: one offline Fashion-MNIST preparation per test session,
and one XLA compilation cache per test session."""

import atexit
import fcntl
import os
import shutil
import tempfile

# Compilation dominates this suite on CPU, and many tests compile the same
# program (same config, another test). A persistent compilation cache, new
# for each session (so no entry outlives the code that made it), lets them
# share it; subprocesses inherit it through the environment. Set before JAX
# is imported. MPL_JAX_TEST_XLA_CACHE names a cache folder to keep instead.
_run = os.environ.get('PYTEST_XDIST_TESTRUNUID')  # shared by xdist workers
_CACHE = os.environ.get('MPL_JAX_TEST_XLA_CACHE') or os.path.join(
    tempfile.gettempdir(), f'mpl_jax_xla_cache_{_run or os.getpid()}')
if not os.environ.get('MPL_JAX_TEST_XLA_CACHE'):
  if _run is None or os.environ.get('PYTEST_XDIST_WORKER') is None:
    atexit.register(shutil.rmtree, _CACHE, True)  # the session's owner
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', _CACHE)
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')
# Test programs are tiny and compiled once: LLVM's expensive optimisation
# passes cost more compile time than they save at run time (test_train.py
# 172 s -> 150 s on 2 cores; the whole sequential suite 605 s -> 607 s,
# within noise). Set XLA_FLAGS yourself to test other flags.
os.environ.setdefault('XLA_FLAGS', '--xla_llvm_disable_expensive_passes=true')

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

from mpl_jax.data import datasets  # pylint: disable=wrong-import-position
from mpl_jax.data import provision  # pylint: disable=wrong-import-position

DEBIAN_DIR = datasets.DEBIAN_FASHION_MNIST_DIR


@pytest.fixture(scope='session')
def fmnist_data_dir(tmp_path_factory):
  """A TFDS data_dir with fashion_mnist prepared offline from Debian's files.

  Prepared once per session (~30-40 s, then ~15 s to decode it once into
  the array cache) without touching the network; tests that need it are
  skipped, with the reason, where the files are missing.
  """
  if not os.path.isfile(os.path.join(DEBIAN_DIR,
                                     'train-images-idx3-ubyte.gz')):
    pytest.skip(f'Debian Fashion-MNIST not found in {DEBIAN_DIR} '
                '(tests/provision_test_data.sh installs it: apt-get install '
                'dataset-fashion-mnist, as root)')
  if os.environ.get('PYTEST_XDIST_WORKER') is None:
    data_dir = tmp_path_factory.mktemp('tfds')
    _prepare_fmnist(data_dir)
    return data_dir
  # xdist: the workers' temp folders share the session's, where the first
  # worker to get the lock prepares the data for all.
  shared = tmp_path_factory.getbasetemp().parent
  data_dir = shared / 'tfds_fashion_mnist'
  with open(shared / 'tfds_fashion_mnist.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not (shared / 'tfds_fashion_mnist.done').exists():
      data_dir.mkdir(exist_ok=True)
      _prepare_fmnist(data_dir)
      (shared / 'tfds_fashion_mnist.done').touch()
  return data_dir


def _prepare_fmnist(data_dir):
  def no_network(*args, **kwargs):
    raise AssertionError('the offline route must not probe the network')

  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(provision, 'network_reachable', no_network)
    datasets.prepare_dataset('fashion_mnist', data_dir=data_dir)
    # Decoded once here (under the lock with xdist), the array cache serves
    # every later load of the session, in any worker or subprocess.
    datasets.load_dataset('fashion_mnist', data_dir=data_dir)
    datasets.clear_dataset_cache()
