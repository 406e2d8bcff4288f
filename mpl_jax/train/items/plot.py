"""``items.png``: memorised items per phase and mix, and per session."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from mpl_jax.train import outputs


def save_figure(path: str, fig) -> None:
  """Saves a matplotlib figure as PNG atomically and closes it."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  def w(tmp):
    fig.savefig(tmp, dpi=110, format='png')
  outputs.atomic(path, w)
  plt.close(fig)


# Above this many flexibility mixes items.png shows heat maps instead of
# bars and curves (tab10 has 10 colours: more mixes would share them).
MANY_MIXES = 10

_PHASES = (('memorised_sequential', 'after sequential'),
           ('memorised_repetition', 'after repetition'),
           ('repeated_kept', 'repeated kept\nafter poisoning'),
           ('poisoned_rejected', 'poisoned\nrejected'),
           ('poisoned_kept_and_rejected', 'poisoned kept\n& rejected'))


def items_figure(per_mix: dict[str, dict], curves: np.ndarray, sessions: Any,
                 names: Sequence[str], title: str):
  """The figure of ``items.png`` (the caller closes it).

  Up to ``MANY_MIXES`` mixes: bars of the memorised items per phase and mix
  (mean ± std over seeds) and one curve per mix of the items memorised
  after each session. With more mixes (e.g. a sweep of the strength s) both
  panels become heat maps, mixes in rows: the per-phase means written in
  their cells, and the memorised count per session; no legend.

  Args:
    per_mix: mix name -> the ``items`` summary (``{key: {mean, std}}``).
    curves: ``[seeds, mixes, sessions]`` memorised counts.
    sessions: the first seed's session plan (its ``pass_index`` marks the
      passes: the same for every seed).
    names: the mixes, in the order of ``curves``' axis 1.
    title: figure title.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  groups = [g for g in _PHASES if g[0] in per_mix[names[0]]]
  many = len(names) > MANY_MIXES
  fig, (ax, ax2) = plt.subplots(
      1, 2, figsize=(15, max(4.6, 0.28 * len(names) + 1.5) if many else 4.6),
      gridspec_kw={'width_ratios': [1.1, 1.6]})
  passes = np.flatnonzero(np.diff(sessions.pass_index)) + 1.5
  if many:
    means = np.array([[per_mix[n][g]['mean'] for g, _ in groups]
                      for n in names])
    im = ax.imshow(means, aspect='auto', cmap='viridis',
                   interpolation='nearest')
    for i in range(means.shape[0]):
      for j in range(means.shape[1]):
        ax.text(j, i, f'{means[i, j]:.1f}', ha='center', va='center',
                fontsize=7, color='w')
    ax.set_xticks(np.arange(len(groups)))
    ax.set_xticklabels([g[1] for g in groups], fontsize=8)
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels(names, fontsize=7)
    ax.set_title(f'{title}: memorised items per phase (mean over seeds)')
    fig.colorbar(im, ax=ax, fraction=0.046)
    x = np.arange(1, curves.shape[-1] + 1)
    im2 = ax2.imshow(curves.mean(0), aspect='auto', cmap='viridis',
                     interpolation='nearest',
                     extent=(0.5, x[-1] + 0.5, len(names) - 0.5, -0.5))
    for b in passes:
      ax2.axvline(b, color='w', lw=0.6)
    ax2.set_yticks(np.arange(len(names)))
    ax2.set_yticklabels(names, fontsize=7)
    ax2.set_xlabel('session (white lines: passes; last block: poisoning)')
    ax2.set_title('memorised items after each session (mean over seeds)')
    fig.colorbar(im2, ax=ax2, fraction=0.046)
  else:
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
    x = np.arange(1, curves.shape[-1] + 1)
    for k, name in enumerate(names):
      m, s = curves[:, k].mean(0), curves[:, k].std(0)
      ax2.plot(x, m, color=colors(k), lw=1.2, label=name)
      ax2.fill_between(x, m - s, m + s, color=colors(k), alpha=0.2, lw=0)
    for b in passes:
      ax2.axvline(b, color='0.8', lw=0.6, zorder=0)
    ax2.set_xlim(0.5, curves.shape[-1] + 0.5)
    ax2.set_xlabel('session (grey lines: passes; last block: poisoning)')
    ax2.set_ylabel('memorised items')
    ax2.set_title('memorised items after each session (mean ± std)')
    ax2.legend(fontsize=8, ncol=2)
  fig.tight_layout()
  return fig


def plot_items(path: str, per_mix: dict[str, dict], curves: np.ndarray,
               sessions: Any, names: Sequence[str], title: str) -> None:
  """Writes ``items.png`` (:func:`items_figure`) to ``path``."""
  save_figure(path, items_figure(per_mix, curves, sessions, names, title))
