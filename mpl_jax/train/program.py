"""The compiled programs: one per task, over all runs, on every device.

A *run* is one seed with one value of the swept hyperparameter. The runs
axis is laid over every device of every process with a
``jax.sharding.Mesh`` (axis ``'runs'``) and ``shard_map``; inside a device,
its runs are vmapped or looped with ``lax.map`` (:func:`runs_axis`). The
per-device program is the single-device program on fewer runs, so results
match a single-device run bit for bit where XLA compiles the same program.

A task is ONE call: the optimizer reset, every epoch (a ``lax.scan``), the
evaluation of every task after each epoch (or after the task), the
BatchNorm snapshot and the evaluators, with all keys derived on the device
from :mod:`mpl_jax.train.keys`. The host touches the device once per task.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, Optional, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from mpl_jax.train import keys as keys_lib

PyTree = Any


def resolve_vectorize(vectorize: str, backend: Optional[str] = None) -> str:
  """``'auto'`` -> ``'map'`` on CPU, else ``'vmap'`` (see :func:`runs_axis`);
  the trainer passes the backend it read once."""
  if vectorize != 'auto':
    return vectorize
  backend = backend or jax.default_backend()
  return 'map' if backend == 'cpu' else 'vmap'


def runs_axis(fn, in_axes, vectorize: str):
  """Maps ``fn`` over runs (axis 0 of the arguments whose in_axes is 0).

  ``'vmap'`` batches the runs (best on GPU/TPU: one batched matmul for all
  seeds); ``'map'`` loops over them inside the same compiled program with
  ``lax.map``, best on CPU. Measured for 8 seeds of a 784-1024-1024-10 BNN on
  CPU: ``'map'`` costs 1.02-1.04x running them one by one (the copy of each
  run's state out of and back into the stacked state), ``'vmap'`` 1.2-1.3x
  (profiled: XLA:CPU's YNNPACK kernels for some batched matmuls are 1.3-2.7x
  slower per run than the unbatched ones, and the 8x larger moment updates
  fall out of cache). ``'auto'`` picks ``'map'`` on CPU, else ``'vmap'``.
  A single run is never vmapped: a batch of one made XLA:CPU choose dot
  layouts that cost 1.9x the plain program (measured), and mapping one run is
  the plain program. All modes give the same per-run results.
  """
  vectorize = resolve_vectorize(vectorize)

  def mapped(*args):
    batched = tuple(a for a, ax in zip(args, in_axes) if ax == 0)

    def one(b):
      it = iter(b)
      return fn(*(next(it) if ax == 0 else a for a, ax in zip(args, in_axes)))

    return jax.lax.map(one, batched)

  if vectorize == 'map':
    return mapped
  vmapped = jax.vmap(fn, in_axes=in_axes)

  def batched_or_single(*args):
    first = next(a for a, ax in zip(args, in_axes) if ax == 0)
    num_runs = jax.tree.leaves(first)[0].shape[0]
    return mapped(*args) if num_runs == 1 else vmapped(*args)

  return batched_or_single


# ---------------------------------------------------------------------------
# Layout of the runs over devices and processes.


@dataclasses.dataclass(frozen=True)
class Layout:
  """Which run is which, and how the runs lie over devices and processes.

  Attributes:
    seeds: the seed of each run (value-major: all seeds of the first swept
      value, then the next value).
    values: the swept value of each run (None without a sweep).
    sweep_name: the swept optimizer hyperparameter, or None.
    mesh: the devices, one mesh axis ``'runs'``.
    padded_runs: runs in the program, a multiple of the device count; the
      runs past ``num_runs`` repeat the last run and are dropped from every
      output.
  """
  seeds: tuple[int, ...]
  values: tuple[Any, ...]
  sweep_name: Optional[str]
  mesh: Mesh
  padded_runs: int

  @property
  def num_runs(self) -> int:
    return len(self.seeds)

  @property
  def num_devices(self) -> int:
    return self.mesh.devices.size

  @property
  def num_processes(self) -> int:
    return jax.process_count()

  def describe(self) -> str:
    pad = (f' (padded to {self.padded_runs}: the last run repeated, its '
           'copies dropped)' if self.padded_runs > self.num_runs else '')
    return (f'runs: {self.num_runs} on {self.num_devices} devices x '
            f'{self.num_processes} processes{pad}')

  def device_values(self) -> list[float]:
    """The swept value each run's program gets: the number, or for a sweep
    of non-numeric variants (``'mix'``) the variant's index."""
    if self.sweep_name is None:
      return [0.0] * self.num_runs
    if all(isinstance(v, (int, float)) for v in self.values):
      return [float(v) for v in self.values]
    order = list(dict.fromkeys(self.values))
    return [float(order.index(v)) for v in self.values]

  def pad(self, x: np.ndarray) -> np.ndarray:
    """Pads the leading (runs) axis of a host array to ``padded_runs``."""
    extra = self.padded_runs - x.shape[0]
    if extra <= 0:
      return x
    return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)], axis=0)

  def groups(self) -> dict[str, np.ndarray]:
    """Runs of each swept value (``{'': all}`` without a sweep)."""
    if self.sweep_name is None:
      return {'': np.arange(self.num_runs)}
    out: dict[str, list[int]] = {}
    for r, v in enumerate(self.values):
      out.setdefault(f'{self.sweep_name}={v}', []).append(r)
    return {k: np.asarray(v) for k, v in out.items()}


