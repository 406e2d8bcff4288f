"""Figures of the neuro experiments (matplotlib, Agg; one PNG each)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

_DECODER_STYLE = {
    'naive': dict(color='tab:red', marker='o', label='independent-synapse'),
    'corr': dict(color='tab:blue', marker='s', label='correlation-aware'),
    'oracle': dict(color='tab:green', marker='^', label='oracle (knows rho)'),
}


def _save(fig, path):
  fig.tight_layout()
  tmp = path + '.tmp.png'
  fig.savefig(tmp, dpi=110)
  plt.close(fig)
  os.replace(tmp, path)
  return path


def _unity(ax):
  ax.axhline(1.0, color='0.5', lw=0.8, ls='--')


def curve(path, x, ratio, *, xlabel, title, logx=False, marks=()):
  """w_final / w_init against a swept axis."""
  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  ax.plot(x, ratio, 'k.-', ms=3)
  _unity(ax)
  for xm, label in marks:
    if np.isfinite(xm):
      ax.axvline(xm, color='tab:orange', lw=0.8)
      ax.text(xm, ax.get_ylim()[1], f' {label}', va='top', fontsize=8,
              color='tab:orange')
  if logx:
    ax.set_xscale('log')
  ax.set_xlabel(xlabel)
  ax.set_ylabel('w_final / w_init')
  ax.set_title(title, fontsize=10)
  return _save(fig, path)


def sliding(path, freqs, names, ratio_on, ratio_off, g_on, cross_on):
  """Rate curves after each conditioning history, metaplasticity on/off."""
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.9),
                           gridspec_kw=dict(width_ratios=[2.2, 1]))
  ax = axes[0]
  colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(names)))
  for i, name in enumerate(names):
    ax.plot(freqs, ratio_on[i], '.-', color=colors[i], ms=3,
            label=f'{name} (g_N={g_on[i]*1e3:.2f}e-3)')
    if ratio_off is not None:
      ax.plot(freqs, ratio_off[i], ls=':', color='0.3', lw=2,
              label='metaplasticity off (every condition)' if i == 0
              else None)
    if np.isfinite(cross_on[i]):
      ax.axvline(cross_on[i], color=colors[i], lw=0.7)
  _unity(ax)
  ax.set_xscale('log')
  ax.set_xlabel('presynaptic rate (Hz), 100 pulses')
  ax.set_ylabel('w_final / w_init')
  ax.set_title('sliding threshold: rate curves after conditioning\n'
               '(g_N frozen at its conditioned value during the test)',
               fontsize=9)
  ax.legend(fontsize=7, loc='upper left')
  ax = axes[1]
  ax.bar(np.arange(len(names)), cross_on, color=colors)
  ax.set_xticks(np.arange(len(names)))
  ax.set_xticklabels(names, rotation=20, fontsize=7, ha='right')
  ax.set_ylabel('LTD/LTP crossover (Hz)')
  ax.set_title('crossover (metaplasticity on)', fontsize=9)
  return _save(fig, path)


def neuron(path, t_s, runs, hist_bins=20):
  """Group-mean weights, rate and g_N over time; final weight histograms.

  Args:
    path: PNG path.
    t_s: [R] record times (s).
    runs: ``{label: dict(w_1, w_2, rate, g_nmda, w_final, group_size)}``.
    hist_bins: histogram bins.
  """
  fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
  styles = ['-', '--', ':', '-.']
  for (label, r), ls in zip(runs.items(), styles):
    axes[0, 0].plot(t_s, r['w_1'], ls, color='tab:red',
                    label=f'group 1 ({label})')
    axes[0, 0].plot(t_s, r['w_2'], ls, color='tab:blue',
                    label=f'group 2 ({label})')
    k = max(1, len(t_s) // 100)
    rate = np.convolve(r['rate'], np.ones(k) / k, mode='same')
    axes[0, 1].plot(t_s, rate, ls, color='k', label=label)
    axes[1, 0].plot(t_s, -np.asarray(r['g_nmda']) * 1e3, ls, color='k',
                    label=label)
  axes[0, 0].set_ylabel('group-mean weight')
  axes[0, 0].legend(fontsize=7)
  axes[0, 1].set_ylabel('firing rate (Hz, smoothed)')
  axes[0, 1].legend(fontsize=7)
  axes[1, 0].set_ylabel('|g_N| (1e-3 uM / (ms mV))')
  axes[1, 0].legend(fontsize=7)
  for ax in (axes[0, 0], axes[0, 1], axes[1, 0]):
    ax.set_xlabel('time (s)')
  ax = axes[1, 1]
  for (label, r), hatch in zip(runs.items(), ['', '//', '..', 'xx']):
    w = np.asarray(r['w_final'])
    g = r['group_size']
    lo, hi = 0.0, max(float(w.max()), 1e-3)
    bins = np.linspace(lo, hi, hist_bins + 1)
    ax.hist([w[:g], w[g:]], bins=bins, stacked=True, hatch=hatch,
            color=['tab:red', 'tab:blue'], alpha=0.6,
            label=[f'group 1 ({label})', f'group 2 ({label})'])
  ax.set_xlabel('final weight')
  ax.set_ylabel('synapses')
  ax.legend(fontsize=7)
  fig.suptitle('integrate-and-fire neuron, calcium synapses', fontsize=10)
  return _save(fig, path)


def recall_errors(path, ms, results, decoders, *, title, cue_key='cue'):
  """Recall error vs stored patterns, one panel per storage rule.

  Args:
    path: PNG path.
    ms: [K] numbers of stored patterns.
    results: ``{rule: {name: (mean [K], sem [K])}}`` with ``cue_key`` and
      each decoder (an ``'exact '`` prefix draws a decoder's exact line).
    decoders: decoder names to draw.
    title: suptitle.
  """
  rules = list(results)
  cols = min(len(rules), 3)
  rows = -(-len(rules) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows),
                           squeeze=False)
  for ax, rule in zip(axes.flat, rules):
    res = results[rule]
    m, s = res[cue_key]
    ax.plot(ms, m, color='0.4', ls='--', label='cue only')
    for name in decoders:
      st = _DECODER_STYLE[name]
      m, s = res[name]
      ax.errorbar(ms, m, yerr=s, color=st['color'], marker=st['marker'],
                  ms=3, capsize=2, lw=1, label=st['label'] + ' (Gibbs)')
      if 'exact ' + name in res:
        m, s = res['exact ' + name]
        ax.plot(ms, m, color=st['color'], ls=':', lw=1.5,
                label=st['label'] + ' (exact)')
    ax.set_title(rule, fontsize=10)
    ax.set_xlabel('stored patterns M')
    ax.set_ylabel('recall error (fraction of bits)')
  for ax in list(axes.flat)[len(rules):]:
    ax.axis('off')
  axes.flat[0].legend(fontsize=7)
  fig.suptitle(title, fontsize=10)
  return _save(fig, path)
