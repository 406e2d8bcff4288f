"""One metric writer: a dict per task feeds metrics.jsonl, TensorBoard, the log.

:func:`task_metrics` reads what task ``t`` measured from the
:class:`~mpl_jax.train.record.RunRecord` into one dict: ``'rows'`` (one per
run: the lines of ``metrics.jsonl``) and ``'groups'`` (per group of runs,
i.e. per swept value: the means over its runs). Each sink writes that dict
its own way: :class:`JsonlSink` (``metrics.jsonl``), :class:`TensorBoardSink`
(event files) and :class:`LogSink` (the per-task log lines).
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any, Optional, Sequence

from absl import logging
import numpy as np

from mpl_jax.train import outputs


def task_rows(record, t: int, task_names: Sequence[str], seeds, values,
              sweep_name: Optional[str]) -> list[dict[str, Any]]:
  """The ``metrics.jsonl`` lines of task ``t``: one per run."""
  rows = []
  for r in range(len(seeds)):
    row = {
        'task': t + 1, 'task_name': task_names[t], 'run': r,
        'seed': seeds[r],
        'train_loss': [float(x) for x in record.losses[r, t]],
        'train_accuracy': [float(x) for x in record.train_accuracy[r, t]],
        'accuracy': [float(x) for x in record.accuracy[r, t, :]],
        'average_accuracy_seen': float(np.mean(record.accuracy[r, t,
                                                               :t + 1])),
    }
    if sweep_name:
      row[sweep_name] = values[r]
    for name, v in record.evals.items():
      if isinstance(v, dict):
        row.update({k: np.round(x[r, t], 4).tolist() for k, x in v.items()})
      else:
        row[name] = float(v[r, t])
    rows.append(row)
  return rows


def _group_metrics(record, t: int, runs) -> dict[str, Any]:
  acc = record.accuracy[runs, t]
  evals = {}
  for name, v in record.evals.items():
    # An evaluator's output: one [R, T, ...] array or a dict of them.
    parts = v.items() if isinstance(v, dict) else [('', v)]
    for key, x in parts:
      x = np.asarray(x)
      if x.dtype.kind in 'biuf':
        tag = f'evals/{name}/{key}' if key else f'evals/{name}'
        evals[tag] = float(np.nanmean(x[runs, t]))
  return {
      'train/loss': record.losses[runs, t].mean(0),
      'train/accuracy': record.train_accuracy[runs, t].mean(0),
      'accuracy/per_task': np.where(np.isnan(acc).any(0), np.nan,
                                    acc.mean(0)),
      'accuracy/average_seen': float(acc[:, :t + 1].mean()),
      'accuracy/current_task': float(acc[:, t].mean()),
      'evals': evals,
  }


def task_metrics(record, t: int, groups: dict[str, np.ndarray],
                 task_names: Sequence[str], seeds, values,
                 sweep_name: Optional[str],
                 epoch_steps: Optional[Sequence[int]] = None
                 ) -> dict[str, Any]:
  """Everything task ``t`` measured, as the one dict the sinks read
  (``epoch_steps``: the global training step at the end of each of its
  epochs, when known)."""
  return {'task': t, 'num_tasks': record.accuracy.shape[1],
          'epochs': record.losses.shape[2], 'task_name': task_names[t],
          'epoch_steps': None if epoch_steps is None else list(epoch_steps),
          'rows': task_rows(record, t, task_names, seeds, values, sweep_name),
          'groups': {g: _group_metrics(record, t, runs)
                     for g, runs in groups.items()}}


class JsonlSink:
  """``metrics.jsonl``: rewritten whole by the first write of a process (a
  resumed run drops rows past its checkpoint), then appended task by task
  (rewriting it each task made long streams quadratic)."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, 'metrics.jsonl')

  def rewrite(self, rows: Sequence[dict[str, Any]]) -> None:
    outputs.write_jsonl(self.path, rows)

  def write(self, m: dict[str, Any]) -> None:
    outputs.append_jsonl(self.path, m['rows'])


class LogSink:
  """The accuracy of each group on the tasks seen, one log line each."""

  def write(self, m: dict[str, Any]) -> None:
    t = m['task']
    for g, gm in m['groups'].items():
      per_task = [f'{100 * a:.1f}' for a in gm['accuracy/per_task'][:t + 1]]
      if len(per_task) > 12:  # long streams: the first and last tasks
        per_task = per_task[:4] + ['...'] + per_task[-4:]
      logging.info('  %s accuracy on tasks 1..%d: %s  (mean %.2f%%)',
                   g or 'all runs', t + 1, ' '.join(per_task),
                   100 * gm['accuracy/average_seen'])


