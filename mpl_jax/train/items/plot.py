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
