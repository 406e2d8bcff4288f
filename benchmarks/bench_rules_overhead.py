r"""Overhead of the gating rules over their inner optimizer, per update step.

For a 784-1024-1024-10 MLP parameter tree (Flax ``[in, out]`` kernels, about
1.86 M parameters), times one jitted ``tx.update`` of each inner optimizer
(SGD, Adam, metaplastic Adam) and of the same optimizer with a rule added,
and prints ``rule step / inner step``. All configurations are measured in the
same process, interleaved round by round, so that load from other processes
hits them alike; the figure is the median over all calls.

Each call is a whole optimizer step as a trainer runs it (update, then
``apply_updates``) with parameters and state donated, so state fields a rule
passes through unchanged are not copied. ``task_id`` stays constant: the
'task' variants are timed inside a task (no refresh), which is the common
step; the first update (the draw) is excluded as warm-up.

With ``--seeds N`` (default 4) some configurations are also timed vmapped
over N seeds after ``vmap(init)`` and ``reseed``, as the trainer runs them.

Command::

  JAX_PLATFORMS=cpu python benchmarks/bench_rules_overhead.py \
      --rounds 20 --reps 10 --seeds 4

Expected: see the numbers reported with the change that added this file; on
2 shared CPU cores they vary by 10-20 % from run to run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np
import optax

import mpl_jax
from mpl_jax.rules.engram import engram_metaplastic_adam
from mpl_jax.rules.engram import scale_by_engram_gate
from mpl_jax.rules.flexibility import flexible_sgd
from mpl_jax.rules.flexibility import scale_by_flexibility

SIZES = (784, 1024, 1024, 10)


def mlp_params(sizes=SIZES, seed=0):
  key = jax.random.PRNGKey(seed)
  params = {}
  for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
    key, sub = jax.random.split(key)
    params[f'Dense_{i}'] = {
        'kernel': jax.random.normal(sub, (n_in, n_out)) / np.sqrt(n_in),
        'bias': jnp.zeros((n_out,)),
    }
  return params


def configurations():
  """(name, inner name, transform) triples; inner ones have name == inner."""
  flex = dict(distribution='uniform', strength=4e5)
  return [
      ('sgd', 'sgd', optax.sgd(1e-2)),
      ('flexible_sgd refresh=task', 'sgd',
       flexible_sgd(1e-2, key=0, refresh='task', **flex)),
      ('flexible_sgd refresh=step', 'sgd',
       flexible_sgd(1e-2, key=0, refresh='step', **flex)),
      ('sgd + engram synapse/step', 'sgd',
       optax.chain(optax.sgd(1e-2), scale_by_engram_gate(0, p=0.5))),
      ('adam', 'adam', optax.adam(1e-3)),
      ('adam + flexibility refresh=task', 'adam',
       optax.chain(optax.adam(1e-3), scale_by_flexibility(0, **flex))),
      ('adam + flexibility refresh=step', 'adam',
       optax.chain(optax.adam(1e-3),
                   scale_by_flexibility(0, refresh='step', **flex))),
      ('adam + flexibility tiers(3)', 'adam',
       optax.chain(optax.adam(1e-3), scale_by_flexibility(
           0, tiers=[(1.0, 0.3), (0.5, 0.3), (0.1, 0.4)], strength=4e5))),
      ('adam + engram synapse/step', 'adam',
       optax.chain(optax.adam(1e-3), scale_by_engram_gate(0, p=0.5))),
      ('adam + engram synapse/step counter', 'adam',
       optax.chain(optax.adam(1e-3),
                   scale_by_engram_gate(0, p=0.5, sampler='counter'))),
      ('adam + engram synapse/task', 'adam',
       optax.chain(optax.adam(1e-3),
                   scale_by_engram_gate(0, p=0.5, resample='task'))),
      ('adam + engram unit/step', 'adam',
       optax.chain(optax.adam(1e-3),
                   scale_by_engram_gate(0, p=0.5, granularity='unit'))),
      ('metaplastic_adam', 'metaplastic_adam',
       mpl_jax.metaplastic_adam(5e-3, 1.35)),
      ('engram_metaplastic_adam synapse/step', 'metaplastic_adam',
       engram_metaplastic_adam(5e-3, 1.35, key=0, p=0.5)),
      ('engram_metaplastic_adam synapse/step counter', 'metaplastic_adam',
       engram_metaplastic_adam(5e-3, 1.35, key=0, p=0.5, sampler='counter')),
      ('engram_metaplastic_adam unit/task', 'metaplastic_adam',
       engram_metaplastic_adam(5e-3, 1.35, key=0, p=0.5, granularity='unit',
                               resample='task')),
  ]


# Configurations also timed vmapped over seeds (state reseeded per seed).
VMAPPED = ('sgd', 'flexible_sgd refresh=task', 'adam',
           'adam + flexibility refresh=task', 'adam + engram synapse/task',
           'metaplastic_adam', 'engram_metaplastic_adam unit/task')


class Runner:
  """A jitted optimizer step, as a trainer runs it, called over and over.

  ``step(params, state, grads, task_id) -> (params + updates, state)`` with
  params and state donated, in the same order as they are returned, so that
  XLA can update every buffer in place (state fields that a rule passes
  through unchanged are then neither read nor copied).
  """

  def __init__(self, tx, params, grads, seeds=0):
    def step(p, s, g, t):
      updates, s = tx.update(g, s, p, task_id=t)
      return optax.apply_updates(p, updates), s

    self.grads, self.task = grads, np.int32(0)
    if seeds:  # as the trainer: vmap(init), reseed, vmapped step
      stack = lambda x: jnp.stack([x] * seeds)
      self.params = jax.tree.map(stack, params)
      self.grads = jax.tree.map(stack, grads)
      keys = jax.random.split(jax.random.PRNGKey(0), seeds)
      self.state = jax.jit(jax.vmap(
          lambda k, p: mpl_jax.reseed(tx.init(p), k)))(keys, self.params)
      step = jax.vmap(step, in_axes=(0, 0, 0, None))
    else:
      self.params = jax.tree.map(jnp.copy, params)
      self.state = jax.jit(tx.init)(self.params)
    self.step = jax.jit(step, donate_argnums=(0, 1))
    for _ in range(3):  # compile, first-update draw, steady state
      self.call()

  def call(self):
    self.params, self.state = self.step(self.params, self.state, self.grads,
                                        self.task)
    jax.block_until_ready((self.params, self.state))

  def time(self, reps):
    out = []
    for _ in range(reps):
      start = time.perf_counter()
      self.call()
      out.append(time.perf_counter() - start)
    return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rounds', type=int, default=20)
  parser.add_argument('--reps', type=int, default=10,
                      help='calls per configuration per round')
  parser.add_argument('--seeds', type=int, default=4,
                      help='also time some configurations vmapped over this '
                      'many seeds, as the trainer runs them (0: skip)')
  args = parser.parse_args()

  params = mlp_params()
  grads = jax.tree.map(lambda p: 1e-2 * jnp.ones_like(p) + 1e-3 * p, params)
  n_params = sum(p.size for p in jax.tree.leaves(params))
  configs = configurations()
  if args.seeds:
    vmapped = [(f'{name} x{args.seeds} seeds', f'{inner} x{args.seeds} seeds',
                tx) for name, inner, tx in configurations()
               if name in VMAPPED]
    configs += vmapped
  runners = {name: Runner(tx, params, grads,
                          seeds=args.seeds if ' seeds' in name else 0)
             for name, _, tx in configs}
  times = {name: [] for name, _, _ in configs}
  for _ in range(args.rounds):
    for name, _, _ in configs:
      times[name].extend(runners[name].time(args.reps))

  median = {name: float(np.median(t)) * 1e3 for name, t in times.items()}
  print(f'jax {jax.__version__} on {jax.devices()[0].platform}, '
        f'{os.cpu_count()} CPU cores, {platform.processor() or "?"}; '
        f'MLP {"-".join(map(str, SIZES))} ({n_params} parameters); '
        f'{args.rounds} rounds x {args.reps} calls per configuration.')
  print(f'{"configuration":48s} {"median ms":>10s} {"p10 ms":>8s} '
        f'{"p90 ms":>8s} {"ratio":>7s}')
  for name, inner, _ in configs:
    t = np.asarray(times[name]) * 1e3
    ratio = median[name] / median[inner]
    print(f'{name:48s} {median[name]:10.3f} {np.percentile(t, 10):8.3f} '
          f'{np.percentile(t, 90):8.3f} {ratio:7.2f}')


if __name__ == '__main__':
  main()
