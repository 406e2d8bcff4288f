"""Cascade recall vs the Bayes posterior, N = 8-12 (BUILD.md, issue 20).

  PYTHONPATH=$PWD python3 benchmarks/cascade_bayes_study.py run [CELL...]
  PYTHONPATH=$PWD python3 benchmarks/cascade_bayes_study.py report

f = 0.3, cue r = 0.2 (balanced), depth-2 cascade (x = 1/2), ``unbalanced``
event table (both counts matter). Each cell (N, M, Bayes method) runs
``exact_bayes.study`` for seeds 0-4 (independent keys), 32 trials each.
Bayes ``exact``: the later patterns enumerated (2^{N (M - 1)}: N = 8 at
M = 2, 3; N = 10, 12 at M = 2). ``mc``: 4096 prior draws (65536 for the
``_mc64k`` cells; an estimate; its effective sample size at the target is
saved). Writes
$OUT/cell_N_M_METHOD.npz (default OUT=/tmp/n20b); ``report`` prints mean
+- std over seeds per column and the paired tests (t over the 5 seed
means; Wilcoxon signed-rank over all trials).
"""
import glob
import os
import sys
import time

import numpy as np

OUT = os.environ.get('OUT', '/tmp/n20b')
SEEDS = 5
TRIALS = 32
CELLS = {  # name: (n, m, samples)
    '8_2_exact': (8, 2, None), '8_3_exact': (8, 3, None),
    '10_2_exact': (10, 2, None), '12_2_exact': (12, 2, None),
    '8_3_mc': (8, 3, 4096), '8_4_mc': (8, 4, 4096), '8_6_mc': (8, 6, 4096),
    '10_3_mc': (10, 3, 4096), '10_4_mc': (10, 4, 4096),
    '8_3_mc64k': (8, 3, 65536),   # the Monte Carlo's error vs 8_3_exact
    '8_4_mc64k': (8, 4, 65536), '8_6_mc64k': (8, 6, 65536),
    '10_3_mc64k': (10, 3, 65536),
}
COLS = ('cue', 'naive', 'corr_post', 'corr_pre', 'joint', 'oracle', 'bayes')


def run(names):
  # pylint: disable-next=g-import-not-at-top
  from mpl_jax.neuro import assoc, exact_bayes
  assert exact_bayes.DECODERS == COLS[1:]
  f = 0.3
  cue = assoc.cue_noise(0.2, f)
  os.makedirs(OUT, exist_ok=True)
  for name in names:
    n, m, samples = CELLS[name]
    errs, ess, secs = [], [], []
    for seed in range(SEEDS):
      t = time.time()
      e, s = exact_bayes.study(seed, n=n, f=f, ms=(m,), trials=TRIALS,
                               cue=cue, event='unbalanced', depth=2,
                               samples=samples,
                               trial_batch=4 if n >= 12 else 8)
      secs.append(time.time() - t)
      errs.append(e[0])
      ess.append(s[0])
      print(name, 'seed', seed, f'{secs[-1]:.1f} s', e[0].mean(0).round(3),
            flush=True)
    np.savez(f'{OUT}/cell_{name}.npz', errs=np.stack(errs),
             ess=np.stack(ess), secs=np.array(secs), n=n, m=m,
             samples=-1 if samples is None else samples)


def report():
  from scipy import stats  # pylint: disable=g-import-not-at-top
  for name in CELLS:
    path = f'{OUT}/cell_{name}.npz'
    if not os.path.exists(path):
      continue
    d = np.load(path)
    e = d['errs']                                  # [seeds, trials, cols]
    means = e.mean(1)
    row = ' | '.join(f'{means[:, j].mean():.3f} ± {means[:, j].std():.3f}'
                     for j in range(len(COLS)))
    print(f'| {name} | {row} | {np.median(d["ess"]):.1f} | '
          f'{d["secs"].sum():.0f} s |')
  print()
  for name in CELLS:
    path = f'{OUT}/cell_{name}.npz'
    if not os.path.exists(path):
      continue
    e = np.load(path)['errs']
    out = []
    for a, b in (('joint', 'naive'), ('joint', 'corr_pre'),
                 ('joint', 'corr_post'), ('joint', 'bayes'),
                 ('bayes', 'cue'), ('naive', 'cue'), ('joint', 'cue')):
      ia, ib = COLS.index(a), COLS.index(b)
      dm = e[..., ia].mean(1) - e[..., ib].mean(1)
      t_p = stats.ttest_rel(e[..., ia].mean(1), e[..., ib].mean(1)).pvalue
      diff = (e[..., ia] - e[..., ib]).ravel()
      w_p = (stats.wilcoxon(diff).pvalue if np.any(diff != 0) else 1.0)
      out.append(f'{a}-{b} {dm.mean():+.3f} (t {t_p:.2g} / W {w_p:.2g})')
    print(name + ': ' + '; '.join(out))


if __name__ == '__main__':
  if sys.argv[1] == 'run':
    run(sys.argv[2:] or list(CELLS))
  else:
    report()
