"""What happens after each task, as hooks (the CLU / big_vision way).

The loop (:mod:`mpl_jax.train.train`) runs one task's program, adds its
outputs to the :class:`~mpl_jax.train.record.RunRecord` and hands ``(task,
state, record)`` to each hook in order (:meth:`Hook.after_task`). A hook
does its host work at once and may return a *job* (a function of no
arguments) that writes files: the loop hands the jobs of a task, in order,
to the background writer (:mod:`mpl_jax.train.background`), which runs them
while the devices run the next task, or at once (``protocol.save_mode``).
Then each hook reports the task (:meth:`Hook.report`: log lines), so a task
reported done is one a clean stop (Ctrl-C, SIGTERM) keeps: the writer
finishes its jobs before the run stops. The record a job sees is the loop's
snapshot of that task (a copy when jobs run in the background).

Hooks: :class:`Progress` (timing.json, ETA), :class:`Health` (a non-finite
loss stops the run, divergence is logged), :class:`Checkpoint` (state and
record), :class:`Outputs` (accuracy.npy, summary.json, plots) and
:class:`Metrics` (one dict per task, :mod:`mpl_jax.train.metric_writer`,
fed to metrics.jsonl, TensorBoard and the log).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Optional, Sequence

from absl import logging
import numpy as np

from mpl_jax.train import health
from mpl_jax.train import metric_writer as mw
from mpl_jax.train import outputs
from mpl_jax.train import record as record_lib

Job = Optional[Callable[[], None]]


class Hook:
  """A no-op hook: subclasses override what they need."""

  def before_task(self, t: int) -> None:
    del t

  def after_task(self, t: int, state: Any, record) -> Job:
    del t, state, record
    return None

  def report(self, t: int, record) -> None:
    """After the task's jobs were handed to the writer."""
    del t, record

  def close(self) -> None:
    """After the loop, whatever happened (in the loop's ``finally``)."""


class Progress(Hook):
  """Logs each task's time and the ETA; writes ``timing.json`` (primary).

  The ETA is the mean time of the tasks after the first this process ran
  (the first compiles the program: after it, no ETA is given).

  ``timing.json``: ``setup_s`` (before the first task), per task
  ``program_s`` (its compiled call and the copy of its outputs),
  ``total_s`` (until the next task starts, or the run ends: saves and
  hooks included) and ``samples``; ``loop_s``, ``samples_per_s``.
  """

  def __init__(self, workdir, t_setup, n_tasks, task_names, samples, primary):
    self.path = os.path.join(workdir, 'timing.json')
    self.t_setup, self.n_tasks, self.names = t_setup, n_tasks, task_names
    self.samples, self.primary = samples, primary  # samples(t): all runs
    self.timing = dict(tasks=[])
    self.t_run = self.t0 = self.t_second = None

  def before_task(self, t):
    now = time.time()
    if self.t_run is None:
      self.t_run = now
      self.timing['setup_s'] = now - self.t_setup
    if len(self.timing['tasks']) == 1:
      self.t_second = now
    self._close_task(now)
    self.t0 = now

  def _close_task(self, now):
    if self.timing['tasks'] and self.t0 is not None:
      self.timing['tasks'][-1]['total_s'] = now - self.t0
      if self.primary:
        self._write(now)

  def _write(self, now):
    self.timing['loop_s'] = now - self.t_run
    self.timing['samples_per_s'] = sum(
        x['samples'] for x in self.timing['tasks']) / self.timing['loop_s']
    outputs.write_json(self.path, self.timing)

  def after_task(self, t, state, record):
    dt = time.time() - self.t0
    self.timing['tasks'].append(dict(task=t + 1, program_s=dt, total_s=dt,
                                     samples=self.samples(t)))
    return None

  def report(self, t, record):
    now = time.time()
    self.timing['tasks'][-1]['total_s'] = now - self.t0  # until the next
    if self.primary:
      self._write(now)
    dt, samples = self.timing['tasks'][-1]['program_s'], self.samples(t)
    done = len(self.timing['tasks'])
    left = self.n_tasks - t - 1
    if not left:
      eta = 'done'
    elif done == 1:  # its time includes the compilation
      eta = 'ETA after the next task (this one compiled the program)'
    else:
      eta = f'ETA {(now - self.t_second) / (done - 1) * left:.0f}s'
    logging.info('task %d/%d (%s) done in %.1fs: %.0f training samples/s '
                 '(all %d runs), %s', t + 1, self.n_tasks,
                 self.names[t], dt, samples / max(dt, 1e-9),
                 record.accuracy.shape[0], eta)

  def close(self):
    if self.t_run is not None:
      self._close_task(time.time())


