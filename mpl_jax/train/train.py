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

The trainer knows no particular protocol: the task stream
(``config.data.stream``), the learner (``config.learner``) and the
evaluators (``config.evals``) are plugins, built by name from
:mod:`mpl_jax.train.registry` after each checked its own fields
(:mod:`mpl_jax.train.validate`, before any data is loaded);
``protocol.task_boundaries=False`` makes any stream task-free (the
optimizer always sees ``task_id=0``). The loop runs one program a task and
hands ``(task, state, record)`` to hooks (:mod:`mpl_jax.train.hooks`):
progress, health checks, checkpoint, outputs and one metric writer.

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
import dataclasses
import os
import signal
import time
from typing import Any, Optional

from absl import logging
import jax
import ml_collections
import numpy as np

from mpl_jax.data import streams as streams_lib
from mpl_jax.train import background
from mpl_jax.train import checkpoint as ckpt_lib
from mpl_jax.train import evaluators as evaluators_lib
from mpl_jax.train import health
from mpl_jax.train import hooks as hooks_lib
from mpl_jax.train import holdout
from mpl_jax.train import interfaces
from mpl_jax.train import outputs
from mpl_jax.train import program as program_lib
from mpl_jax.train import record as record_lib
from mpl_jax.train import registry
from mpl_jax.train import task_data
from mpl_jax.train import validate
from mpl_jax.train import workdir as workdir_lib


def build_stream(config: ml_collections.ConfigDict,
                 seeds) -> streams_lib.TaskStream:
  """Loads the base dataset(s) and draws the tasks for ``seeds``
  (the plugin of ``config.data.stream``)."""
  stream = registry.STREAMS.get(config.data.stream).build(config, seeds)
  return holdout.carve_validation(stream, config.data.get('validation', 0))


def make_learner(config, stream: streams_lib.TaskStream,
                 sweep_name: Optional[str]):
  """The learner of ``config.learner`` for ``stream``."""
  return registry.LEARNERS.get(config.learner).build(config, stream,
                                                     sweep_name)


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
  backend = jax.default_backend()  # every backend-dependent choice: here
  run = _setup(config, workdir, primary, backend)
  state, record, start = _start(run, ckpt, workdir)
  p, n_tasks = config.protocol, run.stream.num_tasks
  # On CPU the host's cores are the device's: measured on the items
  # protocol (2 cores), a background save slowed the next task by more than
  # it took, so 'auto' saves there before the next task starts.
  saver = background.BackgroundWriter(enabled=p.save_mode == 'background' or (
      p.save_mode == 'auto' and backend != 'cpu'))
  hooks, outs, metrics = _hooks(config, run, workdir, ckpt, primary, t_setup)
  try:
    for t in range(start, n_tasks):
      for h in hooks:
        h.before_task(t)
      state, out = run.programs.run_task(state, run.task_runs(t), run.shared,
                                         t)
      record.add_task(t, run.host(out))
      saver.wait()  # the previous task's save complete before the next
      # A job that outlives this iteration needs its own copy of the
      # record, which the next task fills in place.
      snap = record.copy() if saver.enabled else record
      jobs = [j for j in (h.after_task(t, state, snap) for h in hooks) if j]
      saver.submit(lambda jobs=jobs, t=t: (
          [j() for j in jobs], ckpt_lib.kill_point('job', t + 1)))
      for h in hooks:  # once a task is reported, a clean stop keeps it
        h.report(t, snap)
      if interrupt_after is not None and t + 1 >= interrupt_after:
        raise KeyboardInterrupt(f'interrupted after task {t + 1} (test hook)')
  except BaseException:
    saver.close(failing=True)
    raise
  else:
    saver.close()
  finally:
    for h in hooks:
      h.close()
  if primary:
    metrics.final(n_tasks, record)
    summ = outs.final(n_tasks, record)
  else:
    i = run.info
    summ = record_lib.summary(record, n_tasks, i['groups'], i['seeds'],
                              i['sweep_name'], run.evaluators)
  logging.info('Finished %d tasks x %d runs. Mean ± std over seeds:\n%s\n'
               'Outputs in %s (summary.json, %smetrics.jsonl, accuracy.npy%s).',
               n_tasks, run.layout.num_runs, record_lib.summary_table(summ),
               os.path.abspath(workdir),
               'accuracy.png, ' if config.plot else '',
               ', tensorboard/' if p.tensorboard else '')
  health.check_diverged(record, n_tasks, run.info['groups'], run.chance_of,
                        p.divergence_factor, os.path.abspath(workdir),
                        expected=p.expect_divergence)
  return summ


