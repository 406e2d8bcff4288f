"""Continual-learning trainer: every run on every device, one program a task.

``train_and_evaluate(config, workdir)`` builds the task stream from the
config and trains its tasks in order. All runs (``num_seeds`` seeds
``seed, seed+1, ...`` times the values of an optional hyperparameter sweep)
advance together, laid over every device (and process) of the machine
(:mod:`mpl_jax.train.program`). A task is one compiled call: its epochs,
the evaluation of every task after each epoch, the evaluators of
``config.evals``; the host touches the device once per task, to copy what it
saves and report progress, and writes the checkpoint and outputs in a
background thread while the devices run the next task
(:mod:`mpl_jax.train.background`; ``protocol.save_mode``: on CPU, by
default, before it starts). Run ``r`` of the program equals a
single run with the same seed and value.

Protocols (``config.data.stream``): permuted, split (class / task / domain
incremental), sequential datasets; ``protocol.task_boundaries=False`` makes
any of them task-free (the optimizer always sees ``task_id=0``). Learners
(``config.learner``): ``'gradient'`` (a Flax model and an optax rule, see
:mod:`mpl_jax.train.learner`) or ``'erbp'`` (spiking network with local
learning, :mod:`mpl_jax.train.spiking`).

Nothing is lost: after every task the state and the :class:`RunRecord` are
checkpointed (verified on restore; a damaged newest checkpoint falls back to
the previous one) and every output is rewritten atomically. A run started
again with the same workdir and config resumes after its last completed task
and ends with the results of an uninterrupted run (every key is derived from
seed and indices, :mod:`mpl_jax.train.keys`). A lock refuses a second run on
the same workdir. Ctrl-C or SIGTERM stops after saying how to resume.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Optional

from absl import logging
import jax
import ml_collections
import numpy as np
from flax import nnx

from mpl_jax.data import datasets as datasets_lib
from mpl_jax.data import streams as streams_lib
from mpl_jax.rules import mixture as mixture_lib
from mpl_jax.train import background
from mpl_jax.train import checkpoint as ckpt_lib
from mpl_jax.train import evaluators as evaluators_lib
from mpl_jax.train import health
from mpl_jax.train import keys as keys_lib
from mpl_jax.train import learner as learner_lib
from mpl_jax.train import optimizers
from mpl_jax.train import outputs
from mpl_jax.train import program as program_lib
from mpl_jax.train import record as record_lib
from mpl_jax.train import task_data
from mpl_jax.train import validate
from mpl_jax.train import workdir as workdir_lib
from mpl_jax.train.models import build_model
from mpl_jax.train.program import runs_axis  # pylint: disable=unused-import


def build_stream(config: ml_collections.ConfigDict,
                 seeds) -> streams_lib.TaskStream:
  """Loads the base dataset(s) and draws the tasks for ``seeds``."""
  d = config.data
  if d.stream == 'items':
    from mpl_jax.train import items  # pylint: disable=g-import-not-at-top
    return items.build_stream(config, seeds)
  data_dir = d.data_dir or None
  subsets = dict(train_subset=d.train_subset, test_subset=d.test_subset)
  if d.stream == 'permuted':
    ds = datasets_lib.load_dataset(d.dataset, data_dir=data_dir)
    return streams_lib.permuted_stream(
        ds, d.num_tasks, seeds, permute_first=d.permute_first, **subsets)
  if d.stream == 'split':
    ds = datasets_lib.load_dataset(d.dataset, data_dir=data_dir)
    return streams_lib.split_stream(
        ds, seeds, classes_per_task=d.classes_per_task, scenario=d.scenario,
        class_order=d.class_order, num_tasks=d.num_tasks or None,
        train_outputs=d.train_outputs, **subsets)
  if d.stream == 'sequential':
    dss = [datasets_lib.load_dataset(n, data_dir=data_dir)
           for n in d.datasets]
    return streams_lib.sequential_stream(dss, seeds, **subsets)
  raise ValueError(f'unknown stream {d.stream!r}')


def make_learner(config, stream: streams_lib.TaskStream,
                 sweep_name: Optional[str]):
  """The learner of ``config.learner`` for ``stream``."""
  if config.learner == 'erbp':
    from mpl_jax.train import spiking  # pylint: disable=g-import-not-at-top
    return _SeededLearner(spiking.make_erbp_learner(config, stream,
                                                    sweep_name))
  sizes = (stream.input_dim, *config.model.hidden, stream.num_classes)
  make_model = lambda rngs: build_model(config.model, sizes, rngs)
  model = make_model(nnx.Rngs(0))
  graphdef, params, _ = nnx.split(model, nnx.Param, nnx.BatchStat)
  if sweep_name == 'mix':
    # Non-numeric settings: one optimizer per variant, each run keeps its own.
    from mpl_jax.train import items  # pylint: disable=g-import-not-at-top
    tx = mixture_lib.mixture([optimizers.build_optimizer(v) for v in
                              items.optimizer_variants(config)])
  else:
    tx = optimizers.build_optimizer(
        config.optimizer, inject=(sweep_name,) if sweep_name else ())
  p = config.protocol
  steps = p.steps_per_task
  return learner_lib.Learner(
      graphdef=graphdef, make_model=make_model, tx=tx,
      preprocess=learner_lib.Preprocess(config.data.scale, config.data.mean,
                                        config.data.std),
      batch_size=p.batch_size, eval_batch_size=p.eval_batch_size,
      loss_reduction=p.loss_reduction, reset_optimizer=p.reset_optimizer,
      per_task_bn=p.per_task_bn, num_tasks=stream.num_tasks,
      bn_param_mask=learner_lib.bn_param_mask(model, nnx.as_pure(params)),
      sweep=sweep_name, steps_per_epoch=steps)


class _SeededLearner:
  """A learner whose ``init``/``start_task`` take keys, given seeds: its
  init key is stream ``'init'``, its key at task ``t`` stream ``'rule'``
  (the learner derives every other key below these)."""

  def __init__(self, inner):
    self._inner = inner

  def __getattr__(self, name):
    return getattr(self._inner, name)

  def init(self, seed, sweep_value=None):
    return self._inner.init(keys_lib.stream_key(seed, 'init'), sweep_value)

  def start_task(self, state, seed, task, sweep_value=None):
    return self._inner.start_task(
        state, keys_lib.stream_key(seed, 'rule', task), task, sweep_value)


@contextlib.contextmanager
def _sigterm_as_interrupt():
  """SIGTERM raises KeyboardInterrupt (as Ctrl-C) while the run lasts."""
  def handler(signum, frame):
    del signum, frame
    raise KeyboardInterrupt('SIGTERM')
  try:
    old = signal.signal(signal.SIGTERM, handler)
  except ValueError:  # not the main thread
    yield
    return
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, old)


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
  validate.validate_config(config)
  primary = jax.process_index() == 0
  workdir_lib.prepare(workdir)
  lock = workdir_lib.locked(workdir) if primary else contextlib.nullcontext()
  with lock, _sigterm_as_interrupt():
    ckpt = ckpt_lib.Checkpointer(
        os.path.join(workdir, 'checkpoints'),
        config=workdir_lib.config_json(config),
        async_save=jax.default_backend() != 'cpu')
    created = False
    try:
      created = workdir_lib.check_config(workdir, ckpt.config, ckpt,
                                         write=primary)
      workdir_lib.check_writable(
          [ckpt.directory] + [os.path.join(workdir, 'tensorboard')] * (
              primary and config.protocol.tensorboard),
          [os.path.join(workdir, 'metrics.jsonl')] * primary)
      return _train(config, workdir, ckpt, primary, _interrupt_after_task)
    except BaseException as e:
      if created and not ckpt.steps():
        # Nothing to resume: leave no state that would refuse another config.
        for name in ('config.json', 'stream.npz'):
          try:
            os.remove(os.path.join(workdir, name))
          except FileNotFoundError:
            pass
      if isinstance(e, KeyboardInterrupt):
        done = max(ckpt.steps(), default=0)
        logging.warning(
            'Interrupted%s. %s', f' ({e})' if str(e) else '',
            f'Tasks 1..{done} are saved in {workdir}: rerun the same command '
            'to resume.' if done else 'No task was completed; nothing saved.')
      raise
    finally:
      ckpt.close()


def _train(config, workdir, ckpt, primary, interrupt_after):
  t_setup = time.time()
  layout = program_lib.make_layout(config)
  logging.info('%s (%s, vectorize=%s).', layout.describe(),
               jax.default_backend(), config.protocol.vectorize)
  stream_seeds = sorted(set(layout.seeds))
  stream = build_stream(config, stream_seeds)
  task_data.check_batches(config, stream)
  evaluators = evaluators_lib.build_evaluators(config, stream)
  run_of_seed = np.asarray([stream_seeds.index(s) for s in layout.seeds])
  if primary:
    outputs.write_npz(os.path.join(workdir, 'stream.npz'), stream.arrays())
  learner = make_learner(config, stream, layout.sweep_name)
  data = task_data.DeviceData(stream, layout, run_of_seed, stream.num_classes)

  p = config.protocol
  n_tasks = stream.num_tasks
  epochs = p.epochs_per_task if not p.steps_per_task else 1
  per_epoch = p.eval_every == 'epoch'
  progress = p.progress
  if progress == 'auto':
    progress = 'epoch' if jax.default_backend() == 'cpu' else 'task'
  progs = program_lib.Programs(
      learner, layout, num_tasks=n_tasks, epochs=epochs, per_epoch=per_epoch,
      seen_only=p.eval_tasks == 'seen', task_boundaries=p.task_boundaries,
      vectorize=p.vectorize, evaluators=evaluators,
      progress=(program_lib.EpochProgress(layout.num_runs, epochs)
                if progress == 'epoch' and epochs > 1 else None))
  put_runs = lambda x: program_lib.put(layout, x, per_run=True)
  seeds = put_runs(np.asarray(layout.seeds, np.int32))
  values = put_runs(np.asarray(layout.device_values(), np.float32))
  run_index = put_runs(np.arange(layout.num_runs, dtype=np.int32))
  shared = {ev.name: ev.shared for ev in evaluators}
  ev_runs = [jax.tree.map(put_runs, ev.per_run(layout)) for ev in evaluators]

  state = progs.init(seeds, values)
  record = record_lib.RunRecord.empty(layout.num_runs, n_tasks, epochs,
                                      epochs if per_epoch else 1, evaluators)
  host = lambda tree: program_lib.trim(layout, program_lib.fetch(layout,
                                                                 tree))
  # Restored straight onto the state's sharding (each process its shards);
  # saved for another device count: through the host, re-padded.
  start, restored = ckpt.restore_latest(
      dict(state=state, record=record.tree()),
      relayout=lambda tree: dict(tree, state=jax.tree.map(
          put_runs, program_lib.trim(layout, tree['state']))))
  if restored is not None:
    state = restored['state']
    record = record_lib.RunRecord.from_tree(restored['record'])
    logging.info('Resumed %s after task %d/%d.', workdir, start, n_tasks)
  else:
    acc0, evals0 = host(progs.evaluate_initial(
        state, seeds, data.groups, data.test_images, data.train[0], ev_runs,
        shared))
    record.accuracy_init[:] = acc0
    record.evals_init.update(evals0)

  groups = layout.groups()
  tb = outputs.TensorBoard(workdir, groups) if primary and p.tensorboard \
      else None
  task_names = [t.name for t in stream.tasks]
  last_plot = [0.0, 0.0]  # when, and how long it took
  rows_written = [None]  # tasks whose metrics.jsonl rows this process wrote

  def write(done, rec, final):
    # Plots are drawn by the final write, and meanwhile at most every 30 s
    # and never taking over 5% of the run.
    since = time.time() - last_plot[0]
    plot = config.plot and (final or since > max(30.0, 20 * last_plot[1]))
    t0 = time.time()
    # metrics.jsonl: rewritten whole by this process's first write (a resumed
    # run drops rows past its checkpoint), then appended task by task.
    out = record_lib.write(
        workdir, rec, done, task_names, layout.seeds, layout.values,
        layout.sweep_name, groups, evaluators, plot=plot, title=config.name,
        append_from=rows_written[0])
    rows_written[0] = done
    if plot:
      last_plot[:] = [time.time(), time.time() - t0]
    return out

  def save_job(t, rec):
    def job():
      ckpt.wait()  # the checkpoint complete, verified by its manifest
      if primary:
        write(t + 1, rec, final=False)
        if tb is not None:
          tb.task(t, rec)
      ckpt_lib.kill_point('job', t + 1)
    return job

  # Each task's files are written in the background while the devices run
  # the next task (from host copies, in order, one save pending at most).
  # On CPU the host's cores are the device's: measured on the items
  # protocol (2 cores), a background save slowed the next task by more than
  # it took, so 'auto' saves there before the next task starts.
  in_background = (p.save_mode == 'background' or (
      p.save_mode == 'auto' and jax.default_backend() != 'cpu'))
  saver = background.BackgroundWriter(enabled=in_background)
  t_run, trained = time.time(), 0
  timing = dict(setup_s=t_run - t_setup, tasks=[])
  try:
    for t in range(start, n_tasks):
      t0 = time.time()
      state, out = progs.run_task(
          state, seeds, values, run_index, data.train[t], data.groups,
          ev_runs, t, data.images, data.test_images, shared)
      record.add_task(t, host(out))
      dt = time.time() - t0
      health.check_finite(record, t, layout, workdir)
      health.warn_divergence(record, t, layout, stream, p.divergence_factor)
      # Every process writes its own shards (orbax copies them to the host
      # before the next task reuses the buffers); a save that outlives this
      # iteration needs its own copy of the record, filled in place.
      saver.wait()
      rec = record.copy() if saver.enabled else record
      ckpt.save(t + 1, dict(state=state, record=rec.tree()))
      saver.submit(save_job(t, rec))
      steps = (p.steps_per_task or epochs * (
          data.train_sizes[t] // learner.batch_size))
      samples = steps * learner.batch_size * layout.num_runs
      trained += 1
      timing['tasks'].append(dict(task=t + 1, program_s=dt,
                                  total_s=time.time() - t0, samples=samples))
      if primary:
        timing['loop_s'] = time.time() - t_run
        timing['samples_per_s'] = (sum(x['samples'] for x in
                                       timing['tasks']) / timing['loop_s'])
        outputs.write_json(os.path.join(workdir, 'timing.json'), timing)
      eta = (time.time() - t_run) / trained * (n_tasks - t - 1)
      logging.info('task %d/%d (%s) done in %.1fs: %.0f training samples/s '
                   '(all %d runs), ETA %.0fs', t + 1, n_tasks, stream.tasks[t].name,
                   dt, samples / max(dt, 1e-9), layout.num_runs, eta)
      for g, runs in groups.items():
        seen = record.accuracy[runs, t, :t + 1]
        per_task = [f'{100 * a:.1f}' for a in seen.mean(0)]
        if len(per_task) > 12:  # long streams: the first and last tasks
          per_task = per_task[:4] + ['...'] + per_task[-4:]
        logging.info('  %s accuracy on tasks 1..%d: %s  (mean %.2f%%)',
                     g or 'all runs', t + 1, ' '.join(per_task),
                     100 * float(seen.mean()))
      if interrupt_after is not None and t + 1 >= interrupt_after:
        raise KeyboardInterrupt(f'interrupted after task {t + 1} (test hook)')
  except BaseException:
    saver.close(failing=True)
    raise
  else:
    saver.close()
  finally:
    if tb is not None:
      tb.close()
  summ = (write(n_tasks, record, final=True) if primary else
          record_lib.summary(record, n_tasks, groups, layout.seeds,
                             layout.sweep_name, evaluators))
  logging.info('Finished %d tasks x %d runs in %.1fs. Mean ± std over seeds:'
               '\n%s\nOutputs in %s (summary.json, %smetrics.jsonl, '
               'accuracy.npy%s).', n_tasks, layout.num_runs,
               time.time() - t_run, record_lib.summary_table(summ),
               os.path.abspath(workdir),
               'accuracy.png, ' if config.plot else '',
               ', tensorboard/' if p.tensorboard else '')
  return summ
