r"""Multi-level metaplasticity where meta x |W_h| spans the gate (issue 20).

  python -m launch.main \
      --config=configs/mnist_fmnist_multilevel_span.py:4,threshold \
      --workdir=runs/mlspan_4_threshold
  python configs/mnist_fmnist_multilevel_span.py runs/mlspan_4_threshold
  python configs/mnist_fmnist_multilevel_span.py runs/mlspan_4_threshold \
      runs/mlspan_4_level   # paired comparison of two programs

``configs/mnist_fmnist_multilevel.py`` sweeps meta over 0..4, but after its
1000 Adam steps the hidden weights sit at |W_h| ~ 0.2-0.3, so m |W_h| <= ~1
and the gate 1 - tanh^2 barely acts. Here meta is swept over
{0, 3, 10, 30} (the one-seed pilot kept ~50 % of MNIST at 10-30), so that
across the sweep the gate factor of a step toward the threshold covers
(0, 1); the second command measures it on the hidden weights after task A
(checkpoint ``step_000001``): the 10 / 50 / 90 % quantiles of the factor
``f`` of the least gated step that could change a weight's level
(``gate_factors``), per meta.

``ARG`` = ``L[,form]``: ``L`` uniform levels on [-1, 1] (2, 3, 4, 8) and the
gate's form (``global``, ``level`` = ``interval``, ``threshold``; default
``threshold``; see ``mpl_jax.scale_by_multilevel_metaplasticity``). Same
network and data as ``mnist_fmnist_multilevel.py`` (784-128-10 quantized
perceptron, sign activations, BatchNorm; MNIST 5k subset then Fashion-MNIST,
shared head), 600 steps of batch 100 per task (shorter, to afford the
sweep), Adam lr 0.005 reset at the boundary; 5 seeds per meta (20 runs in
one program). The same seeds (initial weights, batch order) in every
program and every meta: arms are compared with paired t-tests.

The report prints, per meta, the task-A accuracy before and after task B
(mean ± std over seeds), task B's accuracy, the paired t-test of task A's
accuracy after B against meta = 0, and the gate quantiles.

The other programs of the table below (``ARG`` = 2,global, 4,level,
8,level):

  python -m launch.main --config=configs/mnist_fmnist_multilevel_span.py:ARG \
      --workdir=runs/mlspan_ARG

Measured (2-core CPU under load, jax 0.10.2, 9-11 min per program; seeds
0-4, mean ± std; recorded 2026-12-04; full table in BUILD.md): task A after
B for meta 0 / 3 / 10 / 30:
L = 2 global: 10.6 ± 2.4 / 14.2 ± 1.6 / 46.7 ± 2.6 / 66.0 ± 3.7 %;
L = 4 level: 11.6 ± 1.5 / 34.7 ± 2.7 / 44.1 ± 2.3 / 44.7 ± 2.8 %;
L = 8 level: 12.7 ± 2.1 / 44.2 ± 3.0 / 62.9 ± 1.8 / 57.4 ± 1.4 %;
L = 4 threshold: 11.6 ± 1.5 / 7.7 ± 1.5 / 5.2 ± 1.1 / 7.1 ± 0.8 %
(its hidden weights stay at the threshold: mean |W_h| 0.005-0.018).
Median gate factor at meta 3 / 10 / 30 (L = 2): 0.94 / 0.21 / 1e-5.
"""

import json
import os
import sys

if __name__ == '__main__':  # run as a script: make `configs` importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))

# pylint: disable=wrong-import-position
from configs import mnist_fmnist_multilevel

METAS = (0.0, 3.0, 10.0, 30.0)


def get_config(arg: str = '4,threshold'):
  parts = [p.strip() for p in (arg or '4').split(',')]
  if len(parts) == 1:
    parts.append('threshold')
  c = mnist_fmnist_multilevel.get_config(','.join(parts))
  c.name = f'mnist_fmnist_multilevel_span_L{parts[0]}_{parts[1]}'
  c.protocol.steps_per_task = 600
  c.sweep.name = 'meta'
  c.sweep.values = METAS
  return c


