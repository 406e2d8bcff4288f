r"""Where the time goes when several seeds share one program (per XLA op).

  python -m benchmarks.profile_seeds [--seeds=8] [--hidden=1024,1024] [--top=15]
      [--repeats=2]

Compiles one training epoch of ``--seeds`` BNN runs twice, as one batched
program (``vmap``) and as a loop inside one program (``lax.map``), profiles
each in turn in this one process (``jax.profiler``), and prints for each the
epoch time and the ops that take the most time, with their result shapes, so
that the two programs' matching ops (same role, batched or not) can be
compared. This is how the CPU figures quoted in ``program.runs_axis`` were
found; on a GPU it shows what vmap gains.

Reading the trace needs TensorFlow's profiler protos (``tensorflow-cpu`` from
``requirements.txt``).
"""

from __future__ import annotations

import collections
import glob
import re
import tempfile

from absl import app
from absl import flags
import jax
import jax.numpy as jnp

from benchmarks import bench_metaplasticity as bench
from mpl_jax.data import datasets
from mpl_jax.train import optimizers
from mpl_jax.train import program

# --hidden, --seeds and --batch_size are bench_metaplasticity's flags.
flags.DEFINE_integer('repeats', 2, 'Profiled epochs per program (averaged).')
flags.DEFINE_integer('top', 15, 'Ops listed per program.')
FLAGS = flags.FLAGS

_EPOCH = 'ThunkExecutor::Execute (wait for completion)'


def _op_table(compiled_text):
  """HLO instruction name -> (result shape, op_name metadata)."""
  table = {}
  for line in compiled_text.splitlines():
    m = re.match(r'\s*(?:ROOT )?%(\S+) = (\S+) ', line)
    if m:
      meta = re.search(r'op_name="([^"]*)"', line)
      table[m.group(1)] = (m.group(2), meta.group(1) if meta else '')
  return table


def _profile(fn, repeats):
  """Total duration (ms) per event name over ``repeats`` calls, averaged."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top
  totals = collections.Counter()
  for _ in range(repeats):
    logdir = tempfile.mkdtemp()
    with jax.profiler.trace(logdir):
      fn()
    path = glob.glob(f'{logdir}/**/*.xplane.pb', recursive=True)[0]
    space = xplane_pb2.XSpace()
    with open(path, 'rb') as f:
      space.ParseFromString(f.read())
    for plane in space.planes:
      names = {k: v.name for k, v in plane.event_metadata.items()}
      for line in plane.lines:
        for ev in line.events:
          totals[names.get(ev.metadata_id, '?')] += ev.duration_ps / 1e9
  return {k: v / repeats for k, v in totals.items()}


def main(argv):
  del argv
  sizes = (784, *(int(h) for h in FLAGS.hidden), 10)
  bs, n_runs = FLAGS.batch_size, FLAGS.seeds
  ds = datasets.load_dataset('mnist_5k')
  images = jnp.asarray(ds.train_x)
  n = (len(ds.train_y) // bs) * bs
  tx = optimizers.build_optimizer(
      dict(name='metaplastic_adam', learning_rate=0.005, meta=1.35,
           weight_decay=1e-7))
  learner = bench._learner(tx, sizes, bs)  # pylint: disable=protected-access
  keys = jax.random.split(jax.random.PRNGKey(2), n_runs)
  states = jax.vmap(learner.init)(keys)
  perms = jax.vmap(lambda k: jax.random.permutation(k, 784))(keys)
  stack = lambda x: jnp.broadcast_to(x, (n_runs,) + x.shape)
  args = (states, images, stack(jnp.arange(n, dtype=jnp.int32)),
          stack(jnp.asarray(ds.train_y[:n])), perms.astype(jnp.int32),
          stack(jnp.ones(10, bool)), keys, 0)
  axes = (0, None, 0, 0, 0, 0, 0, None)
  print(f'JAX {jax.__version__} on {jax.default_backend()}; BNN {sizes}, '
        f'batch {bs}, {n_runs} runs, one epoch of {n} samples each')
  for mode in ('map', 'vmap'):
    prog = jax.jit(program.runs_axis(learner.train_epoch, axes, mode))
    run = lambda: jax.block_until_ready(prog(*args)[0].params)  # pylint: disable=cell-var-from-loop
    run()
    ops = _op_table(prog.lower(*args).compile().as_text())
    times = _profile(run, FLAGS.repeats)
    print(f'== {mode}: epoch {times.get(_EPOCH, float("nan")):.0f} ms '
          '(under the profiler)')
    listed = sorted((t, k) for k, t in times.items() if k in ops)[::-1]
    for t, k in listed[:FLAGS.top]:
      shape, meta = ops[k]
      print(f'  {t:8.1f} ms  {k[:24]:24s} {shape[:26]:26s} '
            f'{meta.split("/")[-1][:30]}')


if __name__ == '__main__':
  app.run(main)
