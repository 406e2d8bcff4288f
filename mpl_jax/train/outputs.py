"""What a run writes to its workdir, as it goes.

* ``config.json``: the config (written first; a resumed run must match it);
* ``stream.npz``: the permutations, subsets and labels drawn from the seeds;
* ``metrics.jsonl``: one line per completed task and run;
* ``accuracy.npy``: ``[runs, T, T]`` accuracy matrices (NaN rows: not yet
  trained); ``accuracy_init.npy``: ``[runs, T]`` before training;
* ``curves.npy``: ``[runs, points, T]`` accuracy on every task at each
  evaluation point (every epoch or every task);
* ``summary.json``: average accuracy, backward transfer, forgetting, forward
  transfer, each mean and std over seeds (per swept value, if any);
* ``accuracy.png``: per-task accuracy over training and the final matrices
  (summaries beyond ``LONG_STREAM_TASKS`` tasks: :func:`accuracy_figure`).

Every file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Sequence

import numpy as np


def atomic(path: str, write) -> None:
  tmp = path + '.tmp'
  write(tmp)
  os.replace(tmp, path)


def write_json(path: str, obj: Any) -> None:
  def w(tmp):
    with open(tmp, 'w') as f:
      json.dump(obj, f, indent=2, sort_keys=True)
      f.write('\n')
  atomic(path, w)


def write_jsonl(path: str, rows: Sequence[dict]) -> None:
  def w(tmp):
    with open(tmp, 'w') as f:
      for row in rows:
        f.write(json.dumps(row, sort_keys=True) + '\n')
  atomic(path, w)


def append_jsonl(path: str, rows: Sequence[dict]) -> None:
  """Appends ``rows`` to a JSON-lines file (long streams: no rewrite)."""
  with open(path, 'a') as f:
    for row in rows:
      f.write(json.dumps(row, sort_keys=True) + '\n')


def write_npy(path: str, array: np.ndarray) -> None:
  def w(tmp):
    with open(tmp, 'wb') as f:
      np.save(f, array)
  atomic(path, w)


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
  def w(tmp):
    with open(tmp, 'wb') as f:
      np.savez_compressed(f, **arrays)
  atomic(path, w)


# Above this many tasks accuracy.png shows summaries instead of one curve
# per task (see accuracy_figure).
LONG_STREAM_TASKS = 12


def _nan_stats(x: np.ndarray, axis) -> tuple[np.ndarray, np.ndarray]:
  """nanmean and nanstd, quiet where everything is NaN (not trained yet)."""
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)
    return np.nanmean(x, axis), np.nanstd(x, axis)


def seen_task_mean(curves: np.ndarray, points_per_task: int) -> np.ndarray:
  """``[runs, points]``: each run's mean accuracy over the tasks trained so
  far (tasks ``0..i`` at an evaluation point of task ``i``); NaN where the
  point is not reached yet."""
  n_points, n_tasks = curves.shape[1:]
  task_of_point = np.arange(n_points) // points_per_task
  seen = np.arange(n_tasks)[None, :] <= task_of_point[:, None]
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)
    return np.nanmean(np.where(seen[None], curves, np.nan), axis=2)


def _band(ax, x, runs_by_x, color, label):
  """Mean over runs (axis 0) as a line, +- std as a band; NaN columns
  skipped. One line artist."""
  m, s = _nan_stats(runs_by_x, 0)
  ok = ~np.isnan(m)
  ax.plot(x[ok], 100 * m[ok], color=color, lw=1.5, label=label)
  ax.fill_between(x[ok], 100 * (m - s)[ok], 100 * (m + s)[ok], color=color,
                  alpha=0.2, lw=0)


def _matrix_panel(fig, ax, mat: np.ndarray, annotate: bool) -> None:
  """``R[i, j]`` (mean over runs) as an image; values written if asked."""
  n_tasks = mat.shape[-1]
  im = ax.imshow(100 * mat, vmin=0, vmax=100, cmap='viridis',
                 interpolation='nearest', aspect='auto' if n_tasks > 12
                 else 'equal')
  ticks = np.unique(np.linspace(0, n_tasks - 1, min(n_tasks, 10)).round()
                    ).astype(int)  # tasks counted from 1
  for set_ticks, set_labels in ((ax.set_xticks, ax.set_xticklabels),
                                (ax.set_yticks, ax.set_yticklabels)):
    set_ticks(ticks)
    set_labels(ticks + 1, fontsize=7)
  ax.set_xlabel('evaluated task j')
  ax.set_ylabel('after training task i')
  ax.set_title('R[i, j] (%), mean over runs')
  if annotate:
    for i in range(n_tasks):
      for j in range(n_tasks):
        if not np.isnan(mat[i, j]):
          ax.text(j, i, f'{100 * mat[i, j]:.0f}', ha='center',
                  va='center', fontsize=7, color='w')
  fig.colorbar(im, ax=ax, fraction=0.046)


def _short_stream_row(ax, c, x, done, n_tasks, task_names, colors):
  """One curve per task (mean +- std over runs), labelled by task name."""
  for j in range(n_tasks):
    col = colors(j / max(n_tasks - 1, 1)) if n_tasks > 10 else colors(j)
    m, s = _nan_stats(c[:, :, j], 0)
    ax.plot(x[done], 100 * m[done], color=col, lw=1.4, label=task_names[j])
    ax.fill_between(x[done], 100 * (m - s)[done], 100 * (m + s)[done],
                    color=col, alpha=0.2, lw=0)
  for t in range(1, n_tasks):
    ax.axvline(t, color='0.8', lw=0.6, zorder=0)
  ax.set_xlim(0, n_tasks)
  ax.set_ylim(0, 100)
  ax.set_xlabel('tasks trained')
  ax.set_ylabel('test accuracy (%)')
  ax.legend(fontsize=7, ncol=2, loc='lower left')


def _long_stream_rows(ax, ax_end, c, acc, points_per_task):
  """Summaries of a long stream: three curves over time, two over tasks."""
  n_tasks = acc.shape[-1]
  x = (np.arange(c.shape[1]) + 1) / points_per_task
  cur = np.arange(c.shape[1]) // points_per_task
  _band(ax, x, seen_task_mean(c, points_per_task), 'k',
        'mean over the tasks trained so far')
  _band(ax, x, c[:, np.arange(c.shape[1]), cur], 'tab:orange',
        'the task being trained')
  _band(ax, x, c[:, :, 0], 'tab:blue', 'task 1')
  ax.set_xlim(0, n_tasks)
  ax.set_ylim(0, 100)
  ax.set_xlabel('tasks trained')
  ax.set_ylabel('test accuracy (%)')
  ax.legend(fontsize=7, loc='lower left')
  # Each task right after its training and after the last task trained.
  done = np.flatnonzero(~np.all(np.isnan(acc), axis=(0, 2)))
  t = np.arange(1, n_tasks + 1)
  _band(ax_end, t, np.diagonal(acc, axis1=1, axis2=2), 'tab:orange',
        'right after training it')
  if done.size:
    last = acc[:, done[-1]]
    _band(ax_end, t[:done[-1] + 1], last[:, :done[-1] + 1], 'k',
          f'after task {done[-1] + 1}')
  ax_end.set_xlim(0.5, n_tasks + 0.5)
  ax_end.set_ylim(0, 100)
  ax_end.set_xlabel('task t')
  ax_end.set_ylabel('test accuracy on task t (%)')
  ax_end.set_title('retention per task')
  ax_end.legend(fontsize=7, loc='lower left')


def accuracy_figure(curves: np.ndarray, points_per_task: int,
                    accuracy: np.ndarray, groups: dict[str, np.ndarray],
                    task_names: Sequence[str], title: str = ''):
  """The figure of ``accuracy.png`` (a matplotlib Figure; the caller closes
  it).

  Up to ``LONG_STREAM_TASKS`` tasks, one row per group: the accuracy on
  every task over training (one curve per task, mean and std band over the
  group's runs, labelled by task name) and the mean accuracy matrix with its
  values written in. A longer stream would give a tangle of curves (and its
  task names are those of the first seed's stream: items differ by seed),
  so each row shows summaries instead, each mean and std band over runs:
  over training, the mean accuracy over the tasks trained so far, the
  accuracy on the task being trained (plasticity) and on task 1
  (retention); per task t, its accuracy right after training it and after
  the last task trained; and the accuracy matrix as a heat map. At most
  three curves and three legend entries per panel, whatever the length.

  Args:
    curves: ``[runs, points, T]``; NaN points are not drawn.
    points_per_task: evaluation points per task (epochs, or 1).
    accuracy: ``[runs, T, T]`` accuracy matrices.
    groups: label -> run indices (one panel row per group, e.g. per swept
      value); ``{'': all runs}`` when there is no sweep.
    task_names: names of the tasks.
    title: figure title.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  n_tasks = accuracy.shape[-1]
  long = n_tasks > LONG_STREAM_TASKS
  ratios = [2.0, 1.4, 1.2] if long else [2.6, 1]
  fig, axes = plt.subplots(len(groups), len(ratios),
                           figsize=(15 if long else 13, 3.6 * len(groups)),
                           squeeze=False,
                           gridspec_kw={'width_ratios': ratios})
  colors = plt.get_cmap('tab10' if n_tasks <= 10 else 'viridis')
  for row, (label, runs) in enumerate(groups.items()):
    ax = axes[row, 0]
    c = curves[runs]
    if long:
      _long_stream_rows(ax, axes[row, 1], c, accuracy[runs], points_per_task)
    else:
      done = ~np.all(np.isnan(c), axis=(0, 2))
      x = (np.arange(c.shape[1]) + 1) / points_per_task
      _short_stream_row(ax, c, x, done, n_tasks, task_names, colors)
    ax.set_title(f'{title} {label}'.strip() +
                 f'  (mean ± std over {len(runs)} runs)')
    mat, _ = _nan_stats(accuracy[runs], 0)
    _matrix_panel(fig, axes[row, -1], mat, annotate=n_tasks <= 10)
  fig.tight_layout()
  return fig


def plot_accuracy(path: str, curves: np.ndarray, points_per_task: int,
                  accuracy: np.ndarray, groups: dict[str, np.ndarray],
                  task_names: Sequence[str], title: str = '') -> None:
  """Writes ``accuracy.png`` (:func:`accuracy_figure`) to ``path``."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig = accuracy_figure(curves, points_per_task, accuracy, groups,
                        task_names, title)

  def w(tmp):
    fig.savefig(tmp, dpi=110, format='png')
  atomic(path, w)
  plt.close(fig)
