r"""``mixture``: the chosen branch by ``lax.switch`` vs every branch selected.

``mpl_jax.mixture`` runs the ``state.index``-th of its transforms with
``lax.switch``; before, it computed every transform's update and kept one
with ``jnp.where`` (reproduced here as ``select_all``). This times one jitted
optimizer step (update, then ``apply_updates``, buffers donated; the
``Runner`` of ``bench_rules_overhead.py``) of both, on the same MLP tree,
for mixes of ``flexible_sgd`` variants with one state layout (the item
protocol's mixes, ``mpl_jax.train.items``):

* one run, index unbatched: the switch runs one transform, the select all;
* ``--seeds N`` runs vmapped with a batched index (one mix per run): JAX
  turns the switch into a select, so both compute every transform.

Both variants are measured in one process, interleaved round by round, so
that load from other processes hits them alike; the figure is the median.

Command::

  JAX_PLATFORMS=cpu python benchmarks/bench_mixture.py --rounds 10 --reps 5

Measured (JAX 0.10.2, 2 shared x86-64 cores under load from other jobs,
``--rounds 10 --reps 5``): one run 3.40 ms (switch) vs 9.37 ms (select all),
ratio 0.36; 4 runs vmapped 249 ms vs 251 ms, ratio 0.99. Under ``vmap`` both
are far above 5x one vmapped ``flexible_sgd`` step (7.9 ms for 4 runs,
measured apart); the cause, the same before and after the switch, was not
investigated here.
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
from benchmarks.bench_rules_overhead import mlp_params
from benchmarks.bench_rules_overhead import Runner

SIZES = (784, 512, 512, 10)
MIXES = ('uniform', ('constant', 1.0), ('increasing', 0.5),
         ('decreasing', 0.5), None)  # None: discrete tiers


def select_all(txs):
  """The former ``mixture``: every transform runs, ``jnp.where`` keeps one."""
  txs = tuple(optax.with_extra_args_support(t) for t in txs)

  def init_fn(params):
    return mpl_jax.MixtureState(jnp.zeros((), jnp.int32), txs[0].init(params))

  def update_fn(updates, state, params=None, **extra_args):
    outs = [t.update(updates, state.inner, params, **extra_args) for t in txs]

    def select(*leaves):
      out = leaves[0]
      for k, leaf in enumerate(leaves[1:], start=1):
        out = jnp.where(state.index == k, leaf, out)
      return out

    u, inner = jax.tree.map(select, *outs)
    return u, mpl_jax.MixtureState(state.index, inner)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def transforms():
  out = []
  for mix in MIXES:
    kw = (dict(tiers=((0.1, 0.5), (1.0, 0.5))) if mix is None
          else dict(distribution=mix))
    out.append(mpl_jax.flexible_sgd(0.05, key=0, strength=500.0,
                                    refresh='task', **kw))
  return out


def runner(combine, params, grads, seeds):
  r = Runner(combine(transforms()), params, grads, seeds=seeds)
  k = len(MIXES)
  index = (jnp.arange(seeds, dtype=jnp.int32) % k if seeds
           else jnp.int32(k - 1))
  r.state = r.state._replace(index=index)
  r.call()  # the chosen transform's first update (its draw)
  return r


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rounds', type=int, default=10)
  parser.add_argument('--reps', type=int, default=5)
  parser.add_argument('--seeds', type=int, default=4)
  args = parser.parse_args()
  params = mlp_params(SIZES)
  grads = jax.tree.map(lambda p: 0.01 * jnp.ones_like(p), params)
  print(f'JAX {jax.__version__}, {platform.machine()}, '
        f'{jax.devices()[0].platform}; MLP {SIZES}, {len(MIXES)} mixes of '
        f'flexible_sgd; median of {args.rounds} x {args.reps} steps')
  for seeds in (0, args.seeds):
    runs = {name: runner(combine, params, grads, seeds)
            for name, combine in (('switch', mpl_jax.mixture),
                                  ('select_all', select_all))}
    times = {name: [] for name in runs}
    for _ in range(args.rounds):
      for name, r in runs.items():
        times[name] += r.time(args.reps)
    med = {name: float(np.median(t)) for name, t in times.items()}
    label = f'{seeds} runs vmapped' if seeds else 'one run'
    print(f'{label:>16}: switch {1e3 * med["switch"]:8.2f} ms  select_all '
          f'{1e3 * med["select_all"]:8.2f} ms  switch / select_all '
          f'{med["switch"] / med["select_all"]:.2f}')


if __name__ == '__main__':
  main()