def _tf_bins() -> list[float]:
  """TensorFlow's default histogram buckets (``SummaryWriter``'s): +-1e-12
  growing by 10% up to 1e20, and 0."""
  v, pos = 1e-12, []
  while v < 1e20:
    pos.append(v)
    v *= 1.1
  return [-x for x in pos[::-1]] + [0] + pos


class TensorBoardSink:
  """TensorBoard event files, one folder per group of runs (swept value).

  ``<workdir>/tensorboard/<group>/``, one step scale: the global training
  step (minibatch steps of one run since the start; epochs trained when the
  metrics dict has no ``'epoch_steps'``). Per epoch ``train/loss`` and
  ``train/accuracy`` (mean over the group's runs, at the epoch's last step);
  per task, at its last step: ``task`` (its number: the task boundaries),
  ``accuracy/average_seen``, ``accuracy/current_task``, every evaluator's
  output, and the accuracy on every task: one scalar ``accuracy/task_<j>``
  each for streams of up to ``max_task_tags`` tasks, one histogram
  ``accuracy/seen_tasks`` (over the seen tasks) for longer ones (item
  streams of hundreds of sessions: per task tags would be O(T) events per
  task, most of a session's host time, and unreadable as hundreds of
  curves). Viewed with ``tensorboard --logdir <workdir>``.

  Written synchronously (tensorboardX's ``EventsWriter``, no TensorFlow
  needed): :meth:`write` returns once the events are flushed and fsynced
  (``SummaryWriter.flush()`` does not drain its queue, so a kill lost them).
  :meth:`rewrite` deletes a group's event files and writes the given tasks
  again: a resumed run rebuilds them from its record, so a kill loses no
  event of a saved task and a rerun adds no second event file.
  """

  def __init__(self, workdir: str, groups, max_task_tags: int = 32):
    self.max_task_tags = max_task_tags
    self.folders = {g: os.path.join(workdir, 'tensorboard',
                                    (g or 'all').replace('/', '_'))
                    for g in groups}
    self.files = {}

  def _events(self, m: dict[str, Any], g: str) -> list[Any]:
    from tensorboardX import summary  # pylint: disable=g-import-not-at-top
    t, epochs, gm = m['task'], m['epochs'], m['groups'][g]
    steps = m.get('epoch_steps') or [t * epochs + e + 1 for e in
                                     range(epochs)]
    out = []
    for e in range(epochs):
      out.append((steps[e], summary.scalar('train/loss',
                                           float(gm['train/loss'][e]))))
      out.append((steps[e], summary.scalar('train/accuracy',
                                           float(gm['train/accuracy'][e]))))
    step = steps[-1]
    scalars = [('task', float(t + 1))]
    per_task = gm['accuracy/per_task']
    if m['num_tasks'] <= self.max_task_tags:
      scalars += [(f'accuracy/task_{j + 1}', float(a))
                  for j, a in enumerate(per_task) if not np.isnan(a)]
    else:
      out.append((step, summary.histogram(
          'accuracy/seen_tasks', np.asarray(per_task[:t + 1]),
          _tf_bins())))
    scalars += [(tag, float(gm[tag])) for tag in ('accuracy/average_seen',
                                                   'accuracy/current_task')]
    scalars += [(tag, float(v)) for tag, v in gm['evals'].items()]
    out += [(step, summary.scalar(tag, v)) for tag, v in scalars]
    return out

  def _file(self, g: str):
    if g not in self.files:
      from tensorboardX import event_file_writer  # pylint: disable=g-import-not-at-top
      os.makedirs(self.folders[g], exist_ok=True)
      self.files[g] = event_file_writer.EventsWriter(
          os.path.join(self.folders[g], 'events'))
    return self.files[g]

  def _write(self, ms: Sequence[dict[str, Any]]) -> None:
    from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
    now = time.time()
    for g in self.folders:
      f = self._file(g)
      for m in ms:
        for step, summ in self._events(m, g):
          f.write_event(event_pb2.Event(wall_time=now, step=int(step),
                                        summary=summ))
      f.flush()  # to the OS and fsynced

  def write(self, m: dict[str, Any]) -> None:
    """Appends task ``m['task']``'s events, flushed when it returns."""
    self._write([m])

  def rewrite(self, ms: Sequence[dict[str, Any]]) -> None:
    """Replaces every event file by the events of ``ms`` (tasks in order)."""
    self.close()
    for folder in self.folders.values():
      for path in glob.glob(os.path.join(folder, '*tfevents*')):
        os.remove(path)
    self._write(ms)

  def close(self) -> None:
    for f in self.files.values():
      f.close()
    self.files = {}
