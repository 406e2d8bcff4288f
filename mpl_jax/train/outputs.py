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


def _atomic(path: str, write) -> None:
  tmp = path + '.tmp'
  write(tmp)
  os.replace(tmp, path)


def write_json(path: str, obj: Any) -> None:
  def w(tmp):
    with open(tmp, 'w') as f:
      json.dump(obj, f, indent=2, sort_keys=True)
      f.write('\n')
  _atomic(path, w)


def check_or_write_config(workdir: str, config) -> None:
  """Writes ``config.json``, or checks that an existing one is the same.

  Returns:
    True if this call wrote it (a new run), False if it was there.

  Raises:
    ValueError: if ``workdir`` holds a run with another config (naming the
      differing top-level fields).
  """
  cfg_json = json.loads(config.to_json_best_effort())
  path = os.path.join(workdir, 'config.json')
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    if old != cfg_json:
      diff = sorted(k for k in set(old) | set(cfg_json)
                    if old.get(k) != cfg_json.get(k))
      raise ValueError(
          f'{workdir} holds a run with a different config (differs in '
          f'{diff}); use a new --workdir or restore the config to resume.')
    return False
  write_json(path, cfg_json)
  return True


def write_jsonl(path: str, rows: Sequence[dict]) -> None:
  def w(tmp):
    with open(tmp, 'w') as f:
      for row in rows:
        f.write(json.dumps(row, sort_keys=True) + '\n')
  _atomic(path, w)


def append_jsonl(path: str, rows: Sequence[dict]) -> None:
  """Appends ``rows`` to a JSON-lines file (long streams: no rewrite)."""
  with open(path, 'a') as f:
    for row in rows:
      f.write(json.dumps(row, sort_keys=True) + '\n')


def write_npy(path: str, array: np.ndarray) -> None:
  def w(tmp):
    with open(tmp, 'wb') as f:
      np.save(f, array)
  _atomic(path, w)


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
  def w(tmp):
    with open(tmp, 'wb') as f:
      np.savez_compressed(f, **arrays)
  _atomic(path, w)


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
  _atomic(path, w)
  plt.close(fig)


class TensorBoard:
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

  def __init__(self, workdir: str, groups: dict[str, np.ndarray],
               max_task_tags: int = 32):
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self.groups = groups
    self.max_task_tags = max_task_tags
    self.writers = {
        g: SummaryWriter(os.path.join(workdir, 'tensorboard',
                                      (g or 'all').replace('/', '_')))
        for g in groups}

  def task(self, t: int, record) -> None:
    """Logs everything measured in task ``t`` (0-based)."""
    epochs = record.losses.shape[2]
    for g, runs in self.groups.items():
      w = self.writers[g]
      for e in range(epochs):
        step = t * epochs + e + 1
        w.add_scalar('train/loss', float(np.mean(record.losses[runs, t, e])),
                     step)
        w.add_scalar('train/accuracy',
                     float(np.mean(record.train_accuracy[runs, t, e])), step)
      acc = record.accuracy[runs, t]
      if acc.shape[1] <= self.max_task_tags:
        for j in range(acc.shape[1]):
          if not np.isnan(acc[:, j]).any():
            w.add_scalar(f'accuracy/task_{j + 1}', float(acc[:, j].mean()),
                         t + 1)
      else:
        w.add_histogram('accuracy/seen_tasks', acc[:, :t + 1].mean(0),
                        t + 1)
      w.add_scalar('accuracy/average_seen', float(acc[:, :t + 1].mean()),
                   t + 1)
      w.add_scalar('accuracy/current_task', float(acc[:, t].mean()), t + 1)
      for name, v in record.evals.items():
        # An evaluator's output: one [R, T, ...] array or a dict of them.
        parts = v.items() if isinstance(v, dict) else [('', v)]
        for key, x in parts:
          x = np.asarray(x)
          if x.dtype.kind not in 'biuf':
            continue
          tag = f'evals/{name}/{key}' if key else f'evals/{name}'
          w.add_scalar(tag, float(np.nanmean(x[runs, t])), t + 1)
      w.flush()

  def close(self) -> None:
    for w in self.writers.values():
      w.close()


def save_figure(path: str, fig) -> None:
  """Saves a matplotlib figure as PNG atomically and closes it."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  def w(tmp):
    fig.savefig(tmp, dpi=110, format='png')
  _atomic(path, w)
  plt.close(fig)


def plot_items(path: str, per_mix: dict[str, dict], curves: np.ndarray,
               sessions: Any, names: Sequence[str], title: str) -> None:
  """Bars (memorised items per phase and mix), memorised count per session."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  groups = [('memorised_sequential', 'after sequential'),
            ('memorised_repetition', 'after repetition'),
            ('repeated_kept', 'repeated kept\nafter poisoning'),
            ('poisoned_rejected', 'poisoned\nrejected'),
            ('poisoned_kept_and_rejected', 'poisoned kept\n& rejected')]
  groups = [g for g in groups if g[0] in per_mix[names[0]]]
  fig, (ax, ax2) = plt.subplots(1, 2, figsize=(15, 4.6),
                                gridspec_kw={'width_ratios': [1.1, 1.6]})
  width = 0.8 / len(names)
  colors = plt.get_cmap('tab10')
  for k, name in enumerate(names):
    means = [per_mix[name][g]['mean'] for g, _ in groups]
    stds = [per_mix[name][g]['std'] for g, _ in groups]
    ax.bar(np.arange(len(groups)) + (k - (len(names) - 1) / 2) * width,
           means, width, yerr=stds, capsize=2, label=name, color=colors(k))
  ax.set_xticks(np.arange(len(groups)))
  ax.set_xticklabels([g[1] for g in groups], fontsize=8)
  ax.set_ylabel('items (mean ± std over seeds)')
  ax.set_title(f'{title}: memorised items per phase')
  ax.legend(fontsize=8)
  # curves: [seeds, mixes, sessions] memorised counts.
  x = np.arange(1, curves.shape[-1] + 1)
  for k, name in enumerate(names):
    m, s = curves[:, k].mean(0), curves[:, k].std(0)
    ax2.plot(x, m, color=colors(k), lw=1.2, label=name)
    ax2.fill_between(x, m - s, m + s, color=colors(k), alpha=0.2, lw=0)
  for b in np.flatnonzero(np.diff(sessions.pass_index)) + 1.5:
    ax2.axvline(b, color='0.8', lw=0.6, zorder=0)
  ax2.set_xlim(0.5, curves.shape[-1] + 0.5)
  ax2.set_xlabel('session (grey lines: passes; last block: poisoning)')
  ax2.set_ylabel('memorised items')
  ax2.set_title('memorised items after each session (mean ± std)')
  ax2.legend(fontsize=8, ncol=2)
  fig.tight_layout()

  save_figure(path, fig)
