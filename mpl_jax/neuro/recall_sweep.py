"""Recall error vs number of stored patterns, one program per storage rule.

Each trial draws ``max(ms)`` patterns, stores the first ``M`` (pattern 0,
the oldest, is the target; order matters only for the cascade), draws a
cue and runs every decoder's dynamics from it with the same random numbers.
Trials and pattern counts are both vmapped in one jitted program. The
error is the fraction of wrong bits of the thresholded estimate (posterior
mean > 0.5 for Gibbs; the final state for greedy; the exact marginal
> 0.5 for enumeration); the cue's own error is returned too.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mpl_jax.neuro import assoc
from mpl_jax.neuro import cascade
from mpl_jax.neuro import recall


class CascadeSpec(NamedTuple):
  """Cascade synapses: depth ``n`` per efficacy, ratio ``x``, k bins, and
  the count the correlation-aware decoder integrates out (``role``: the
  presynaptic one, per column, is the one the balanced table correlates
  with; :func:`cascade.count_correlations`)."""
  depth: int = 5
  x: float = 0.5
  num_bins: int = 32
  role: str = 'pre'


def _decoders(family, w, rule, mom, rho, tabs, counts, role):
  out = {}
  for kind in ('naive', 'corr', 'oracle'):
    if family == 'additive':
      out[kind] = recall.additive_decoder(kind, w, rule, mom, rho)
    else:
      naive, per_k, log_prior, pair = tabs
      out[kind] = recall.cascade_decoder(kind, w, naive, per_k, log_prior,
                                         role=role, pair=pair,
                                         counts=counts)
  return out


def _problem(key, m, f, cue: assoc.Cue, table, family, n, m_max, spec,
             tabs):
  """Draws one trial: target, cue, weights and each decoder."""
  k_pat, k_cue, k_store, k_init = jax.random.split(key, 4)
  pats = assoc.draw_patterns(k_pat, m_max, n, f)
  mask = (jnp.arange(m_max) < m).astype(jnp.float32)
  x = pats[0]
  cue_bits = assoc.draw_cue(k_cue, x, cue)
  odds = assoc.cue_prior_odds(cue_bits, cue, f)
  later = jnp.sum(pats[1:] * mask[1:, None], 0)
  rule = assoc.decompose(table)
  if family == 'additive':
    w = assoc.store(pats, rule, mask)
    mom = assoc.moments(rule, f, m)
    rho = later - (m - 1.0) * f
  else:
    mv = cascade.moves(spec.depth, spec.x)
    tp = cascade.pair_matrices(cascade.matrices(mv), table)  # numpy
    pi = cascade.stationary(cascade.mean_matrix(tp, f))
    s0 = cascade.initial_states(k_init, pi, (n, n))
    states = cascade.store(k_store, pats, table, mv, s0, mask)
    w = (states >= spec.depth).astype(jnp.float32)
    mom = rho = None
  decs = _decoders(family, w, rule, mom, rho, tabs,
                   later.astype(jnp.int32), spec.role)
  return x, cue_bits, odds, decs


def _trial_fn(f, cue, family, n, m_max, spec, sweeps, burn, mode, decoders,
              exact, order_key):
  """One trial -> [1 + D (x2 with exact)] errors."""

  def trial(k, m, table, tb):
    k_prob, k_dyn = jax.random.split(k)
    x, cue_bits, odds, decs = _problem(k_prob, m, f, cue, table, family, n,
                                       m_max, spec, tb)
    truth = x > 0.5
    errs = [jnp.mean((cue_bits > 0.5) != truth)]
    for name in decoders:
      est = recall.dynamics(k_dyn, decs[name], cue_bits, odds, sweeps=sweeps,
                            mode=mode, burn=burn, order_key=order_key)
      errs.append(jnp.mean((est > 0.5) != truth))
      if exact:
        marg, _ = recall.exact_marginals(decs[name], odds, n)
        errs.append(jnp.mean((marg > 0.5) != truth))
    return jnp.stack(errs)

  return trial


_STATIC = ('f', 'family', 'n', 'm_max', 'spec', 'trials', 'sweeps', 'burn',
           'mode', 'decoders', 'exact')


@functools.partial(jax.jit, static_argnames=_STATIC)
def _additive_program(key, order_key, ms, tables, cue, *, f, family, n,
                      m_max, spec, trials, sweeps, burn, mode, decoders,
                      exact):
  """[R, len(ms), trials, E] errors of additive rules (tables [R, 2, 2])."""
  trial = _trial_fn(f, cue, family, n, m_max, spec, sweeps, burn, mode,
                    decoders, exact, order_key)
  shape = (tables.shape[0], ms.shape[0], trials)
  keys = jax.random.split(key, int(np.prod(shape))).reshape(shape)
  per_t = jax.vmap(lambda k, m, t: trial(k, m, t, None),
                   in_axes=(0, None, None))
  per_m = jax.vmap(per_t, in_axes=(0, 0, None))
  return jax.vmap(per_m, in_axes=(0, None, 0))(keys, ms, tables)


@functools.partial(jax.jit, static_argnames=_STATIC + ('table_key',))
def _cascade_program(key, order_key, ms, tabs, cue, *, f, family, n,
                     m_max, spec, trials, sweeps, burn, mode, decoders,
                     exact, table_key):
  """[len(ms), trials, E] errors of cascade synapses."""
  table = np.asarray(table_key, np.float64).reshape(2, 2)
  trial = _trial_fn(f, cue, family, n, m_max, spec, sweeps, burn, mode,
                    decoders, exact, order_key)
  keys = jax.random.split(key, ms.shape[0] * trials).reshape(
      ms.shape[0], trials)
  per_t = jax.vmap(lambda k, m, tb: trial(k, m, table, tb),
                   in_axes=(0, None, None))
  return jax.vmap(per_t, in_axes=(0, 0, 0))(keys, ms, tabs)


def recall_errors(seed: int, rules: Sequence[str], *, n: int, f: float,
                  ms: Sequence[int], trials: int, cue: assoc.Cue,
                  sweeps: int, burn: int, mode: str = 'gibbs',
                  decoders: Sequence[str] = ('naive', 'corr', 'oracle'),
                  cascade_spec: CascadeSpec | None = None,
                  cascade_rule: str = 'hetero', exact: bool = False):
  """Recall errors of each storage rule for every M and trial.

  The additive rules run as one program (their tables vmapped), the
  cascade as another. Random numbers: RBG keys from ``seed`` (the
  threefry default compiles several times slower here); the update order
  of each sweep is shared by all lanes.

  Args:
    seed: integer seed.
    rules: additive presets (:data:`assoc.RULES`) and/or ``'cascade'``.
    n, f: neurons and coding level.
    ms: numbers of stored patterns (each >= 2).
    trials: trials per M.
    cue: cue noise.
    sweeps, burn, mode: recall dynamics (:func:`recall.dynamics`).
    decoders: which of ``naive``, ``corr``, ``oracle`` to run.
    cascade_spec: cascade synapses.
    cascade_rule: the cascade's event table (:func:`cascade.event_table`:
      ``balanced`` = ``hetero``, ``unbalanced``, or an additive preset).
    exact: also each decoder's exact-enumeration estimate (tiny n only).

  Returns:
    ``{rule: [len(ms), trials, E]}``, E = 1 + D (or 1 + 2 D with
    ``exact``): the cue's error, then per decoder its dynamics' error (and
    then its exact estimate's error).
  """
  ms = np.asarray(ms, np.int32)
  if ms.min() < 2:
    raise ValueError(f'every number of stored patterns must be >= 2, got '
                     f'{ms.tolist()}.')
  spec = cascade_spec or CascadeSpec()
  base = jax.random.key(seed, impl='rbg')
  k_add, k_cas, order_key = jax.random.split(base, 3)
  kw = dict(f=float(f), n=n, m_max=int(ms.max()), spec=spec, trials=trials,
            sweeps=sweeps, burn=burn, mode=mode, decoders=tuple(decoders),
            exact=exact)
  out = {}
  additive = [r for r in rules if r != 'cascade']
  if additive:
    tables = jnp.asarray(np.stack([assoc.rule_table(r, f)
                                   for r in additive]), jnp.float32)
    errs = _additive_program(k_add, order_key, jnp.asarray(ms), tables, cue,
                             family='additive', **kw)
    out.update({r: errs[i] for i, r in enumerate(additive)})
  if 'cascade' in rules:
    table = cascade.event_table(cascade_rule, f)
    m_max = int(ms.max())
    tbs = [cascade.tables(spec.depth, spec.x, table, f, int(m) - 1,
                          spec.num_bins, spec.role) for m in ms]
    pair = np.zeros((len(ms), 2, 2, 2, m_max, m_max), np.float32)
    for r, m in enumerate(ms):
      pair[r, ..., :m, :m] = cascade.pair_count_tables(
          spec.depth, spec.x, table, f, int(m) - 1)
    tabs = tuple(jnp.asarray(np.stack([getattr(t, a) for t in tbs]))
                 for a in ('naive', 'per_k', 'log_prior')) + (
                     jnp.asarray(pair),)
    out['cascade'] = _cascade_program(
        k_cas, order_key, jnp.asarray(ms), tabs, cue,
        family='cascade', table_key=tuple(float(v) for v in table.reshape(-1)),
        **kw)
  return out