class Health(Hook):
  """A non-finite loss stops the run; signs of divergence are logged."""

  def __init__(self, layout, chance_of, workdir, divergence_factor):
    self.layout, self.chance_of, self.workdir = layout, chance_of, workdir
    self.factor = divergence_factor  # chance_of(t): the stream's plugin's

  def after_task(self, t, state, record):
    health.check_finite(record, t, self.layout, self.workdir)
    health.warn_divergence(record, t, self.layout, self.chance_of(t),
                           self.factor)
    return None


class Checkpoint(Hook):
  """Saves the device state and the record, every process its own shards
  (:mod:`mpl_jax.train.checkpoint`; orbax copies the shards to the host
  before ``save`` returns, so the next task may reuse the buffers). The
  loop calls it only once the previous task's jobs are done; its job waits
  for the save to complete (every process: that writes the manifests)."""

  def __init__(self, ckpt):
    self.ckpt = ckpt

  def after_task(self, t, state, record):
    self.ckpt.save(t + 1, dict(state=state, record=record.tree()))
    return self.ckpt.wait


class Outputs(Hook):
  """accuracy.npy, summary.json and the plots (primary), rewritten from
  the record after each task. Plots: drawn by the final write, meanwhile at
  most every 30 s and never taking over 5% of the run."""

  def __init__(self, workdir, run_info, evaluators, plot: bool, title: str):
    self.workdir, self.info, self.evaluators = workdir, run_info, evaluators
    self.plot, self.title = plot, title
    self.last_plot = self.plot_s = 0.0

  def _write(self, done, record, final):
    since = time.time() - self.last_plot
    plot = self.plot and (final or since > max(30.0, 20 * self.plot_s))
    t0 = time.time()
    i = self.info
    summ = record_lib.write(
        self.workdir, record, done, i['task_names'], i['seeds'],
        i['sweep_name'], i['groups'], self.evaluators, plot=plot,
        title=self.title)
    if plot:
      self.last_plot, self.plot_s = time.time(), time.time() - t0
    return summ

  def after_task(self, t, state, record):
    return lambda: self._write(t + 1, record, final=False)

  def final(self, done, record) -> dict[str, Any]:
    return self._write(done, record, final=True)


class Metrics(Hook):
  """One dict per task (:func:`metric_writer.task_metrics`) fed to the log
  (now) and to metrics.jsonl and TensorBoard (in the task's job). The first
  write of a process rewrites both from the record (a resumed run: every
  saved task, none past the checkpoint); so does the final write of a run
  resumed after its last task.

  ``task_steps``: the minibatch steps of one run in each task (TensorBoard's
  global step), or None (epochs).
  """

  def __init__(self, workdir, run_info, tensorboard: bool,
               task_steps: Optional[Sequence[int]] = None):
    self.info, self.started, self.last = run_info, False, None
    self.ends = None if task_steps is None else np.cumsum(task_steps)
    self.log = mw.LogSink()
    self.jsonl = mw.JsonlSink(workdir)
    self.tb = (mw.TensorBoardSink(workdir, run_info['groups'])
               if tensorboard else None)

  def _rows(self, record, tasks):
    i = self.info
    return [row for k in tasks for row in mw.task_rows(
        record, k, i['task_names'], i['seeds'], i['values'],
        i['sweep_name'])]

  def _metrics(self, record, t):
    i = self.info
    steps = None
    if self.ends is not None:
      epochs = record.losses.shape[2]
      end = int(self.ends[t])
      n = end - (int(self.ends[t - 1]) if t else 0)
      steps = [end - n + (e + 1) * n // epochs for e in range(epochs)]
    return mw.task_metrics(record, t, i['groups'], i['task_names'],
                           i['seeds'], i['values'], i['sweep_name'], steps)

  def _earlier(self, record, done):
    """The rows and TensorBoard dicts of tasks ``0..done-1``."""
    return (self._rows(record, range(done)),
            None if self.tb is None else
            [self._metrics(record, k) for k in range(done)])

  def _rewrite(self, earlier):
    rows, ms = earlier
    self.jsonl.rewrite(rows)
    if self.tb is not None:
      self.tb.rewrite(ms)

  def after_task(self, t, state, record):
    m = self.last = self._metrics(record, t)
    # The first write of this process rewrites every output up to task t.
    earlier = None if self.started else self._earlier(record, t)
    self.started = True

    def job():
      if earlier is not None:
        self._rewrite(earlier)
      self.jsonl.write(m)
      if self.tb is not None:
        self.tb.write(m)
    return job

  def report(self, t, record):
    self.log.write(self.last)

  def final(self, done, record) -> None:
    """A run resumed after its last task rewrites its outputs whole."""
    if not self.started:
      self._rewrite(self._earlier(record, done))

  def close(self):
    if self.tb is not None:
      self.tb.close()
