"""The run record: everything a run measures, as one pytree.

:class:`RunRecord` holds, for every run, the accuracy matrix, the accuracy
before training, the accuracy curves at every evaluation point, the
training losses and accuracies per epoch and every evaluator's output per
task. It is checkpointed with the train state, restored on resume and
written to the workdir as one object (:func:`write`).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from typing import Any, Optional, Sequence

import numpy as np

from mpl_jax.train import metrics as metrics_lib
from mpl_jax.train import outputs


@dataclasses.dataclass
class RunRecord:
  """Per-run measurements (leading axis: runs; NaN: not measured yet).

  Attributes:
    accuracy: ``[R, T, T]``, ``R[i, j]`` = accuracy on task j after task i.
    accuracy_init: ``[R, T]`` before training.
    curves: ``[R, T * points, T]`` accuracy on every task at each
      evaluation point (``points`` per task: epochs, or 1).
    losses: ``[R, T, E]`` mean training loss per epoch.
    train_accuracy: ``[R, T, E]`` mean training accuracy per epoch.
    evals: evaluator name -> ``[R, T, ...]`` (or a dict of such arrays).
    evals_init: evaluator name -> ``[R, ...]`` before training (evaluators
      with ``at_init``).
  """
  accuracy: np.ndarray
  accuracy_init: np.ndarray
  curves: np.ndarray
  losses: np.ndarray
  train_accuracy: np.ndarray
  evals: dict[str, Any]
  evals_init: dict[str, Any]

  @classmethod
  def empty(cls, runs: int, tasks: int, epochs: int, points: int,
            evaluators: Sequence[Any] = ()) -> 'RunRecord':
    nan = lambda *s: np.full(s, np.nan, np.float32)

    def alloc(ev, *lead):
      shapes = getattr(ev, 'shapes', None)
      if shapes is None:
        return nan(*lead)
      return {k: nan(*lead, *v) for k, v in shapes.items()}

    return cls(nan(runs, tasks, tasks), nan(runs, tasks),
               nan(runs, tasks * points, tasks), nan(runs, tasks, epochs),
               nan(runs, tasks, epochs),
               {ev.name: alloc(ev, runs, tasks) for ev in evaluators},
               {ev.name: alloc(ev, runs) for ev in evaluators
                if getattr(ev, 'at_init', False)})

  def copy(self) -> 'RunRecord':
    """A deep copy (the record is filled in place, task by task)."""
    return copy.deepcopy(self)

  def tree(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_tree(cls, tree: dict[str, Any]) -> 'RunRecord':
    return cls(**{k: (v if isinstance(v, dict) else np.asarray(v))
                  for k, v in tree.items()})

  @property
  def points(self) -> int:
    return self.curves.shape[1] // self.accuracy.shape[1]

  def add_task(self, t: int, out: dict[str, Any]) -> None:
    """Stores the (host, unpadded) outputs of task ``t``'s program."""
    p = self.points
    self.losses[:, t] = out['losses']
    self.train_accuracy[:, t] = out['train_accuracy']
    self.curves[:, t * p:(t + 1) * p] = out['curve']
    self.accuracy[:, t] = out['curve'][:, -1]
    for name, v in out['evals'].items():
      if isinstance(v, dict):
        for k, x in v.items():
          self.evals[name][k][:, t] = x
      else:
        self.evals[name][:, t] = v


def summary(record: RunRecord, done: int, groups: dict[str, np.ndarray],
            seeds: Sequence[int], sweep_name: Optional[str],
            evaluators: Sequence[Any] = ()) -> dict[str, Any]:
  """``summary.json``: every metric, mean and std over the runs of each
  group (per swept value), after ``done`` tasks."""
  out: dict[str, Any] = {'tasks_completed': int(done), 'runs': len(seeds)}
  if done == 0:
    return out
  r = record.accuracy[:, :done, :done]
  b = record.accuracy_init[:, :done]
  per_group = {}
  cut = lambda tree, idx: (
      {k: v[idx, :done] for k, v in tree.items()} if isinstance(tree, dict)
      else tree[idx, :done])
  at = lambda tree, idx: (
      {k: v[idx] for k, v in tree.items()} if isinstance(tree, dict)
      else (None if tree is None else tree[idx]))
  for g, idx in groups.items():
    per_group[g] = metrics_lib.summarize(r[idx], b[idx])
    for ev in evaluators:
      per_group[g].update(ev.summarize(
          cut(record.evals[ev.name], idx),
          at(record.evals_init.get(ev.name), idx), idx, seeds))
  if sweep_name is None:
    out.update(per_group[''])
    out['seeds'] = list(seeds)
  else:
    out['sweep'] = {'name': sweep_name, 'groups': per_group}
    out['seeds'] = sorted(set(seeds))
  return out


def summary_table(summ: dict[str, Any]) -> str:
  """The summary as a text table: one row per group, mean ± std (%)."""
  groups = (summ['sweep']['groups'] if 'sweep' in summ else {'all runs': summ})
  cols = [('average_accuracy', 'avg acc %', 100), ('backward_transfer',
                                                   'BWT %', 100),
          ('forgetting', 'forgetting %', 100),
          ('forward_transfer', 'FWT %', 100), ('ood_auc', 'OOD AUC', 1)]
  first = next(iter(groups.values()))
  cols = [c for c in cols if c[0] in first]

  def cell(m, scale):
    if m.get('mean') is None:
      return 'n/a'
    return f'{scale * m["mean"]:.2f} ± {scale * m["std"]:.2f}'

  rows = [['group'] + [c[1] for c in cols]]
  for g, m in groups.items():
    rows.append([g] + [cell(m[c[0]], c[2]) for c in cols])
  return text_table(rows)


def text_table(rows: list[list[str]]) -> str:
  """Aligned columns, a rule under the first (header) row."""
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = ['  '.join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  return '\n'.join(lines)


def write(workdir: str, record: RunRecord, done: int, task_names, seeds,
          sweep_name, groups, evaluators, *, plot: bool,
          title: str) -> dict[str, Any]:
  """Rewrites every output file but ``metrics.jsonl`` (the metric writer's,
  :mod:`mpl_jax.train.metric_writer`) from the record after ``done``
  tasks; returns the summary."""
  j = lambda name: os.path.join(workdir, name)
  outputs.write_npy(j('accuracy.npy'), record.accuracy)
  outputs.write_npy(j('accuracy_init.npy'), record.accuracy_init)
  outputs.write_npy(j('curves.npy'), record.curves)
  outputs.write_npy(j('losses.npy'), record.losses)
  for name, v in record.evals.items():
    if isinstance(v, dict):
      outputs.write_npz(j(f'{name}.npz'), v)
    else:
      outputs.write_npy(j(f'{name}.npy'), v)
  summ = summary(record, done, groups, seeds, sweep_name, evaluators)
  outputs.write_json(j('summary.json'), summ)
  if plot:
    outputs.plot_accuracy(j('accuracy.png'), record.curves, record.points,
                          record.accuracy, groups, list(task_names),
                          title=title)
    per_group = (summ['sweep']['groups'] if 'sweep' in summ
                 else {'': summ})
    for ev in evaluators:
      if hasattr(ev, 'plot') and done:
        ev.plot(workdir, record.evals[ev.name], per_group, groups, title)
  return summ
