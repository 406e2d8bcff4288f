r"""Trainer throughput vs the same compiled epoch alone, measured in one run.

  JAX_PLATFORMS=cpu python3 -m benchmarks.bench_trainer
  python3 -m benchmarks.bench_trainer --seeds=8 --vmap_vs_single  # GPU

For each workload the trainer runs end to end (``train_and_evaluate``:
every task's program with its evaluations, checkpoints, outputs, progress)
and its throughput over tasks 2..T (task 1 carries the compilation) is
divided by the throughput of the learner's compiled epoch alone (the same
``runs_axis`` over the same runs, timed back to back with nothing else).
Workloads: the quickstart (permuted digits, BNN 64-512-512-10, 3 seeds x 2
meta values) and permuted Fashion-MNIST with the 784-1024-1024-10 BNN
(offline from the Debian files). The ratio is below 1 by the evaluations
(forward passes over every task's test set after each epoch with
``eval_every='epoch'``, the default), the checkpoint and the output files
(written in the background while the next task runs). The host's share
(time of tasks 2..T outside their compiled programs) is printed too.

With ``--vmap_vs_single`` it also prints the time of N seeds vmapped in one
epoch program vs N single-seed programs one after the other (the GPU target
is >= 5x at 8 seeds).

The last line reads ``trainer/epoch throughput ratio: <quickstart>
<pfmnist>``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from configs import pfmnist_meta
from configs import quickstart
from mpl_jax.train import keys as keys_lib
from mpl_jax.train import program as program_lib
from mpl_jax.train import train

FLAGS = flags.FLAGS
flags.DEFINE_integer('reps', 3, 'Timed epochs of the epoch-alone program.')
flags.DEFINE_integer('pfmnist_tasks', 3, 'Tasks of the pFMNIST workload.')
flags.DEFINE_integer('pfmnist_seeds', 2, 'Seeds of the pFMNIST workload.')
flags.DEFINE_integer('pfmnist_train', 20_000, 'Training images per task of '
                     'the pFMNIST workload (0: all 60k).')
flags.DEFINE_string('eval_every', 'epoch', "'epoch' or 'task'.")
flags.DEFINE_enum('save_mode', 'auto', ['auto', 'background', 'blocking'],
                  'protocol.save_mode of the trainer runs.')
flags.DEFINE_integer('seeds', 8, 'Seeds for --vmap_vs_single.')
flags.DEFINE_bool('vmap_vs_single', False, 'Also time N vmapped seeds vs '
                  'N single-seed programs (one epoch of the pFMNIST BNN).')


def _workloads():
  q = quickstart.get_config()
  p = pfmnist_meta.get_config()
  p.data.num_tasks = FLAGS.pfmnist_tasks
  p.data.train_subset = FLAGS.pfmnist_train
  p.num_seeds = FLAGS.pfmnist_seeds
  p.model.hidden = (1024, 1024)
  p.protocol.epochs_per_task = 2
  p.sweep.name = ''
  for c in (q, p):
    c.plot = False
    c.protocol.eval_every = FLAGS.eval_every
    c.protocol.progress = 'task'
    c.protocol.save_mode = FLAGS.save_mode
  return {'quickstart': q, 'pfmnist': p}


def _epoch_alone(config):
  """Samples/s of the compiled epoch program alone, all runs, back to back."""
  layout = program_lib.make_layout(config)
  seeds_u = sorted(set(layout.seeds))
  stream = train.build_stream(config, seeds_u)
  learner = train.make_learner(config, stream, layout.sweep_name)
  rs = np.asarray([seeds_u.index(s) for s in layout.seeds])
  task = stream.tasks[0]
  images = jnp.asarray(stream.datasets[0].train_x)
  seeds = jnp.asarray(layout.seeds, jnp.int32)
  values = jnp.asarray(layout.device_values(), jnp.float32)
  state = jax.jit(jax.vmap(learner.init))(seeds, values)
  mask = jnp.ones((len(rs), stream.num_classes), bool)
  fn = program_lib.runs_axis(learner.train_epoch,
                             (0, None, 0, 0, 0, 0, 0, None),
                             config.protocol.vectorize)
  epoch = jax.jit(fn, donate_argnums=0)
  args = (images, jnp.asarray(task.train_idx[rs]),
          jnp.asarray(task.train_y[rs]), jnp.asarray(task.pixel_perm[rs]),
          mask)
  ekeys = lambda e: jax.vmap(lambda s: keys_lib.stream_key(s, 'epoch', 0, e))(
      seeds)
  all_keys = [ekeys(e) for e in range(1 + FLAGS.reps * 64)]
  jax.block_until_ready(all_keys)
  state, loss, _ = epoch(state, *args, all_keys[0], 0)  # compile
  loss.block_until_ready()
  # At least `reps` epochs and ~2 s, keys made beforehand: nothing but the
  # compiled epoch is timed.
  done, t0 = 0, time.perf_counter()
  while done < FLAGS.reps or (time.perf_counter() - t0 < 2.0 and
                              done + 1 < len(all_keys)):
    state, loss, _ = epoch(state, *args, all_keys[done + 1], 0)
    loss.block_until_ready()
    done += 1
  dt = (time.perf_counter() - t0) / done
  n = task.train_idx.shape[1] // learner.batch_size * learner.batch_size
  return n * len(rs) / dt


def _trainer(config):
  """Samples/s of the trainer over tasks 2..T (task 1 compiles)."""
  with tempfile.TemporaryDirectory() as d:
    t0 = time.perf_counter()
    train.train_and_evaluate(config, d)
    total = time.perf_counter() - t0
    with open(os.path.join(d, 'timing.json')) as f:
      timing = json.load(f)
  # Tasks 2..T end to end: everything after task 1 until the call returns
  # (the saves written in the background while later tasks run, the wait
  # for the last one and the final outputs included).
  later = timing['tasks'][1:]
  seconds = total - timing['setup_s'] - timing['tasks'][0]['total_s']
  timing['host_share'] = 1 - sum(x['program_s'] for x in later) / seconds
  return sum(x['samples'] for x in later) / seconds, total, timing


def _vmap_vs_single(config):
  """Seconds for one epoch: N seeds vmapped vs N single-seed programs."""
  c = config.copy_and_resolve_references()
  c.num_seeds = FLAGS.seeds
  stream = train.build_stream(c, list(range(FLAGS.seeds)))
  learner = train.make_learner(c, stream, None)
  task = stream.tasks[0]
  images = jnp.asarray(stream.datasets[0].train_x)
  seeds = jnp.arange(FLAGS.seeds, dtype=jnp.int32)
  mask = jnp.ones((FLAGS.seeds, stream.num_classes), bool)
  args = (jnp.asarray(task.train_idx), jnp.asarray(task.train_y),
          jnp.asarray(task.pixel_perm), mask)
  keys = jax.vmap(lambda s: keys_lib.stream_key(s, 'epoch', 0, 0))(seeds)
  zeros = jnp.zeros(FLAGS.seeds)
  vm = jax.jit(jax.vmap(learner.train_epoch,
                        in_axes=(0, None, 0, 0, 0, 0, 0, None)))
  one = jax.jit(learner.train_epoch)
  st = jax.jit(jax.vmap(learner.init))(seeds, zeros)
  jax.block_until_ready(vm(st, images, *args, keys, 0))
  one_args = lambda i: (jax.tree.map(lambda x: x[i], st), images,
                        *(a[i] for a in args), keys[i], 0)
  jax.block_until_ready(one(*one_args(0)))
  t0 = time.perf_counter()
  jax.block_until_ready(vm(st, images, *args, keys, 0))
  t_vmap = time.perf_counter() - t0
  t0 = time.perf_counter()
  for i in range(FLAGS.seeds):
    jax.block_until_ready(one(*one_args(i)))
  t_single = time.perf_counter() - t0
  return t_vmap, t_single


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  print(f'JAX {jax.__version__}, backend {jax.default_backend()}, '
        f'{jax.device_count()} devices ({jax.devices()[0].device_kind}), '
        f'eval_every={FLAGS.eval_every}, '
        f'save_mode={FLAGS.save_mode}')
  ratios = {}
  for name, config in _workloads().items():
    epoch = _epoch_alone(config)
    trainer, total, timing = _trainer(config)
    ratios[name] = trainer / epoch
    print(f'{name}: epoch alone {epoch:,.0f} samples/s; trainer (tasks 2..) '
          f'{trainer:,.0f} samples/s; ratio {ratios[name]:.3f}; whole call '
          f'{total:.1f}s (set-up {timing["setup_s"]:.1f}s, task 1 with '
          f'compilation {timing["tasks"][0]["total_s"]:.1f}s); host work '
          f'outside the task programs {timing["host_share"]:.1%} of tasks '
          '2..')
  if FLAGS.vmap_vs_single:
    t_vmap, t_single = _vmap_vs_single(_workloads()['pfmnist'])
    print(f'{FLAGS.seeds} seeds, one epoch: vmapped {t_vmap:.3f}s, one by one '
          f'{t_single:.3f}s: vmap is {t_single / t_vmap:.2f}x faster')
  print(f'trainer/epoch throughput ratio: {ratios["quickstart"]:.3f} '
        f'{ratios["pfmnist"]:.3f}')


if __name__ == '__main__':
  app.run(main)