def _hooks(config, run, workdir, ckpt, primary, t_setup):
  """The hooks of every process, then those of the primary (outputs and
  the metric writer, also returned to write the final outputs)."""
  p = config.protocol
  bs = run.learner.batch_size
  steps = lambda t: (  # minibatch steps of one run in task t
      p.steps_per_task or run.epochs * (run.data.train_sizes[t] // bs))
  samples = lambda t: bs * run.layout.num_runs * steps(t)
  hooks = [hooks_lib.Progress(workdir, t_setup, run.stream.num_tasks,
                              run.info['task_names'], samples, primary),
           hooks_lib.Health(run.layout, run.chance_of, workdir,
                            p.divergence_factor),
           hooks_lib.Checkpoint(ckpt)]
  outs = hooks_lib.Outputs(workdir, run.info, run.evaluators, config.plot,
                           config.name)
  metrics = hooks_lib.Metrics(
      workdir, run.info, p.tensorboard,
      [steps(t) for t in range(run.stream.num_tasks)])
  return (hooks + [outs, metrics] if primary else hooks), outs, metrics


@dataclasses.dataclass
class _Run:
  """What the loop reads: the stream, learner, programs and their inputs
  (``runs``: per-run leaves; ``shared``: read by every run)."""
  stream: Any
  layout: program_lib.Layout
  learner: Any
  evaluators: list[Any]
  data: task_data.DeviceData
  programs: program_lib.Programs
  epochs: int
  per_epoch: bool
  runs: dict[str, Any]
  shared: dict[str, Any]
  info: dict[str, Any]
  chance: Any  # the stream plugin's chance(stream, t)

  def chance_of(self, t: int):
    return self.chance(self.stream, t)

  def task_runs(self, t: int) -> dict[str, Any]:
    return dict(self.runs, train=self.data.train[t])

  def host(self, tree):
    return program_lib.trim(self.layout, program_lib.fetch(self.layout, tree))


def _setup(config, workdir, primary, backend) -> _Run:
  """Loads the stream and builds the learner, evaluators and programs."""
  layout = program_lib.make_layout(config)
  vectorize = program_lib.resolve_vectorize(config.protocol.vectorize,
                                            backend)
  logging.info('%s (%s, vectorize=%s).', layout.describe(), backend,
               vectorize)
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
  epochs = p.epochs_per_task if not p.steps_per_task else 1
  progress = p.progress
  if progress == 'auto':
    progress = 'epoch' if backend == 'cpu' else 'task'
  programs = program_lib.Programs(
      learner, layout, num_tasks=stream.num_tasks, epochs=epochs,
      per_epoch=p.eval_every == 'epoch', seen_only=p.eval_tasks == 'seen',
      task_boundaries=p.task_boundaries, vectorize=vectorize,
      group_ids=[g.task_ids for g in data.groups], evaluators=evaluators,
      progress=(program_lib.EpochProgress(layout.num_runs, epochs)
                if progress == 'epoch' and epochs > 1 else None))
  put_runs = lambda x: program_lib.put(layout, x, per_run=True)
  runs = dict(
      seed=put_runs(np.asarray(layout.seeds, np.int32)),
      value=put_runs(np.asarray(layout.device_values(), np.float32)),
      run_index=put_runs(np.arange(layout.num_runs, dtype=np.int32)),
      groups=[g.arrays for g in data.groups],
      evals=[jax.tree.map(put_runs, ev.per_run(layout)) for ev in evaluators])
  shared = dict(images=data.images, test_images=data.test_images,
                evals={ev.name: ev.shared for ev in evaluators})
  info = dict(task_names=[t.name for t in stream.tasks], seeds=layout.seeds,
              values=layout.values, sweep_name=layout.sweep_name,
              groups=layout.groups())
  return _Run(stream, layout, learner, evaluators, data, programs, epochs,
              p.eval_every == 'epoch', runs, shared, info,
              registry.STREAMS.get(config.data.stream).chance)


def _start(run: _Run, ckpt, workdir):
  """The initial state and record, or those of the last checkpoint."""
  state = run.programs.init(run.runs['seed'], run.runs['value'])
  n_tasks = run.stream.num_tasks
  record = record_lib.RunRecord.empty(
      run.layout.num_runs, n_tasks, run.epochs,
      run.epochs if run.per_epoch else 1, run.evaluators)
  put_runs = lambda x: program_lib.put(run.layout, x, per_run=True)
  # Restored straight onto the state's sharding (each process its shards);
  # saved for another device count: through the host, re-padded.
  start, restored = ckpt.restore_latest(
      dict(state=state, record=record.tree()),
      relayout=lambda tree: dict(tree, state=jax.tree.map(
          put_runs, program_lib.trim(run.layout, tree['state']))))
  if restored is not None:
    state = restored['state']
    record = record_lib.RunRecord.from_tree(restored['record'])
    logging.info('Resumed %s after task %d/%d.', workdir, start, n_tasks)
  else:
    acc0, evals0 = run.host(run.programs.evaluate_initial(
        state, run.task_runs(0), run.shared))
    record.accuracy_init[:] = acc0
    record.evals_init.update(evals0)
  return state, record, start


# config.program='continual' (mpl_jax.train.registry.PROGRAMS).
PROGRAM = interfaces.ProgramPlugin(run=train_and_evaluate,
                                   validate=validate.validate_config)
