r"""Online (batch 1) training speed inside the trainer, per seed.

  python -m benchmarks.bench_online [--seeds=3] [--steps=4000]

Times one epoch of the trainer's compiled program (``lax.scan`` over single
examples: gather + pixel permutation, Bayesian MLP 784-50-10 with K Monte-
Carlo samples, loss, gradients, MESU update) for several seeds in one
program, with the runs axis as ``vmap`` and as ``lax.map``, and prints online
steps per second per seed and the ratio to the reference implementation's
~100 steps/s (K = 10) measured on these 2-core machines (issue #3). Also
SGD on a plain MLP for comparison. Data: the bundled real MNIST subset.
"""

from __future__ import annotations

import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp

from configs import pmnist_mesu
from mpl_jax.data import datasets
from mpl_jax.data import streams
from mpl_jax.train import program
from mpl_jax.train import train

flags.DEFINE_integer('seeds', 3, 'Runs in one program.')
flags.DEFINE_integer('steps', 4000, 'Online steps per epoch.')
flags.DEFINE_integer('repeats', 3, 'Timed repetitions (best kept).')
FLAGS = flags.FLAGS

REFERENCE_STEPS_PER_S = {10: 100.0, 1: 2200.0}


def main(argv):
  del argv
  ds = datasets.load_dataset('mnist_5k')
  seeds = list(range(FLAGS.seeds))
  stream = streams.permuted_stream(ds, 1, seeds, train_subset=FLAGS.steps)
  task = stream.tasks[0]
  args = (jnp.asarray(ds.train_x), jnp.asarray(task.train_idx),
          jnp.asarray(task.train_y), jnp.asarray(task.pixel_perm),
          jnp.ones((len(seeds), 10), bool))
  keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
  print(f'JAX {jax.__version__} on {jax.default_backend()}; {len(seeds)} '
        f'seeds, {FLAGS.steps} online steps each, batch 1')
  cases = [('mesu K=10', 'mesu', 10), ('mesu K=1', 'mesu', 1),
           ('sgd (plain MLP)', 'sgd', None)]
  for label, method, k in cases:
    c = pmnist_mesu.get_config(method)
    if k is not None:
      c.model.num_mc_samples = k
    learner = train.make_learner(c, stream, None)
    state0 = jax.vmap(learner.init)(keys)
    out = {}
    for mode in ('vmap', 'map'):
      fn = jax.jit(program.runs_axis(
          learner.train_epoch, (0, None, 0, 0, 0, 0, 0, None), mode))
      jax.block_until_ready(fn(state0, *args, keys, 0)[1])
      best = float('inf')
      for _ in range(FLAGS.repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(state0, *args, keys, 0)[1])
        best = min(best, time.perf_counter() - t0)
      out[mode] = FLAGS.steps / best  # steps/s per seed (seeds in parallel)
    ref = REFERENCE_STEPS_PER_S.get(k)
    extra = ''
    if ref:
      extra = (f'  (best x{max(out.values()) / ref:.1f} the reference\'s '
               f'{ref:.0f}/s)')
    print(f'{label:16s} steps/s per seed: vmap {out["vmap"]:8.0f}   '
          f'lax.map {out["map"]:8.0f}{extra}')


if __name__ == '__main__':
  app.run(main)
