"""accuracy.png and items.png stay readable for long streams (issue 22).

A stream of more than ``outputs.LONG_STREAM_TASKS`` tasks is drawn as
summaries (a few curves, the matrix as a heat map), not one curve per task;
more than ``items.plot.MANY_MIXES`` flexibility mixes as heat maps. The
tests count matplotlib's artists on synthetic records.
"""

import types

import matplotlib
import numpy as np
import pytest

from mpl_jax.train import outputs
from mpl_jax.train.items import plot as items_plot

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position


def _record(tasks, runs=6, points=1, done=None, seed=0):
  """Synthetic curves [runs, tasks*points, tasks] and matrices, NaN after
  task ``done`` (an unfinished run)."""
  rng = np.random.default_rng(seed)
  done = tasks if done is None else done
  curves = np.full((runs, tasks * points, tasks), np.nan, np.float32)
  for k in range(done * points):
    i = k // points
    j = np.arange(tasks)
    curves[:, k] = np.clip(
        0.9 - 0.005 * (i - j) * (j <= i) - 0.8 * (j > i)
        + 0.05 * rng.standard_normal((runs, tasks)), 0, 1)
  acc = np.full((runs, tasks, tasks), np.nan, np.float32)
  acc[:, :done] = curves[:, points - 1::points][:, :done]
  return curves, acc


def _legend_entries(ax):
  legend = ax.get_legend()
  return 0 if legend is None else len(legend.get_texts())


@pytest.mark.parametrize('tasks,points,done', [(100, 1, 100), (100, 2, 37),
                                               (13, 3, 13)])
def test_long_stream_accuracy_figure_is_bounded(tasks, points, done,
                                                tmp_path):
  curves, acc = _record(tasks, points=points, done=done)
  groups = {'meta=0.0': np.arange(3), 'meta=10.0': np.arange(3, 6)}
  names = [f'item pair {i}' for i in range(tasks)]
  fig = outputs.accuracy_figure(curves, points, acc, groups, names, 'long')
  try:
    axes = [a for a in fig.axes if a.get_label() != '<colorbar>']
    assert len(axes) == 3 * len(groups)
    for ax in axes:
      assert len(ax.get_lines()) <= 3, ax.get_title()
      assert _legend_entries(ax) <= 3
      assert not ax.texts  # no numbers written into a large matrix
      for text in ax.get_legend().get_texts() if ax.get_legend() else ():
        assert 'item pair' not in text.get_text()  # no seed-0 task names
    assert sum(len(a.images) for a in axes) == len(groups)
  finally:
    plt.close(fig)
  outputs.plot_accuracy(str(tmp_path / 'a.png'), curves, points, acc, groups,
                        names, 'long')
  assert (tmp_path / 'a.png').stat().st_size > 10_000


def test_short_stream_keeps_one_curve_per_task():
  curves, acc = _record(5, points=4)
  fig = outputs.accuracy_figure(curves, 4, acc, {'': np.arange(6)},
                                [f't{i}' for i in range(5)])
  try:
    ax, mat = [a for a in fig.axes if a.get_label() != '<colorbar>']
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f't{i}' for i in range(5)]
    assert len(mat.texts) == 25  # values written in the matrix
  finally:
    plt.close(fig)


def test_seen_task_mean_matches_a_loop():
  curves, _ = _record(7, runs=3, points=2, done=5, seed=1)
  got = outputs.seen_task_mean(curves, 2)
  for r in range(3):
    for k in range(14):
      i = k // 2
      want = (np.nan if k >= 10 else
              np.mean([curves[r, k, j] for j in range(i + 1)]))
      np.testing.assert_allclose(got[r, k], want, rtol=1e-6)


def _items(mixes, sessions=300, passes=10, seeds=3):
  rng = np.random.default_rng(0)
  names = [f'hybrid@{100 * (k + 1)}' for k in range(mixes)]
  keys = ('memorised_sequential', 'memorised_repetition', 'repeated_kept',
          'poisoned_rejected', 'poisoned_kept_and_rejected')
  per_mix = {n: {k: {'mean': float(rng.uniform(0, 30)), 'std': 1.0}
                 for k in keys} for n in names}
  curves = rng.integers(0, 30, (seeds, mixes, sessions)).astype(float)
  plan = types.SimpleNamespace(
      pass_index=np.repeat(np.arange(passes), sessions // passes))
  return per_mix, curves, plan, names


def test_many_mixes_are_heat_maps(tmp_path):
  per_mix, curves, plan, names = _items(24)
  fig = items_plot.items_figure(per_mix, curves, plan, names, 'sweep of s')
  try:
    axes = [a for a in fig.axes if a.get_label() != '<colorbar>']
    assert len(axes) == 2
    for ax in axes:
      assert ax.get_legend() is None
      assert len(ax.images) == 1
      assert len(ax.get_lines()) <= 9  # the pass boundaries only
      assert not ax.patches  # no bars
  finally:
    plt.close(fig)
  items_plot.plot_items(str(tmp_path / 'i.png'), per_mix, curves, plan,
                        names, 'sweep of s')
  assert (tmp_path / 'i.png').stat().st_size > 10_000


def test_few_mixes_keep_bars_and_curves():
  per_mix, curves, plan, names = _items(6)
  fig = items_plot.items_figure(per_mix, curves, plan, names, 'six mixes')
  try:
    bars, lines = fig.axes
    assert _legend_entries(bars) == 6 and _legend_entries(lines) == 6
    assert len(bars.patches) == 6 * 5
  finally:
    plt.close(fig)
