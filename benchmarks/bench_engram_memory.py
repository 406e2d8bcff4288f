r"""Memory of the engram-gated BNN vs a full-precision net of the same size.

  python -m benchmarks.bench_engram_memory [--hidden=512,512] [--seeds=3]

The paper (Aguilar et al. 2025) claims much lower peak GPU/RAM than
full-precision baselines. This prints, for each method on the same stream
shape (batch 100, 784 inputs, 10 outputs):
  * XLA's memory analysis of one compiled training epoch (arguments, outputs,
    temporaries; the peak the program needs on the device), vmapped seeds;
  * the training state in bytes (parameters, BN statistics, optimizer state);
  * the size of the deployable weights: 1 bit per binarized weight (sign)
    vs 32 bits per full-precision weight.
Training a BNN keeps real-valued hidden weights and Adam moments, so only the
deployed model is smaller: the figures show by how much each part differs.
It also reports the process's peak resident memory after compiling and
running one epoch of each method (one process per method).
"""

from __future__ import annotations

import resource
import subprocess
import sys

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

flags.DEFINE_list('hidden', ['512', '512'], 'Hidden widths.')
flags.DEFINE_integer('seeds', 3, 'Runs vmapped.')
flags.DEFINE_string('one', '', 'Internal: measure one method in this process.')
FLAGS = flags.FLAGS

METHODS = ('engram', 'meta', 'bnn', 'fp')


def _measure(method: str, hidden, seeds: int) -> dict:
  from configs import split_fmnist_engram
  from mpl_jax.data import streams
  from mpl_jax.data.datasets import ArrayDataset
  from mpl_jax.train import train

  c = split_fmnist_engram.get_config(f'{method},class')
  c.model.hidden = tuple(hidden)
  # Shapes only matter here: a synthetic stream of Fashion-MNIST's size.
  n = 12000
  rng = np.random.default_rng(0)
  ds = ArrayDataset(
      name='shape', train_x=rng.integers(0, 256, (n, 784), dtype=np.uint8),
      train_y=rng.integers(0, 10, n).astype(np.int32),
      test_x=rng.integers(0, 256, (2000, 784), dtype=np.uint8),
      test_y=rng.integers(0, 10, 2000).astype(np.int32),
      image_shape=(28, 28, 1), num_classes=10, max_value=255)
  stream = streams.permuted_stream(ds, 1, list(range(seeds)))
  l = train.make_learner(c, stream, None)
  keys = jnp.stack([jax.random.PRNGKey(i) for i in range(seeds)])
  state = jax.vmap(l.init)(keys)
  t = stream.tasks[0]
  args = (state, jnp.asarray(ds.train_x), jnp.asarray(t.train_idx),
          jnp.asarray(t.train_y), jnp.asarray(t.pixel_perm),
          jnp.ones((seeds, 10), bool), keys, 0)
  fn = jax.jit(jax.vmap(l.train_epoch, in_axes=(0, None, 0, 0, 0, 0, 0,
                                                None)))
  compiled = fn.lower(*args).compile()
  mem = compiled.memory_analysis()
  jax.block_until_ready(compiled(*args))
  nbytes = lambda tree: sum(x.size * x.dtype.itemsize
                            for x in jax.tree.leaves(tree))
  kernels = sum(x.size for x in jax.tree.leaves(state.params)
                if x.ndim == 3) // seeds
  binary = method != 'fp'
  return dict(
      method=method,
      temp=getattr(mem, 'temp_size_in_bytes', 0),
      args=getattr(mem, 'argument_size_in_bytes', 0),
      out=getattr(mem, 'output_size_in_bytes', 0),
      params=nbytes(state.params) // seeds,
      opt=nbytes(state.opt_state) // seeds,
      deploy=kernels // 8 if binary else kernels * 4,
      rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def main(argv):
  del argv
  hidden = [int(h) for h in FLAGS.hidden]
  if FLAGS.one:
    print(repr(_measure(FLAGS.one, hidden, FLAGS.seeds)))
    return
  rows = []
  for m in METHODS:
    out = subprocess.run(
        [sys.executable, '-m', 'benchmarks.bench_engram_memory',
         f'--one={m}', f'--hidden={",".join(map(str, hidden))}',
         f'--seeds={FLAGS.seeds}'], capture_output=True, text=True,
        check=True)
    rows.append(eval(out.stdout.strip().splitlines()[-1]))  # our own repr
  mb = lambda b: b / 2**20
  fp = rows[-1]
  print(f'784-{"-".join(map(str, hidden))}-10, batch 100, {FLAGS.seeds} '
        f'seeds vmapped, one epoch of 12,000 samples, JAX '
        f'{jax.__version__} on {jax.default_backend()}')
  print(f'{"method":8s} {"XLA temp MB":>11s} {"args MB":>8s} '
        f'{"state/seed MB":>13s} {"deploy KB":>9s} {"peak RSS MB":>11s} '
        f'{"temp vs fp":>10s} {"deploy vs fp":>12s}')
  for r in rows:
    print(f'{r["method"]:8s} {mb(r["temp"]):11.1f} {mb(r["args"]):8.1f} '
          f'{mb(r["params"] + r["opt"]):13.2f} {r["deploy"] / 1024:9.1f} '
          f'{mb(r["rss"]):11.0f} {r["temp"] / max(fp["temp"], 1):10.2f} '
          f'{r["deploy"] / fp["deploy"]:12.4f}')


if __name__ == '__main__':
  app.run(main)