def make_layout(config, devices: Optional[Sequence[Any]] = None) -> Layout:
  """The runs of ``config`` (seeds x swept values) over ``devices``."""
  seeds = [config.seed + i for i in range(config.num_seeds)]
  sweep = config.sweep
  if sweep.name:
    values = list(sweep['values'])
    run_seeds = [s for _ in values for s in seeds]
    run_values = [v for v in values for _ in seeds]
    name = sweep.name
  else:
    run_seeds, run_values, name = seeds, [None] * len(seeds), None
  devices = list(jax.devices() if devices is None else devices)
  if config.protocol.devices:
    devices = devices[:config.protocol.devices]
  # No device is left idle when there are fewer runs than devices.
  devices = devices[:max(1, len(run_seeds))]
  d = len(devices)
  padded = -(-len(run_seeds) // d) * d
  mesh = Mesh(np.asarray(devices), ('runs',))
  return Layout(tuple(run_seeds), tuple(run_values), name, mesh, padded)


def put(layout: Layout, x: Any, per_run: bool) -> jax.Array:
  """A host array on the mesh: split over runs (padded), or replicated."""
  x = np.asarray(x)
  if per_run:
    x = layout.pad(x)
  sharding = NamedSharding(layout.mesh, P('runs') if per_run else P())
  if jax.process_count() == 1:
    return jax.device_put(x, sharding)
  return jax.make_array_from_callback(x.shape, sharding, lambda i: x[i])


def fetch(layout: Layout, tree: PyTree) -> PyTree:
  """Device arrays to host numpy, every process seeing every run: for the
  small per-task outputs (the state is never gathered: each process
  checkpoints its own shards, :mod:`mpl_jax.train.checkpoint`)."""
  if jax.process_count() > 1:
    tree = multihost_utils.process_allgather(tree, tiled=True)
  return jax.tree.map(np.asarray, tree)


def trim(layout: Layout, tree: PyTree) -> PyTree:
  """Drops the padding runs from the leading axis of every leaf."""
  return jax.tree.map(lambda a: a[:layout.num_runs], tree)


def over_devices(layout: Layout, fn: Callable[..., Any],
                 per_run: Sequence[bool]) -> Callable[..., Any]:
  """``fn`` (over the runs of one device) on every device of the mesh."""
  if layout.num_devices == 1:
    return fn
  specs = tuple(P('runs') if r else P() for r in per_run)
  return jax.shard_map(fn, mesh=layout.mesh, in_specs=specs,
                       out_specs=P('runs'), check_vma=False)


# ---------------------------------------------------------------------------
# Progress from inside a compiled task.


class EpochProgress:
  """Logs per-epoch training progress from inside the compiled task.

  Called through ``jax.debug.callback`` once per run and epoch; logs at most
  once every ``interval`` seconds (the first epoch of a task always), so a
  program with many runs does not flood the log.
  """

  def __init__(self, num_runs: int, epochs: int, interval: float = 10.0):
    self.num_runs, self.epochs, self.interval = num_runs, epochs, interval
    self._last = 0.0

  def __call__(self, run, task, epoch, loss, acc):
    now = time.time()
    run, task, epoch = np.asarray(run), int(task), int(epoch)
    if now - self._last < self.interval:
      return
    self._last = now
    loss, acc = np.asarray(loss), np.asarray(acc)
    logging.info('  task %d epoch %d/%d: run %s/%d  loss %.4f  train acc '
                 '%.2f%%', task + 1, epoch + 1, self.epochs,
                 np.atleast_1d(run)[0] + 1, self.num_runs,
                 float(np.mean(loss)), 100 * float(np.mean(acc)))


# ---------------------------------------------------------------------------
# The programs.


@dataclasses.dataclass(frozen=True)
class TestGroup:
  """Tasks whose test sets have the same shape, evaluated with one
  ``lax.map``: ``task_ids`` and, per run, their stacked arrays."""
  task_ids: np.ndarray
  arrays: dict[str, Any]  # idx [R, G, m], y [R, G, m], perm [R, G, D], mask


class Programs:
  """The jitted init, evaluation and task programs of a learner.

  The programs take the state, two pytrees of inputs and the task index:
  ``runs`` (every leaf with a leading runs axis: ``seed``, ``value`` (the
  swept value), ``run_index``, ``train`` (the task's arrays), ``groups``
  (the arrays of each :class:`TestGroup`), ``evals`` (each evaluator's
  per-run arrays)) and ``shared`` (read by every run: ``images``,
  ``test_images``, ``evals`` (each evaluator's shared arrays)).

  Args:
    learner: the pure single-run functions
      (:class:`mpl_jax.train.interfaces.Learner`).
    layout: runs over devices.
    num_tasks: T.
    epochs: epochs per task (E).
    per_epoch: evaluate every task after each epoch (else after the task).
    seen_only: evaluate only tasks trained so far (and task 0).
    task_boundaries: pass the task index as ``task_id`` (else 0).
    vectorize: 'vmap' | 'map' (see :func:`runs_axis`; the trainer resolves
      'auto' once, by backend).
    group_ids: the task ids of each :class:`TestGroup`.
    evaluators: :class:`mpl_jax.train.interfaces.Evaluator`s, run inside
      the task program.
    progress: an :class:`EpochProgress`, or None (no per-epoch callback).
  """

  def __init__(self, learner, layout: Layout, *, num_tasks: int, epochs: int,
               per_epoch: bool, seen_only: bool, task_boundaries: bool,
               vectorize: str, group_ids: Sequence[np.ndarray],
               evaluators: Sequence[Any] = (),
               progress: Optional[EpochProgress] = None):
    self.learner, self.layout = learner, layout
    self.num_tasks, self.epochs = num_tasks, epochs
    self.per_epoch, self.seen_only = per_epoch, seen_only
    self.task_boundaries, self.vectorize = task_boundaries, vectorize
    self.group_ids = tuple(np.asarray(g) for g in group_ids)
    self.evaluators, self.progress = tuple(evaluators), progress

    init = runs_axis(learner.init, (0, 0), 'vmap')
    self.init = jax.jit(over_devices(layout, init, (True, True)))

  # -- single-run pieces ----------------------------------------------------
  def _evaluate_all(self, state, seed, point, trained_upto, images, groups):
    """Accuracy on every task ``[T]`` (NaN where skipped)."""
    l = self.learner
    root = keys_lib.stream_key(seed, 'eval', point)
    accs = jnp.full((self.num_tasks,), jnp.nan, jnp.float32)
    for ids, arrays in zip(self.group_ids, groups):

      def one(a, _root=root):
        j, idx, y, perm, mask = a

        def run():
          bn_task = jnp.where(j < trained_upto, j, -1)
          return l.evaluate(state, images, idx, y, perm, mask,
                            jax.random.fold_in(_root, j), bn_task
                            ).astype(jnp.float32)

        if not self.seen_only:
          return run()
        return jax.lax.cond(j <= jnp.maximum(trained_upto, 0), run,
                            lambda: jnp.float32(jnp.nan))

      vals = jax.lax.map(one, (jnp.asarray(ids, jnp.int32), arrays['idx'],
                               arrays['y'], arrays['perm'], arrays['mask']))
      accs = accs.at[jnp.asarray(ids)].set(vals)
    return accs

  def _evaluators(self, state, runs, shared, t, at_init=False):
    evals = {}
    for ev, per_run in zip(self.evaluators, runs['evals']):
      if not at_init or getattr(ev, 'at_init', False):
        evals[ev.name] = ev.after_task(
            self.learner, state, runs['seed'], t, runs['train'],
            shared['test_images'], shared['evals'][ev.name], per_run)
    return evals

  def _task(self, state, runs, shared, t):
    l, seed, train = self.learner, runs['seed'], runs['train']
    state = l.start_task(state, seed, t, runs['value'])
    task_id = t if self.task_boundaries else jnp.zeros_like(t)

    def epoch(st, e):
      st, loss, acc = l.train_epoch(
          st, shared['images'], train['idx'], train['y'], train['perm'],
          train['mask'], keys_lib.stream_key(seed, 'epoch', t, e), task_id)
      if self.progress is not None:
        jax.debug.callback(self.progress, runs['run_index'], t, e, loss, acc)
      out = (loss, acc)
      if self.per_epoch:
        point = 1 + t * self.epochs + e
        out += (self._evaluate_all(st, seed, point, t, shared['test_images'],
                                   runs['groups']),)
      return st, out

    state, outs = jax.lax.scan(epoch, state, jnp.arange(self.epochs))
    if self.per_epoch:
      losses, accs, curve = outs
    else:
      losses, accs = outs
      curve = self._evaluate_all(state, seed, 1 + t, t, shared['test_images'],
                                 runs['groups'])[None]
    state = l.end_task(state, t)
    return state, dict(losses=losses, train_accuracy=accs, curve=curve,
                       evals=self._evaluators(state, runs, shared, t))

  def _initial(self, state, runs, shared):
    acc = self._evaluate_all(state, runs['seed'], 0, -1,
                             shared['test_images'], runs['groups'])
    return acc, self._evaluators(state, runs, shared, jnp.int32(-1),
                                 at_init=True)

  # -- compiled programs ----------------------------------------------------
  @functools.cached_property
  def _initial_program(self):
    mapped = runs_axis(self._initial, (0, 0, None), self.vectorize)
    return jax.jit(over_devices(self.layout, mapped, (True, True, False)))

  @functools.cached_property
  def _task_program(self):
    mapped = runs_axis(self._task, (0, 0, None, None), self.vectorize)
    return jax.jit(over_devices(self.layout, mapped,
                                (True, True, False, False)),
                   donate_argnums=0)

  def evaluate_initial(self, state, runs, shared):
    """Before training: accuracy of every run on every task ``[R, T]``, and
    the outputs of the evaluators with ``at_init`` (on ``runs['train']``,
    task 0, with ``t=-1``)."""
    return self._initial_program(state, runs, shared)

  def run_task(self, state, runs, shared, t):
    """Trains and evaluates task ``t`` for every run (one compiled call);
    ``runs['train']`` holds task ``t``'s arrays."""
    return self._task_program(state, runs, shared, jnp.int32(t))