def _hidden_kernels(workdir: str, step: int):
  """The quantized layers' hidden weights ``[runs, ...]`` at a checkpoint.

  The model's parameters come first in the saved state, before the optimizer
  moments of the same shapes (and the stream's small key arrays); a kernel
  is a leaf ``[runs, fan_in, fan_out]`` with both sizes >= 10.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  path = os.path.join(workdir, 'checkpoints', f'step_{step:06d}',
                      'arrays.npz')
  if not os.path.exists(path):
    return None
  arrays = np.load(path)
  leaves = [arrays[k] for k in sorted(arrays.files,
                                      key=lambda k: int(k.split('_')[-1]))]
  kernels, seen = [], set()
  for x in leaves:
    if x.ndim == 3 and min(x.shape[1:]) >= 10 and x.shape[1:] not in seen:
      seen.add(x.shape[1:])
      kernels.append(x)
  return kernels


def gate_factors(w, meta, levels, form):
  """Per weight, the gate factor of the least gated step that could change
  its level: for the threshold form the larger factor of the two
  directions that head for a threshold; for the global and level forms the
  factor of a step toward zero (steps away from zero are never gated)."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import mpl_jax  # pylint: disable=g-import-not-at-top
  w = jnp.asarray(w)
  tx = mpl_jax.scale_by_multilevel_metaplasticity(meta, levels=levels,
                                                  form=form, mask=True)
  gate = lambda u: np.abs(np.asarray(tx.update(u, tx.init(w), w)[0]))
  if form != 'threshold':
    return gate(-jnp.sign(w))
  f = []
  for sign in (1.0, -1.0):
    u = jnp.full_like(w, sign)
    _, ahead = mpl_jax.rules.multilevel.threshold_position(w, u, levels)
    f.append(np.where(np.asarray(ahead), gate(u), 0.0))
  return np.maximum(*f)


def gate_quantiles(kernels, metas, levels, form, runs_per_value):
  """10 / 50 / 90 % quantiles of :func:`gate_factors`, per swept meta."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  out = {}
  for i, m in enumerate(metas):
    sl = slice(i * runs_per_value, (i + 1) * runs_per_value)
    f = np.concatenate([gate_factors(k[sl], m, levels, form).ravel()
                        for k in kernels])
    w = np.concatenate([np.abs(k[sl]).ravel() for k in kernels])
    out[m] = dict(q10=float(np.quantile(f, 0.1)),
                  q50=float(np.quantile(f, 0.5)),
                  q90=float(np.quantile(f, 0.9)),
                  mean_abs_w=float(w.mean()))
  return out


def report(workdir: str) -> dict:
  import numpy as np  # pylint: disable=g-import-not-at-top
  from scipy import stats  # pylint: disable=g-import-not-at-top
  with open(os.path.join(workdir, 'config.json')) as f:
    config = json.load(f)
  metas = list(config['sweep']['values'])
  acc = np.load(os.path.join(workdir, 'accuracy.npy')) * 100
  n = acc.shape[0] // len(metas)
  before = acc[:, 0, 0].reshape(len(metas), n)
  after = acc[:, 1, 0].reshape(len(metas), n)
  task_b = acc[:, 1, 1].reshape(len(metas), n)
  out = {}
  for i, m in enumerate(metas):
    row = dict(a_before=(before[i].mean(), before[i].std(ddof=1)),
               a_after=(after[i].mean(), after[i].std(ddof=1)),
               b_after=(task_b[i].mean(), task_b[i].std(ddof=1)),
               a_after_runs=after[i].round(1).tolist())
    if i:
      row['paired_vs_meta0'] = tuple(
          float(x) for x in stats.ttest_rel(after[i], after[0]))
    out[m] = row
  kernels = _hidden_kernels(workdir, 1)
  if kernels is not None:
    levels = tuple(config['optimizer']['levels'])
    gates = gate_quantiles(kernels, metas, levels,
                           config['optimizer']['form'], n)
    for m in metas:
      out[m]['gate'] = gates[m]
  return out


def compare(workdir_a: str, workdir_b: str) -> dict:
  """Paired t-test (same seeds) of task A's accuracy after B, b minus a,
  per meta: two programs (levels or forms) on the same seeds."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from scipy import stats  # pylint: disable=g-import-not-at-top
  out = {}
  accs = [np.load(os.path.join(w, 'accuracy.npy'))[:, 1, 0] * 100
          for w in (workdir_a, workdir_b)]
  with open(os.path.join(workdir_a, 'config.json')) as f:
    metas = json.load(f)['sweep']['values']
  a, b = (x.reshape(len(metas), -1) for x in accs)
  for i, m in enumerate(metas):
    diff = b[i] - a[i]
    t = stats.ttest_rel(b[i], a[i]) if np.any(diff != diff[0]) else (
        np.nan, np.nan)
    out[m] = (float(diff.mean()), float(diff.std(ddof=1)), float(t[0]),
              float(t[1]))
  return out


