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
* ``accuracy.png``: per-task accuracy over training and the final matrices.

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


def plot_accuracy(path: str, curves: np.ndarray, points_per_task: int,
                  accuracy: np.ndarray, groups: dict[str, np.ndarray],
                  task_names: Sequence[str], title: str = '') -> None:
  """Per-task accuracy over training (mean and std band per group) + matrices.

  Args:
    path: PNG path.
    curves: ``[runs, points, T]``; NaN points are not drawn.
    points_per_task: evaluation points per task (epochs, or 1).
    accuracy: ``[runs, T, T]`` accuracy matrices.
    groups: label -> run indices (one panel row per group, e.g. per swept
      value); ``{'': all runs}`` when there is no sweep.
    task_names: names of the tasks.
    title: figure title.
  """
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  n_tasks = accuracy.shape[-1]
  fig, axes = plt.subplots(len(groups), 2, figsize=(13, 3.6 * len(groups)),
                           squeeze=False,
                           gridspec_kw={'width_ratios': [2.6, 1]})
  colors = plt.get_cmap('tab10' if n_tasks <= 10 else 'viridis')
  for row, (label, runs) in enumerate(groups.items()):
    ax = axes[row, 0]
    c = curves[runs]
    done = ~np.all(np.isnan(c), axis=(0, 2))
    x = (np.arange(c.shape[1]) + 1) / points_per_task
    # A long stream shows 8 of its tasks (and the mean over tasks seen):
    # drawing hundreds of bands took minutes.
    shown = (range(n_tasks) if n_tasks <= 12 else
             np.unique(np.linspace(0, n_tasks - 1, 8).round().astype(int)))
    for j in shown:
      col = colors(j / max(n_tasks - 1, 1)) if n_tasks > 10 else colors(j)
      with warnings.catch_warnings():  # all-NaN points: not trained yet
        warnings.simplefilter('ignore', RuntimeWarning)
        m = np.nanmean(c[:, :, j], 0)
        s = np.nanstd(c[:, :, j], 0)
      ax.plot(x[done], 100 * m[done], color=col, lw=1.4,
              label=task_names[j])
      ax.fill_between(x[done], 100 * (m - s)[done], 100 * (m + s)[done],
                      color=col, alpha=0.2, lw=0)
    if n_tasks > 12:
      with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        seen = np.nanmean(np.where(
            np.arange(n_tasks)[None, None, :] <
            np.floor(np.arange(c.shape[1]) / points_per_task + 1)[None, :,
                                                                 None],
            c, np.nan), axis=(0, 2))
      ax.plot(x[done], 100 * seen[done], color='k', lw=1.6,
              label='mean over tasks seen')
    if n_tasks <= 50:
      for t in range(1, n_tasks):
        ax.axvline(t, color='0.8', lw=0.6, zorder=0)
    ax.set_xlim(0, n_tasks)
    ax.set_ylim(0, 100)
    ax.set_xlabel('tasks trained')
    ax.set_ylabel('test accuracy (%)')
    ax.set_title(f'{title} {label}'.strip() +
                 f'  (mean ± std over {len(runs)} runs)')
    ax.legend(fontsize=7, ncol=2, loc='lower left')
    ax2 = axes[row, 1]
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', RuntimeWarning)
      mat = np.nanmean(accuracy[runs], 0)
    im = ax2.imshow(100 * mat, vmin=0, vmax=100, cmap='viridis')
    ticks = np.unique(np.linspace(0, n_tasks - 1, min(n_tasks, 10)).round()
                      ).astype(int)  # tasks counted from 1
    for set_ticks, set_labels in ((ax2.set_xticks, ax2.set_xticklabels),
                                  (ax2.set_yticks, ax2.set_yticklabels)):
      set_ticks(ticks)
      set_labels(ticks + 1, fontsize=7)
    ax2.set_xlabel('evaluated task j')
    ax2.set_ylabel('after training task i')
    ax2.set_title('R[i, j] (%)')
    if n_tasks <= 10:
      for i in range(n_tasks):
        for j in range(n_tasks):
          if not np.isnan(mat[i, j]):
            ax2.text(j, i, f'{100 * mat[i, j]:.0f}', ha='center',
                     va='center', fontsize=7, color='w')
    fig.colorbar(im, ax=ax2, fraction=0.046)
  fig.tight_layout()

  def w(tmp):
    fig.savefig(tmp, dpi=110, format='png')
  atomic(path, w)
  plt.close(fig)
