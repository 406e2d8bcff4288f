r"""Brute-force Bayes posterior of cascade recall for small N; decoder study.

What "exact" means here. The generative model is the one the recall
experiments simulate: the target ``x`` (stored first) and ``M - 1`` later
patterns, all i.i.d. Bernoulli(f); every synapse starts from the stationary
distribution ``pi`` and moves independently given the patterns
(:mod:`cascade`); the cue flips bits independently. Then

.. math::

  P(x | W, \tilde x) \propto P(\tilde x | x) P(x)\,
  \mathbb{E}_{\xi^{2..M}}\Big[\prod_{i \ne j}
  P(W_{ij} | x_i, x_j, \xi_i^{2..M}, \xi_j^{2..M})\Big],

where each factor is exact (``pi T(x_i, x_j) prod_m T(xi_i^m, xi_j^m)``
read at the observed efficacy: the initial state and every stochastic
transition are summed over). ``x`` is enumerated over all ``2^N`` states.
The expectation over the later patterns (``2^{N (M-1)}`` configurations)
is a sum over all of them weighted by their prior (:func:`log_evidence`
with ``samples=None``: exact up to float32 rounding; feasible for
``N (M - 1)`` up to ~16 bits) or a Monte Carlo mean over ``samples`` draws
from their prior, the same draws for every ``x`` (common random numbers):
an estimate. :func:`study` uses the estimate at every M (one compiled
program); ``tests/test_cascade_exact.py`` checks it against the
enumeration.

:func:`study` compares, on the same trials, the cue, each decoder's own
posterior (enumerated, so the sampler is out of the comparison), and this
Bayes posterior, by the error of the thresholded marginals.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from mpl_jax.neuro import assoc
from mpl_jax.neuro import cascade
from mpl_jax.neuro import recall


def synapse_logliks(w, others, mask, tp, start, strong):
  """[N, N, 2, 2] log P(W_ij | x_i = a, x_j = b, later patterns).

  Args:
    w: [N, N] 0/1 efficacies.
    others: [L, N] later patterns (0/1), in storage order.
    mask: [L] 1 where a later pattern is stored, 0 skipped.
    tp: [2, 2, S, S] transition matrix of a pattern with (post, pre).
    start: [2, 2, S] ``pi T(a, b)``: the state after storing the target.
    strong: [S] 1 for the strong states.
  """
  obs = jnp.where(w[..., None] > 0.5, strong, 1.0 - strong)   # [N, N, S]
  o = others.astype(jnp.int32)

  def back(b, inp):
    xi, on = inp
    t = tp[xi[:, None], xi[None, :]]                            # [N,N,S,S]
    nb = jnp.einsum('ijst,ijt->ijs', t, b)
    return jnp.where(on > 0.5, nb, b), None

  b, _ = jax.lax.scan(back, obs, (o[::-1], mask[::-1]))
  p = jnp.einsum('abs,ijs->ijab', start, b)
  return jnp.log(jnp.maximum(p, 1e-30))


def log_evidence(key, w, states, num_later, mask, f, tp, start, strong,
                 samples: int | None):
  """[2^N] log P(W | x) for every state ``x``.

  ``samples=None``: the later patterns are enumerated (all
  ``2^{N num_later}`` of them, weighted by their prior): exact. Otherwise a
  Monte Carlo mean over ``samples`` draws from their prior.
  """
  n = w.shape[0]
  off = 1.0 - jnp.eye(n)
  si = states.astype(jnp.int32)

  def one(others):
    ll = synapse_logliks(w, others, mask, tp, start, strong)    # [N,N,2,2]
    per = ll[jnp.arange(n)[:, None], jnp.arange(n)[None, :],
             si[:, :, None], si[:, None, :]]                    # [X, N, N]
    return jnp.sum(per * off, (1, 2))

  if samples is None:
    bits = jnp.asarray(recall.all_states(n * num_later)).reshape(
        -1, num_later, n)
    on = jnp.sum(bits * mask[None, :, None], (1, 2))
    log_prior = on * jnp.log(f) + (jnp.sum(mask) * n - on) * jnp.log1p(-f)
    lls = jax.lax.map(one, bits, batch_size=256) + log_prior[:, None]
    return jax.nn.logsumexp(lls, 0)
  draws = (jax.random.uniform(key, (samples, num_later, n)) < f).astype(
      jnp.float32)
  lls = jax.lax.map(one, draws, batch_size=64)
  return jax.nn.logsumexp(lls, 0) - jnp.log(samples)


def bayes_marginals(key, w, cue_odds, num_later, mask, f, tp, start, strong,
                    samples: int | None):
  """P(x_i = 1 | W, cue) of the Bayes posterior (all 2^N states)."""
  n = w.shape[0]
  states = jnp.asarray(recall.all_states(n))
  lw = log_evidence(key, w, states, num_later, mask, f, tp, start, strong,
                    samples)
  p = jax.nn.softmax(lw + states @ cue_odds)
  return p @ states


def _model(depth, x, table, f):
  tp = cascade.pair_matrices(cascade.matrices(cascade.moves(depth, x)),
                             table)
  pi = cascade.stationary(cascade.mean_matrix(tp, f))
  start = np.einsum('s,abst->abt', pi, tp)
  strong = (np.arange(2 * depth) >= depth).astype(np.float64)
  return tp, pi, start, strong


DECODERS = ('naive', 'corr_post', 'corr_pre', 'oracle', 'bayes')


def study(seed: int, *, n: int, f: float, ms, trials: int, cue: assoc.Cue,
          event: str = 'balanced', depth: int = 5, x: float = 0.5,
          samples: int = 4096):
  """Recall errors of the cue, every decoder's posterior and Bayes.

  One compiled program for every M (patterns beyond M masked, tables
  padded); the Bayes column uses the Monte Carlo estimate of the later
  patterns' expectation at every M (with ``2^{N (M-1)} <= samples`` /
  16 configurations, e.g. M = 2 at N = 6, it is close to the enumeration:
  ``tests/test_cascade_exact.py::test_log_evidence_monte_carlo_vs_enumeration``).

  Args:
    seed: integer seed (trials of different seeds are independent).
    n, f: neurons (small: 2^n states are enumerated) and coding level.
    ms: numbers of stored patterns (>= 2).
    trials: trials per M (vmapped).
    cue: cue noise.
    event: cascade event table (:func:`cascade.event_table`).
    depth, x: cascade depth and ratio.
    samples: Monte Carlo draws of the later patterns for ``bayes``.

  Returns:
    [len(ms), trials, 1 + len(DECODERS)] errors (fraction of wrong bits
    of the thresholded marginals): cue, then :data:`DECODERS` in order.
  """
  ms = np.asarray(ms, np.int32)
  m_max = int(ms.max())
  table = cascade.event_table(event, f)
  tp, pi, start, strong = _model(depth, x, table, f)
  tabs = {}
  for role in ('post', 'pre'):
    tb = [cascade.tables(depth, x, table, f, int(m) - 1, m_max, role)
          for m in ms]
    tabs[role] = tuple(jnp.asarray(np.stack([getattr(t, a) for t in tb]))
                       for a in ('naive', 'per_k', 'log_prior'))
  pair = np.zeros((len(ms), 2, 2, 2, m_max, m_max), np.float32)
  for r, m in enumerate(ms):
    pair[r, ..., :m, :m] = cascade.pair_count_tables(depth, x, table, f,
                                                     int(m) - 1)
  consts = tuple(jnp.asarray(a, jnp.float32) for a in (tp, start, strong))
  keys = jax.random.split(jax.random.PRNGKey(seed), len(ms) * trials)
  keys = keys.reshape(len(ms), trials, -1)
  return np.asarray(_study_program(
      keys, jnp.asarray(ms), tabs['post'], tabs['pre'], jnp.asarray(pair),
      cue, consts, jnp.asarray(pi, jnp.float32), n=n, f=float(f),
      m_max=m_max, depth=depth, table_key=tuple(table.ravel().tolist()),
      samples=samples))


@functools.partial(jax.jit, static_argnames=(
    'n', 'f', 'm_max', 'depth', 'table_key', 'samples'))
def _study_program(keys, ms, post, pre, pair, cue, consts, pi, *, n, f,
                   m_max, depth, table_key, samples):
  tp, start, strong = consts
  table = np.asarray(table_key).reshape(2, 2)
  mv = cascade.moves(depth)

  def trial(key, m, tpost, tpre, pr):
    k_pat, k_cue, k_init, k_store, k_mc = jax.random.split(key, 5)
    pats = assoc.draw_patterns(k_pat, m_max, n, f)
    mask = (jnp.arange(m_max) < m).astype(jnp.float32)
    s0 = cascade.initial_states(k_init, pi, (n, n))
    w = (cascade.store(k_store, pats, table, mv, s0, mask)
         >= depth).astype(jnp.float32)
    target = pats[0]
    bits = assoc.draw_cue(k_cue, target, cue)
    odds = assoc.cue_prior_odds(bits, cue, f)
    counts = jnp.sum(pats[1:] * mask[1:, None], 0).astype(jnp.int32)
    truth = target > 0.5
    errs = [jnp.mean((bits > 0.5) != truth)]
    decs = {
        'naive': recall.cascade_decoder('naive', w, *tpost),
        'corr_post': recall.cascade_decoder('corr', w, *tpost, role='post'),
        'corr_pre': recall.cascade_decoder('corr', w, *tpre, role='pre'),
        'oracle': recall.cascade_decoder('oracle', w, *tpost, pair=pr,
                                         counts=counts),
    }
    for name in DECODERS[:-1]:
      marg, _ = recall.exact_marginals(decs[name], odds, n)
      errs.append(jnp.mean((marg > 0.5) != truth))
    marg = bayes_marginals(k_mc, w, odds, m_max - 1, mask[1:], f, tp, start,
                           strong, samples)
    errs.append(jnp.mean((marg > 0.5) != truth))
    return jnp.stack(errs)

  per_t = jax.vmap(trial, in_axes=(0, None, None, None, None))
  sel = lambda t, r: tuple(a[r] for a in t)
  return jax.lax.map(lambda r: per_t(keys[r], ms[r], sel(post, r),
                                     sel(pre, r), pair[r]),
                     jnp.arange(ms.shape[0]))
