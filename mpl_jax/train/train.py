"""Continual-learning trainer: many runs in one compiled program, resumable.

``train_and_evaluate(config, workdir)`` builds the task stream from the
config, then for each task (in order) trains ``epochs_per_task`` epochs and
evaluates every task. All runs (``num_seeds`` seeds ``seed, seed+1, ...``,
times the values of an optional hyperparameter sweep) advance together: one
epoch is one ``jax.jit(jax.vmap(...))`` call. Run ``r`` of a vmapped program
equals a single run with the same seed and value (to float tolerance).

After every task the run checkpoints its full state (orbax; parameters,
BatchNorm statistics, optimizer state, keys) and rewrites its outputs (see
:mod:`mpl_jax.train.outputs`). A run started again with the same workdir and
config resumes after its last completed task and ends with the results of an
uninterrupted run: every random draw is ``fold_in(seed key, task, epoch)``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Optional

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from mpl_jax.data import datasets as datasets_lib
from mpl_jax.data import streams as streams_lib
from mpl_jax.train import checkpoint as ckpt_lib
from mpl_jax.train import learner as learner_lib
from mpl_jax.train import metrics as metrics_lib
from mpl_jax.train import optimizers
from mpl_jax.train import outputs
from mpl_jax.train import validate
from mpl_jax.train.models import build_model


def build_stream(config: ml_collections.ConfigDict,
                 seeds) -> streams_lib.TaskStream:
  """Loads the base dataset(s) and draws the tasks for ``seeds``."""
  d = config.data
  data_dir = d.get('data_dir') or None
  if d.stream == 'permuted':
    ds = datasets_lib.load_dataset(d.dataset, data_dir=data_dir)
    return streams_lib.permuted_stream(
        ds, d.num_tasks, seeds, permute_first=d.get('permute_first', True),
        train_subset=d.get('train_subset', 0),
        test_subset=d.get('test_subset', 0))
  if d.stream == 'split':
    ds = datasets_lib.load_dataset(d.dataset, data_dir=data_dir)
    return streams_lib.split_stream(
        ds, seeds, classes_per_task=d.get('classes_per_task', 2),
        scenario=d.get('scenario', 'class'),
        class_order=d.get('class_order', 'fixed'),
        num_tasks=d.get('num_tasks', 0) or None,
        train_subset=d.get('train_subset', 0),
        test_subset=d.get('test_subset', 0))
  if d.stream == 'sequential':
    dss = [datasets_lib.load_dataset(n, data_dir=data_dir)
           for n in d.datasets]
    return streams_lib.sequential_stream(
        dss, seeds, train_subset=d.get('train_subset', 0),
        test_subset=d.get('test_subset', 0))
  raise ValueError(f'unknown stream {d.stream!r}')


def run_layout(config) -> tuple[list[int], list[Any], Optional[str]]:
  """Seeds and swept values of each run (value-major), and the swept name."""
  seeds = [config.seed + i for i in range(config.num_seeds)]
  sweep = config.get('sweep', None)
  if sweep and sweep.get('name'):
    values = list(sweep['values'])
    return ([s for _ in values for s in seeds],
            [v for v in values for _ in seeds], sweep['name'])
  return seeds, [None] * len(seeds), None


def make_learner(config, stream: streams_lib.TaskStream,
                 sweep_name: Optional[str]) -> learner_lib.Learner:
  """The model, optimizer and protocol options of ``config``."""
  sizes = (stream.input_dim, *config.model.hidden, stream.num_classes)
  make_model = lambda rngs: build_model(config.model, sizes, rngs)
  model = make_model(nnx.Rngs(0))
  graphdef, params, _ = nnx.split(model, nnx.Param, nnx.BatchStat)
  tx = optimizers.build_optimizer(
      config.optimizer, inject=(sweep_name,) if sweep_name else ())
  p = config.protocol
  return learner_lib.Learner(
      graphdef=graphdef, make_model=make_model, tx=tx,
      preprocess=learner_lib.Preprocess(config.data.scale, config.data.mean,
                                        config.data.std),
      batch_size=p.batch_size, eval_batch_size=p.eval_batch_size,
      loss_reduction=p.get('loss_reduction', 'mean'),
      reset_optimizer=p.reset_optimizer, per_task_bn=p.per_task_bn,
      num_tasks=stream.num_tasks,
      bn_param_mask=learner_lib.bn_param_mask(model, nnx.as_pure(params)),
      sweep=sweep_name)


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
  if vectorize == 'auto':
    vectorize = 'map' if jax.default_backend() == 'cpu' else 'vmap'

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


class _Programs:
  """The jitted programs over all runs (compiled once per shape)."""

  def __init__(self, learner: learner_lib.Learner, vectorize: str = 'auto'):
    l = learner
    self.init = jax.jit(jax.vmap(l.init))
    self.start_task = jax.jit(jax.vmap(l.start_task, in_axes=(0, 0, None, 0)))
    self.end_task = jax.jit(jax.vmap(l.end_task, in_axes=(0, None)))
    self.train_epoch = jax.jit(
        runs_axis(l.train_epoch, (0, None, 0, 0, 0, 0, 0, None), vectorize),
        donate_argnums=0)
    self.evaluate = jax.jit(
        runs_axis(l.evaluate, (0, None, 0, 0, 0, 0, 0, None), vectorize))
    self.scores = jax.jit(
        runs_axis(l.uncertainty_scores, (0, None, 0, 0, 0, None), vectorize))


def _keys(seeds, *tags):
  """Per-run keys ``fold_in(PRNGKey(seed), tags...)``, stacked."""
  out = []
  for s in seeds:
    k = jax.random.PRNGKey(s)
    for t in tags:
      k = jax.random.fold_in(k, t)
    out.append(k)
  return jnp.stack(out)


def _groups(values, sweep_name):
  if sweep_name is None:
    return {'': np.arange(len(values))}
  groups = {}
  for r, v in enumerate(values):
    groups.setdefault(f'{sweep_name}={v}', []).append(r)
  return {k: np.asarray(v) for k, v in groups.items()}


def _summary(acc, acc_init, done, groups, seeds, values, sweep_name,
             ood_auc=None):
  out = {'tasks_completed': int(done), 'runs': len(seeds)}
  if done == 0:
    return out
  r = acc[:, :done, :done]
  b = acc_init[:, :done]
  per_group = {g: metrics_lib.summarize(r[idx], b[idx])
               for g, idx in groups.items()}
  if ood_auc is not None:
    for g, idx in groups.items():
      per_group[g]['ood_auc'] = metrics_lib.mean_std(ood_auc[idx, done - 1])
      per_group[g]['ood_auc_after_task'] = {
          'mean': ood_auc[idx, :done].mean(0).tolist(),
          'std': ood_auc[idx, :done].std(0).tolist()}
  if sweep_name is None:
    out.update(per_group[''])
    out['seeds'] = list(seeds)
  else:
    out['sweep'] = {'name': sweep_name, 'groups': per_group}
    out['seeds'] = sorted(set(seeds))
  return out


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       _interrupt_after_task: Optional[int] = None) -> dict:
  """Runs the protocol of ``config``, writing outputs to ``workdir``.

  Args:
    config: an experiment config (see ``configs/``).
    workdir: where outputs and checkpoints go; an existing workdir with the
      same config is resumed.
    _interrupt_after_task: for tests: raise ``KeyboardInterrupt`` once this
      many tasks are completed and saved (as a kill would).

  Returns:
    The summary (also written to ``summary.json``).
  """
  if config.protocol.get('kind', 'continual') == 'items':
    # Item-by-item learning (Lee et al.) has its own sessions and metrics.
    from mpl_jax.train import items  # pylint: disable=g-import-not-at-top
    return items.run_items(config, workdir)
  validate.validate_config(config)
  os.makedirs(workdir, exist_ok=True)
  outputs.check_or_write_config(workdir, config)

  seeds, values, sweep_name = run_layout(config)
  stream_seeds = sorted(set(seeds))
  stream = build_stream(config, stream_seeds)
  data_dir = config.data.get('data_dir') or None
  run_of_seed = np.asarray([stream_seeds.index(s) for s in seeds])
  outputs.write_npz(os.path.join(workdir, 'stream.npz'), stream.arrays())
  learner = make_learner(config, stream, sweep_name)
  progs = _Programs(learner, config.protocol.get('vectorize', 'auto'))

  n_runs, n_tasks = len(seeds), stream.num_tasks
  epochs = config.protocol.epochs_per_task
  per_epoch = config.protocol.get('eval_every', 'epoch') == 'epoch'
  points = epochs if per_epoch else 1
  seed_keys = _keys(seeds)
  sweep_vals = jnp.asarray([0.0 if v is None else v for v in values],
                           jnp.float32)
  images = [jnp.asarray(ds.train_x) for ds in stream.datasets]
  test_images = [jnp.asarray(ds.test_x) for ds in stream.datasets]
  task_arrays = [
      dict(train_idx=jnp.asarray(t.train_idx[run_of_seed]),
           train_y=jnp.asarray(t.train_y[run_of_seed]),
           test_idx=jnp.asarray(t.test_idx[run_of_seed]),
           test_y=jnp.asarray(t.test_y[run_of_seed]),
           perm=jnp.asarray(t.pixel_perm[run_of_seed]),
           mask=jnp.asarray(
               np.ones((len(stream_seeds), stream.num_classes), bool)
               if t.class_mask is None else t.class_mask)[run_of_seed])
      for t in stream.tasks]
  boundaries = config.protocol.get('task_boundaries', True)
  eval_seen_only = config.protocol.get('eval_tasks', 'all') == 'seen'
  groups = _groups(values, sweep_name)
  ood_name = config.get('ood', {}).get('dataset', '')
  ood = None
  if ood_name:
    ood_ds = datasets_lib.load_dataset(ood_name, data_dir=data_dir)
    if ood_ds.train_x.shape[1] != stream.input_dim:
      raise ValueError(f'ood dataset {ood_name!r} has input size '
                       f'{ood_ds.train_x.shape[1]}, the stream '
                       f'{stream.input_dim}.')
    ood_idx = streams_lib.subset_indices(len(ood_ds.test_y),
                                  config.ood.get('test_subset', 0),
                                  np.random.default_rng(0))
    ood = dict(images=jnp.asarray(ood_ds.test_x),
               idx=jnp.asarray(np.tile(ood_idx, (n_runs, 1))))

  def ood_auc_after(state, t):
    """ROC-AUC of uncertainty: task t's test set vs the OOD test set."""
    arr, task = task_arrays[t], stream.tasks[t]
    k_in, k_out = _keys(seeds, 8, t, 0), _keys(seeds, 8, t, 1)
    s_in = np.asarray(progs.scores(state, test_images[task.dataset],
                                   arr['test_idx'], arr['perm'], k_in, -1))
    s_out = np.asarray(progs.scores(state, ood['images'], ood['idx'],
                                    arr['perm'], k_out, -1))
    return np.asarray([metrics_lib.roc_auc(o, i)
                       for i, o in zip(s_in, s_out)], np.float32)

  def evaluate_all(state, tag, trained_upto):
    accs = np.full((n_runs, n_tasks), np.nan, np.float32)
    for j, (task, arr) in enumerate(zip(stream.tasks, task_arrays)):
      if eval_seen_only and j > max(trained_upto, 0):
        continue
      # Completed tasks use their own BatchNorm snapshot (per_task_bn only).
      bn_task = j if j < trained_upto else -1
      accs[:, j] = np.asarray(progs.evaluate(
          state, test_images[task.dataset], arr['test_idx'], arr['test_y'],
          arr['perm'], arr['mask'], _keys(seeds, 7, tag, j), bn_task))
    return accs

  state = progs.init(seed_keys, sweep_vals)
  ckpt = ckpt_lib.Checkpointer(os.path.join(workdir, 'checkpoints'))
  acc = np.full((n_runs, n_tasks, n_tasks), np.nan, np.float32)
  curves = np.full((n_runs, n_tasks * points, n_tasks), np.nan, np.float32)
  losses = np.full((n_runs, n_tasks, epochs), np.nan, np.float32)
  train_acc = np.full((n_runs, n_tasks, epochs), np.nan, np.float32)
  ood_auc = np.full((n_runs, n_tasks), np.nan, np.float32)
  start = ckpt.latest_step() or 0
  if start:
    restored = ckpt.restore(start, dict(
        state=state, acc=acc, curves=curves, losses=losses,
        train_acc=train_acc, ood_auc=ood_auc,
        acc_init=np.zeros((n_runs, n_tasks), np.float32)))
    state, acc, curves = restored['state'], restored['acc'], restored['curves']
    losses, train_acc = restored['losses'], restored['train_acc']
    ood_auc = restored['ood_auc']
    acc_init = restored['acc_init']
    logging.info('Resumed %s after task %d/%d.', workdir, start, n_tasks)
  else:
    acc_init = evaluate_all(state, 0, -1)

  total_samples = 0
  t_run = time.time()
  for t in range(start, n_tasks):
    task, arr = stream.tasks[t], task_arrays[t]
    state = progs.start_task(state, seed_keys, t, sweep_vals)
    t_task = time.time()
    for e in range(epochs):
      t0 = time.time()
      state, loss, tacc = progs.train_epoch(
          state, images[task.dataset], arr['train_idx'], arr['train_y'],
          arr['perm'], arr['mask'], _keys(seeds, 1, t, e),
          t if boundaries else 0)
      loss = np.asarray(loss)
      losses[:, t, e], train_acc[:, t, e] = loss, np.asarray(tacc)
      if not np.all(np.isfinite(loss)):
        bad = np.flatnonzero(~np.isfinite(loss))
        raise FloatingPointError(
            f'non-finite training loss in task {t} epoch {e} for runs '
            f'{bad.tolist()} (seeds {[seeds[i] for i in bad]}, values '
            f'{[values[i] for i in bad]}): lower the learning rate or check '
            f'the data scaling. Completed tasks are checkpointed in '
            f'{workdir}.')
      n_seen = (arr['train_idx'].shape[1] // learner.batch_size *
                learner.batch_size)
      total_samples += n_seen * n_runs
      evaluated = per_epoch or e == epochs - 1
      if evaluated:
        point = t * points + (e if per_epoch else 0)
        curves[:, point] = evaluate_all(state, 1 + t * epochs + e, t)
      dt = time.time() - t0
      task_acc = (f'  task acc {100 * np.mean(curves[:, point, t]):.2f}%'
                  if evaluated else '')
      logging.info(
          'task %d/%d epoch %d/%d  loss %.4f  train acc %.2f%%%s  %.1fs  '
          '%.0f samples/s (all runs)', t + 1, n_tasks, e + 1, epochs,
          loss.mean(), 100 * np.mean(train_acc[:, t, e]), task_acc, dt,
          n_seen * n_runs / max(dt, 1e-9))
    state = progs.end_task(state, t)
    acc[:, t] = curves[:, t * points + points - 1]
    if ood is not None:
      ood_auc[:, t] = ood_auc_after(state, t)
      logging.info('OOD ROC-AUC (%s vs %s) after task %d: %.4f +- %.4f',
                   stream.tasks[t].name, ood_name, t + 1,
                   ood_auc[:, t].mean(), ood_auc[:, t].std())
    ckpt.save(t + 1, dict(state=state, acc=acc, curves=curves, losses=losses,
                          train_acc=train_acc, ood_auc=ood_auc,
                          acc_init=acc_init))
    _write_outputs(workdir, config, stream, acc, acc_init, curves, losses,
                   train_acc, t + 1, points, groups, seeds, values,
                   sweep_name, ood_auc if ood is not None else None)
    row = ' '.join(f'{100 * a:.1f}' for a in np.nanmean(acc[:, t, :t + 1], 0))
    logging.info('task %d/%d done in %.1fs; accuracy on tasks 1..%d: %s',
                 t + 1, n_tasks, time.time() - t_task, t + 1, row)
    if _interrupt_after_task is not None and t + 1 >= _interrupt_after_task:
      ckpt.close()
      raise KeyboardInterrupt(f'interrupted after task {t + 1} (test hook)')
  if start == n_tasks:
    _write_outputs(workdir, config, stream, acc, acc_init, curves, losses,
                   train_acc, n_tasks, points, groups, seeds, values,
                   sweep_name, ood_auc if ood is not None else None)
  ckpt.close()
  elapsed = time.time() - t_run
  summary = _summary(acc, acc_init, n_tasks, groups, seeds, values,
                     sweep_name, ood_auc if ood is not None else None)
  logging.info('Finished in %.1fs (%.0f training samples/s over all runs). '
               'Summary: %s', elapsed, total_samples / max(elapsed, 1e-9),
               json.dumps(summary.get('average_accuracy',
                                      summary.get('sweep', {}))))
  return summary