if __name__ == '__main__':
  if len(sys.argv) == 3:
    for meta, (d, sd, t, p) in compare(*sys.argv[1:]).items():
      print(f'meta {meta:g}: A after B, second - first = {d:.1f} ± {sd:.1f}'
            f' (paired t = {t:.2f}, p = {p:.2g})')
    sys.exit()
  for meta, r in report(sys.argv[1]).items():
    line = (f'meta {meta:g}: A before {r["a_before"][0]:.1f} ± '
            f'{r["a_before"][1]:.1f}, A after B {r["a_after"][0]:.1f} ± '
            f'{r["a_after"][1]:.1f}, B {r["b_after"][0]:.1f} ± '
            f'{r["b_after"][1]:.1f}')
    if 'paired_vs_meta0' in r:
      line += (f'; paired vs meta 0: t = {r["paired_vs_meta0"][0]:.2f}, '
               f'p = {r["paired_vs_meta0"][1]:.2g}')
    if 'gate' in r:
      g = r['gate']
      line += (f'; gate f q10/50/90 = {g["q10"]:.3g} / {g["q50"]:.3g} / '
               f'{g["q90"]:.3g}, mean |W_h| {g["mean_abs_w"]:.3f}')
    print(line)


# What the docstring claims, checked by launch/check_docs.py (format in its
# docstring); the quotes must stay in the docstring.
_AFTER = 'sweep/groups/meta={}/final_accuracy_per_task/mean/0'
_ROWS = {  # ARG: the docstring's row, meta 0 / 3 / 10 / 30
    '2,global': 'L = 2 global: 10.6 ± 2.4 / 14.2 ± 1.6 / 46.7 ± 2.6 / 66.0 ± 3.7 %',
    '4,level': 'L = 4 level: 11.6 ± 1.5 / 34.7 ± 2.7 / 44.1 ± 2.3 / 44.7 ± 2.8 %',
    '8,level': 'L = 8 level: 12.7 ± 2.1 / 44.2 ± 3.0 / 62.9 ± 1.8 / 57.4 ± 1.4 %',
    '4,threshold': ('L = 4 threshold: 11.6 ± 1.5 / 7.7 ± 1.5 / 5.2 ± 1.1 / '
                    '7.1 ± 0.8 %'),
}


def _row_claims(row):
  """One claim per meta, mean and std read from the quoted row."""
  cells = row.split(':', 1)[1].rstrip(' %').split(' / ')
  out = []
  for meta, cell in zip(('0.0', '3.0', '10.0', '30.0'), cells):
    mean, std = (float(x) for x in cell.split(' ± '))
    out.append(dict(metric=_AFTER.format(meta), scale=100, expected=mean,
                    spread=std, quote=row))
  return tuple(out)


DOC_CHECK = tuple(
    dict(command='python -m launch.main '
         f'--config=configs/mnist_fmnist_multilevel_span.py:{arg} '
         f'--workdir=runs/mlspan_{arg.replace(",", "_")}',
         tier='long', seconds=660, time_quote='9-11 min per program',
         measured='2-core CPU under load from other jobs, JAX 0.10.2, '
         'recorded 2026-12-04',
         claims=_row_claims(row))
    for arg, row in _ROWS.items())
