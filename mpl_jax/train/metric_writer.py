"""One metric writer: a dict per task feeds metrics.jsonl, TensorBoard, the log.

:func:`task_metrics` reads what task ``t`` measured from the
:class:`~mpl_jax.train.record.RunRecord` into one dict: ``'rows'`` (one per
run: the lines of ``metrics.jsonl``) and ``'groups'`` (per group of runs,
i.e. per swept value: the means over its runs). Each sink writes that dict
its own way: :class:`JsonlSink` (``metrics.jsonl``), :class:`TensorBoardSink`
(event files) and :class:`LogSink` (the per-task log lines).
"""

from __future__ import annotations

import os
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
                 sweep_name: Optional[str]) -> dict[str, Any]:
  """Everything task ``t`` measured, as the one dict the sinks read."""
  return {'task': t, 'num_tasks': record.accuracy.shape[1],
          'epochs': record.losses.shape[2], 'task_name': task_names[t],
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


class TensorBoardSink:
  """TensorBoard event files, one folder per group of runs (swept value).

  ``<workdir>/tensorboard/<group>/``: per epoch ``train/loss`` and
  ``train/accuracy`` (mean over the group's runs, step = epochs trained);
  per task ``accuracy/average_seen``, ``accuracy/current_task`` (step =
  tasks trained) and every evaluator's output, and the accuracy on every
  task: one scalar ``accuracy/task_<j>`` each for streams of up to
  ``max_task_tags`` tasks, one histogram ``accuracy/seen_tasks`` (over the
  seen tasks) for longer ones (item streams of hundreds of sessions: per
  task tags would be O(T) events per task, most of a session's host time,
  and unreadable as hundreds of curves). Written with tensorboardX (no
  TensorFlow needed); view with ``tensorboard --logdir <workdir>``.
  """

  def __init__(self, workdir: str, groups, max_task_tags: int = 32):
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self.max_task_tags = max_task_tags
    self.writers = {
        g: SummaryWriter(os.path.join(workdir, 'tensorboard',
                                      (g or 'all').replace('/', '_')))
        for g in groups}

  def write(self, m: dict[str, Any]) -> None:
    t, epochs, step = m['task'], m['epochs'], m['task'] + 1
    for g, gm in m['groups'].items():
      w = self.writers[g]
      for e in range(epochs):
        w.add_scalar('train/loss', float(gm['train/loss'][e]),
                     t * epochs + e + 1)
        w.add_scalar('train/accuracy', float(gm['train/accuracy'][e]),
                     t * epochs + e + 1)
      per_task = gm['accuracy/per_task']
      if m['num_tasks'] <= self.max_task_tags:
        for j, a in enumerate(per_task):
          if not np.isnan(a):
            w.add_scalar(f'accuracy/task_{j + 1}', float(a), step)
      else:
        w.add_histogram('accuracy/seen_tasks', per_task[:t + 1], step)
      for tag in ('accuracy/average_seen', 'accuracy/current_task'):
        w.add_scalar(tag, gm[tag], step)
      for tag, v in gm['evals'].items():
        w.add_scalar(tag, v, step)
      w.flush()

  def close(self) -> None:
    for w in self.writers.values():
      w.close()