def _write_outputs(workdir, config, stream, acc, acc_init, curves, losses,
                   train_acc, done, points, groups, seeds, values,
                   sweep_name, ood_auc=None):
  """Rewrites every output file from the arrays of the completed tasks."""
  rows = []
  for t in range(done):
    for r in range(len(seeds)):
      rows.append({
          'task': t, 'task_name': stream.tasks[t].name, 'run': r,
          'seed': seeds[r], **({sweep_name: values[r]} if sweep_name else {}),
          'train_loss': [float(x) for x in losses[r, t]],
          'train_accuracy': [float(x) for x in train_acc[r, t]],
          'accuracy': [float(x) for x in acc[r, t, :]],
          'average_accuracy_seen': float(np.mean(acc[r, t, :t + 1])),
          **({'ood_auc': float(ood_auc[r, t])} if ood_auc is not None
             else {}),
      })
  outputs.write_jsonl(os.path.join(workdir, 'metrics.jsonl'), rows)
  outputs.write_npy(os.path.join(workdir, 'accuracy.npy'), acc)
  outputs.write_npy(os.path.join(workdir, 'accuracy_init.npy'), acc_init)
  outputs.write_npy(os.path.join(workdir, 'curves.npy'), curves)
  summary = _summary(acc, acc_init, done, groups, seeds, values, sweep_name,
                     ood_auc)
  if ood_auc is not None:
    outputs.write_npy(os.path.join(workdir, 'ood_auc.npy'), ood_auc)
  outputs.write_json(os.path.join(workdir, 'summary.json'), summary)
  if config.get('plot', True):
    outputs.plot_accuracy(
        os.path.join(workdir, 'accuracy.png'), curves, points, acc, groups,
        [t.name for t in stream.tasks], title=config.get('name', ''))
