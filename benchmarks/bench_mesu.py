r"""Online MESU training speed: steps per second per seed, batch size 1.

  python -m benchmarks.bench_mesu [--steps=1000] [--samples=1,10] [--seeds=4]

Times a jitted ``lax.scan`` over ``--steps`` online steps (batch 1) of the
spec's Bayesian MLP 784-50-10 ReLU trained by MESU (sigma_prior 1,
N = 300000): forward with K Monte-Carlo samples, MC NLL loss, gradient,
MESU update, apply. Inputs are random [0, 1) images (speed does not depend
on the data). For each K and each normal sampler in ``--noise``
(``counter``: the model's default :func:`counter_normal`; ``threefry``:
``jax.random.normal``) it prints the online steps/s of one seed and the
ratio to the ~100 steps/s per seed quoted for the JAX reference. The model
uses its exact-in-law batch-1 fast path; ``--collapse_compare``
adds the reference's way (explicit K x 784 x 50 weight noise from
``jax.random``), timed here under the same load. With ``--seeds > 1`` it
also prints the per-seed rate of that many seeds vmapped in one program
(not for the explicit-noise variant).
Best of ``--repeats`` runs after a warm-up; the load average is printed
because a shared machine lowers every figure.
"""

from __future__ import annotations

import os
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from mpl_jax.models import bayesian
from mpl_jax.rules import mesu as mesu_lib

flags.DEFINE_integer('steps', 1000, 'Online steps per timed scan.')
flags.DEFINE_list('samples', ['1', '10'], 'Monte-Carlo sample counts K.')
flags.DEFINE_list('sizes', ['784', '50', '10'], 'Layer widths.')
flags.DEFINE_integer('seeds', 4, 'Seeds for the vmapped figure (1: skip).')
flags.DEFINE_integer('repeats', 3, 'Timed repetitions (best is kept).')
flags.DEFINE_list('noise', ['counter', 'threefry'],
                  "Normal samplers to time ('threefry', 'counter').")
flags.DEFINE_bool('collapse_compare', True,
                  'Also time without the batch-1 fast path.')
flags.DEFINE_float('reference_steps_per_s', 100.0,
                   'Reference online steps/s per seed (JAX reference).')
FLAGS = flags.FLAGS


def make_run(sizes, k, steps, collapse, noise='counter'):
  """Returns ``(init(seed) -> carry, run(carry, xs, ys) -> carry)``."""
  model = bayesian.BayesianMLP(sizes, num_mc_samples=k, rngs=nnx.Rngs(0),
                               collapse_noise=collapse, noise=noise)
  graphdef, _, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  tx = mesu_lib.mesu(1.0, 1.0, sigma_prior=1.0, memory_window=300_000.0)

  def init(seed):
    m = bayesian.BayesianMLP(sizes, num_mc_samples=k,
                             rngs=nnx.Rngs(jax.random.key(seed)),
                             collapse_noise=collapse, noise=noise)
    params = nnx.as_pure(nnx.split(m, nnx.Param, nnx.BatchStat)[1])
    return params, tx.init(params), jax.random.PRNGKey(seed)

  def loss_fn(params, x, y, key):
    m = nnx.merge(graphdef, params, batch_stats)
    return bayesian.mc_nll_loss(m(x, train=True, rng=key), y)

  def run(carry, xs, ys):
    params, opt_state, key = carry

    def step(c, inp):
      params, opt_state, key = c
      x, y = inp
      key, sub = jax.random.split(key)
      grads = jax.grad(loss_fn)(params, x, y, sub)
      updates, opt_state = tx.update(grads, opt_state, params, task_id=0)
      return (optax.apply_updates(params, updates), opt_state, key), None

    return jax.lax.scan(step, (params, opt_state, key), (xs, ys),
                        length=steps)[0]

  return init, run


def _best(fn, repeats):
  jax.block_until_ready(fn())  # compile / warm up
  best = float('inf')
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    best = min(best, time.perf_counter() - t0)
  return best


def main(argv):
  del argv
  sizes = tuple(int(s) for s in FLAGS.sizes)
  n = FLAGS.steps
  ref = FLAGS.reference_steps_per_s
  print(f'JAX {jax.__version__} on {jax.default_backend()}, '
        f'{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; '
        f'MLP {"-".join(map(str, sizes))}, batch 1, {n} steps per scan')
  kx, ky = jax.random.split(jax.random.PRNGKey(123))
  xs = jax.random.uniform(kx, (n, 1, sizes[0]))
  ys = jax.random.randint(ky, (n, 1), 0, sizes[-1])
  for k in (int(s) for s in FLAGS.samples):
    path = 'fast path'
    variants = [(f'{path}/{noise}', True, noise) for noise in FLAGS.noise]
    if FLAGS.collapse_compare:
      variants.append(('explicit/threefry', False, 'threefry'))
    for name, collapse, noise in variants:
      init, run = make_run(sizes, k, n, collapse, noise)
      carry = init(0)
      one = jax.jit(run)
      t = _best(lambda: one(carry, xs, ys), FLAGS.repeats)
      rate = n / t
      print(f'K={k:3d} {name:20s} 1 seed: {rate:8.0f} steps/s '
            f'({1e6 / rate:7.1f} us/step), {rate / ref:5.1f}x reference')
      if FLAGS.seeds > 1 and collapse:
        s = FLAGS.seeds
        carries = jax.vmap(init)(jnp.arange(s))
        many = jax.jit(jax.vmap(run, in_axes=(0, None, None)))
        t = _best(lambda: many(carries, xs, ys), FLAGS.repeats)
        rate = n / t
        print(f'K={k:3d} {name:20s} {s} seeds vmapped: {rate:8.0f} steps/s '
              f'per seed ({s * rate:8.0f} seed-steps/s), '
              f'{rate / ref:5.1f}x reference')


if __name__ == '__main__':
  app.run(main)
