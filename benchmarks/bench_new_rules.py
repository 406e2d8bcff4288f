r"""Cost of the multi-level and Benna-Fusi rules over their inner optimizers.

For the 784-1024-1024-10 MLP parameter tree of ``bench_rules_overhead`` (about
1.86 M parameters), times one jitted optimizer step (``tx.update`` then
``apply_updates``, params and state donated) of each configuration and of its
inner optimizer, in one process. Every round times every configuration
(``--reps`` calls each) in an order rotated by one from the previous round,
so that load from other processes and cache effects hit them alike; a
configuration's figure is the median over rounds of (its median call in the
round) / (its inner optimizer's median call in the same round).

The Benna-Fusi chains are also expressed per beaker: ``(t(n) - t(0)) / n``
in units of one plain SGD step (an elementwise pass that reads and writes one
float per weight, plus the gradient read), to check that a chain of ``n``
beakers costs about ``n`` elementwise passes.

Command::

  JAX_PLATFORMS=cpu python benchmarks/bench_new_rules.py --rounds 15 --reps 8

Measured (2 shared CPU cores, load ~4, jax 0.10.2; 57 s): ratio to the
inner optimizer, multi-level Adam 1.07 (L = 4 global), 1.22 (L = 4
interval), 1.36 (L = 8 interval), metaplastic Adam 1.16; benna_fusi_adam
n = 2 / 5 / 10: 1.50 / 2.84 / 5.20x Adam, i.e. 0.9-1.6 SGD steps per beaker
(a beaker update reads three levels and writes one: ~1.3 SGD steps if
memory-bound); Jacobi order n = 5: 6x the Gauss-Seidel step (XLA copies
every level under donation); beaker_metaplastic_adam (4): 4.1x Adam.
Figures vary 10-30 % from run to run on shared cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np
import optax

import mpl_jax
from mpl_jax.rules import multilevel
from benchmarks.bench_rules_overhead import mlp_params
from benchmarks.bench_rules_overhead import Runner
from benchmarks.bench_rules_overhead import SIZES

CHAIN_LENGTHS = (2, 5, 10)


def _adam_pytorch(lr):
  return optax.chain(mpl_jax.scale_by_adam_pytorch(),
                     optax.scale_by_learning_rate(lr))


def configurations():
  """(name, inner name, transform); an inner optimizer has name == inner."""
  l4, l8 = multilevel.uniform_levels(4), multilevel.uniform_levels(8)
  out = [
      ('sgd', 'sgd', optax.sgd(1e-2)),
      ('adam', 'adam', optax.adam(1e-3)),
      ('metaplastic_adam', 'adam', mpl_jax.metaplastic_adam(5e-3, 1.35)),
      ('multilevel L=4 global', 'adam',
       mpl_jax.multilevel_metaplastic_adam(5e-3, 2.0, levels=l4)),
      ('multilevel L=4 interval', 'adam',
       mpl_jax.multilevel_metaplastic_adam(5e-3, 2.0, levels=l4,
                                           form='interval')),
      ('multilevel L=8 interval', 'adam',
       mpl_jax.multilevel_metaplastic_adam(5e-3, 2.0, levels=l8,
                                           form='interval')),
      ('adam (pytorch eps)', 'adam (pytorch eps)', _adam_pytorch(1e-3)),
  ]
  for n in CHAIN_LENGTHS:
    out.append((f'benna_fusi_adam n={n}', 'adam (pytorch eps)',
                mpl_jax.benna_fusi_adam(1e-3, beakers=n, alpha=500.0,
                                        beta=2500.0)))
  for n in CHAIN_LENGTHS:
    out.append((f'benna_fusi_sgd n={n}', 'sgd',
                mpl_jax.benna_fusi_sgd(1e-2, beakers=n, alpha=500.0,
                                       beta=2500.0)))
  out += [
      ('benna_fusi_sgd n=5 jacobi', 'sgd',
       mpl_jax.benna_fusi_sgd(1e-2, beakers=5, alpha=500.0, beta=2500.0,
                              order='jacobi')),
      ('beaker_metaplastic_adam (4)', 'adam',
       mpl_jax.beaker_metaplastic_adam(5e-3, 1.35)),
  ]
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rounds', type=int, default=15)
  parser.add_argument('--reps', type=int, default=8,
                      help='calls per configuration per round')
  args = parser.parse_args()

  params = mlp_params()
  grads = jax.tree.map(lambda p: 1e-2 * jnp.ones_like(p) + 1e-3 * p, params)
  n_params = sum(p.size for p in jax.tree.leaves(params))
  configs = configurations()
  runners = {name: Runner(tx, params, grads) for name, _, tx in configs}
  names = [name for name, _, _ in configs]
  inner_of = {name: inner for name, inner, _ in configs}
  per_round = {name: [] for name in names}  # median ms of each round
  for r in range(args.rounds):
    order = names[r % len(names):] + names[:r % len(names)]
    for name in order:
      per_round[name].append(np.median(runners[name].time(args.reps)) * 1e3)

  ms = {n: np.asarray(v) for n, v in per_round.items()}
  ratio = {n: np.median(ms[n] / ms[inner_of[n]]) for n in names}
  print(f'jax {jax.__version__} on {jax.devices()[0].platform}, '
        f'{os.cpu_count()} CPU cores, {platform.processor() or "?"}; '
        f'MLP {"-".join(map(str, SIZES))} ({n_params} parameters); '
        f'{args.rounds} rounds x {args.reps} calls, order rotated per round.')
  print(f'{"configuration":32s} {"median ms":>10s} {"inner":>20s} '
        f'{"ratio":>6s} {"IQR of ratio":>14s}')
  for n in names:
    q25, q75 = np.percentile(ms[n] / ms[inner_of[n]], [25, 75])
    print(f'{n:32s} {np.median(ms[n]):10.3f} {inner_of[n]:>20s} '
          f'{ratio[n]:6.2f} {q25:6.2f}-{q75:<6.2f}')
  print('\nPer beaker, in SGD steps (elementwise passes): '
        'median over rounds of (t(n) - t(inner)) / (n * t(sgd)).')
  for kind, inner in (('benna_fusi_adam', 'adam (pytorch eps)'),
                      ('benna_fusi_sgd', 'sgd')):
    for n in CHAIN_LENGTHS:
      name = f'{kind} n={n}'
      per = np.median((ms[name] - ms[inner]) / (n * ms['sgd']))
      print(f'{name:32s} {per:6.2f} SGD steps per beaker')


if __name__ == '__main__':
  main()
