r"""Speed of the spiking networks: eRBP/TACOS online learning, evaluation and
the surrogate-gradient baseline, one seed and many seeds in one program.

  python -m benchmarks.bench_snn [--seeds=5] [--samples=400]
  python -m benchmarks.bench_snn --seeds=35 --modes=vmap   # GPU

The network is the 784-200-2 LIF net of ``configs/split_fmnist_tacos.py``
(150 steps of 1 ms per image, Poisson inputs). For ``--samples`` training
images of split Fashion-MNIST's first task it times one compiled epoch of
the eRBP learner (online, batch 1) for one seed, and for ``--seeds`` seeds
in one program with the runs axis as ``lax.map`` and as ``vmap``; then the
batched evaluation, and the surrogate-gradient SpikingMLP (batch 10, the
EWC/SI baselines' network). It prints samples/s per seed and over all seeds,
the ratios to one seed (all measured in this one run), and the time the
whole split-FMNIST stream (60,000 training images, 5 x 2,000 test images
evaluated after each of the 5 tasks and before the first) would take for
``--seeds`` seeds, extrapolated from these rates (said so in the output).
Wall-clock times on a shared machine include other processes' load; the
process CPU time is printed too.
"""

from __future__ import annotations

import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp

from configs import split_fmnist_tacos
from mpl_jax.data import datasets
from mpl_jax.data import streams
from mpl_jax.train import program
from mpl_jax.train import train

flags.DEFINE_integer('seeds', 5, 'Runs in one program.')
flags.DEFINE_integer('samples', 400, 'Training images per timed epoch.')
flags.DEFINE_integer('test_samples', 500, 'Test images per timed eval.')
flags.DEFINE_integer('repeats', 2, 'Timed repetitions (best kept).')
flags.DEFINE_list('modes', ['map', 'vmap'], "How the runs axis is laid out "
                  "('map', 'vmap' or both); on a GPU 'vmap' alone skips the "
                  "map variant, whose time grows with --seeds.")
FLAGS = flags.FLAGS


def _time(fn, *args):
  jax.block_until_ready(fn(*args))
  best_wall, best_cpu = float('inf'), float('inf')
  for _ in range(FLAGS.repeats):
    t0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn(*args))
    best_wall = min(best_wall, time.perf_counter() - t0)
    best_cpu = min(best_cpu, time.process_time() - c0)
  return best_wall, best_cpu


def main(argv):
  del argv
  if not FLAGS.modes or set(FLAGS.modes) - {'map', 'vmap'}:
    raise app.UsageError(f"--modes: 'map' and/or 'vmap', got {FLAGS.modes}")
  ds = datasets.load_dataset('fashion_mnist')
  s = FLAGS.seeds
  seeds = list(range(s))
  stream = streams.split_stream(ds, seeds, classes_per_task=2,
                                scenario='domain',
                                train_subset=FLAGS.samples,
                                test_subset=FLAGS.test_samples)
  task = stream.tasks[0]
  n, m = task.train_idx.shape[1], task.test_idx.shape[1]
  images, test_images = jnp.asarray(ds.train_x), jnp.asarray(ds.test_x)
  idx, y = jnp.asarray(task.train_idx), jnp.asarray(task.train_y)
  t_idx, t_y = jnp.asarray(task.test_idx), jnp.asarray(task.test_y)
  perm = jnp.asarray(task.pixel_perm)
  mask = jnp.ones((s, 2), bool)
  keys = jnp.stack([jax.random.PRNGKey(i) for i in seeds])
  seed_ids = jnp.asarray(seeds, jnp.int32)
  print(f'JAX {jax.__version__} on {jax.default_backend()} '
        f'({jax.devices()[0].device_kind}); 784-200-2 LIF, 150 steps; '
        f'{n} training / {m} test images per seed; {s} seeds')
  one = lambda a: jax.tree.map(lambda x: x[0], a)
  rates = {}
  for label, arg in (('TACOS (all)', 'all'), ('plain eRBP', 'none')):
    c = split_fmnist_tacos.get_config(arg)
    learner = train.make_learner(c, stream, None)
    states = jax.vmap(learner.init)(seed_ids)
    single = jax.jit(learner.train_epoch)
    w1, c1 = _time(single, one(states), images, idx[0], y[0], perm[0],
                   mask[0], keys[0], 0)
    out = {'1 seed': (n / w1, n / c1)}
    for mode in FLAGS.modes:
      fn = jax.jit(program.runs_axis(
          learner.train_epoch, (0, None, 0, 0, 0, 0, 0, None), mode))
      w, cpu = _time(fn, states, images, idx, y, perm, mask, keys, 0)
      out[f'{s} seeds {mode}'] = (n * s / w, n * s / cpu)
    base = out['1 seed'][0]
    for k, (wall, cpu) in out.items():
      ratio = ''
      if k != '1 seed':
        ratio = f'; time per seed x{base / wall:.2f} that of one seed alone'
      print(f'{label:12s} train {k:14s}: {wall:7.1f} samples/s wall '
            f'({cpu:7.1f} per CPU-second){ratio}')
    rates[label] = max(v[0] for k, v in out.items() if 'seeds' in k)
    if arg == 'all':
      ev = jax.jit(program.runs_axis(
          learner.evaluate, (0, None, 0, 0, 0, 0, 0, None), 'map'))
      w, cpu = _time(ev, states, test_images, t_idx, t_y, perm, mask, keys,
                     -1)
      rates['eval'] = m * s / w
      print(f'{label:12s} evaluate {s} seeds map: {m * s / w:7.1f} test '
            f'samples/s wall ({m * s / cpu:7.1f} per CPU-second)')
  # Surrogate-gradient baseline on the same net (EWC config, batch 10).
  c = split_fmnist_tacos.get_config('ewc')
  learner = train.make_learner(c, stream, None)
  states = jax.vmap(learner.init)(seed_ids)
  fn = jax.jit(program.runs_axis(
      learner.train_epoch, (0, None, 0, 0, 0, 0, 0, None), 'map'))
  w, cpu = _time(fn, states, images, idx, y, perm, mask, keys, 0)
  rates['surrogate'] = n * s / w
  print(f'surrogate-gradient SpikingMLP (EWC, batch 10) train {s} seeds map: '
        f'{n * s / w:7.1f} samples/s wall ({n * s / cpu:7.1f} per '
        'CPU-second)')
  train_total, test_total = 60000 * s, 6 * 10000 * s
  for label in ('TACOS (all)', 'plain eRBP'):
    minutes = (train_total / rates[label] + test_total / rates['eval']) / 60
    print(f'Extrapolated (not measured end to end): the whole split-FMNIST '
          f'stream for {s} seeds, {label}: {minutes:.1f} min '
          f'({train_total} training samples at {rates[label]:.0f}/s, '
          f'{test_total} test samples at {rates["eval"]:.0f}/s).')
  minutes = (train_total / rates['surrogate'] + test_total /
             rates['eval']) / 60
  print(f'Extrapolated: surrogate-gradient baseline, {s} seeds: '
        f'{minutes:.1f} min (evaluation at the eRBP net\'s rate).')


if __name__ == '__main__':
  app.run(main)
