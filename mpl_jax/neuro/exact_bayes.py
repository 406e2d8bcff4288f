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
posterior (enumerated, so the sampler is out of the comparison: naive,
one-count ``corr_post`` / ``corr_pre``, the ``joint`` two-count mean-field
decoder :func:`recall.joint_decoder`, the ``oracle`` that knows both
counts) and this Bayes posterior, by the error of the thresholded
marginals. For each draw of the later patterns the sum over synapses is a
quadratic form in x (:func:`pair_sums`), evaluated for all 2^N states by
two matrix products; draws are streamed in batches (running log-sum-exp).
The Monte Carlo estimate degrades with N: the posterior over the later
patterns given W concentrates, and the effective sample size of the prior
draws at the target state (returned by :func:`study`) falls to ~1 at
N = 10, M >= 3 (measured, BUILD.md); importance proposals from the joint
decoder's mean-field beliefs (over counts or whole activity sequences)
were tried and did not raise it above ~7, so they were dropped. Where the
enumeration is affordable (``2^{N (M - 1)}`` draws: N = 8 at M <= 3,
N <= 12 at M = 2) the column is exact.
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


def pair_sums(ll, states):
  """[X] ``sum_{i != j} ll[i, j, x_i, x_j]`` for every state x [X, N].

  A quadratic form in x (``ll(a, b) = l00 + a (l10 - l00) + b (l01 - l00)
  + a b (l11 - l10 - l01 + l00)``): two matrix products instead of an
  [X, N, N] gather.
  """
  n = ll.shape[0]
  off = 1.0 - jnp.eye(n, dtype=ll.dtype)
  l00, l01 = ll[..., 0, 0] * off, ll[..., 0, 1] * off
  l10, l11 = ll[..., 1, 0] * off, ll[..., 1, 1] * off
  h = jnp.sum(l10 - l00, 1) + jnp.sum(l01 - l00, 0)
  d = l11 - l10 - l01 + l00
  return jnp.sum(l00) + states @ h + jnp.sum((states @ d) * states, 1)


def _evidence_stats(w, states, draws, logw, mask, tp, start, strong,
                    batch):
  """(log sum_s e^{logw_s} P(W | x, draw_s), same with squared terms) [X]
  each, streamed ``batch`` draws at a time."""

  def one(others):
    return pair_sums(synapse_logliks(w, others, mask, tp, start, strong),
                     states)

  total = draws.shape[0]
  batch = min(batch, total)
  pad = (-total) % batch
  draws = jnp.concatenate([draws, jnp.zeros((pad,) + draws.shape[1:])])
  logw = jnp.concatenate([logw, jnp.full((pad,), -1e30)])
  draws = draws.reshape((-1, batch) + draws.shape[1:])
  logw = logw.reshape(-1, batch)

  def step(carry, inp):
    lse, lse2 = carry
    d, lw = inp
    ll = jax.vmap(one)(d) + lw[:, None]                         # [B, X]
    return (jnp.logaddexp(lse, jax.nn.logsumexp(ll, 0)),
            jnp.logaddexp(lse2, jax.nn.logsumexp(2.0 * ll, 0))), None

  init = (jnp.full((states.shape[0],), -jnp.inf),) * 2
  (lse, lse2), _ = jax.lax.scan(step, init, (draws, logw))
  return lse, lse2


def _prior_draws(key, n, num_later, mask, f, samples):
  """Later patterns and their log weights: all of them (``samples=None``,
  weighted by their prior) or ``samples`` prior draws (weight 1 / S)."""
  if samples is None:
    draws = jnp.asarray(recall.all_states(n * num_later)).reshape(
        -1, num_later, n)
    on = jnp.sum(draws * mask[None, :, None], (1, 2))
    logw = on * jnp.log(f) + (jnp.sum(mask) * n - on) * jnp.log1p(-f)
    return draws, logw
  draws = (jax.random.uniform(key, (samples, num_later, n)) < f).astype(
      jnp.float32)
  return draws, jnp.full((samples,), -jnp.log(float(samples)))


def log_evidence(key, w, states, num_later, mask, f, tp, start, strong,
                 samples: int | None, batch: int = 64):
  """[2^N] log P(W | x) for every state ``x``.

  ``samples=None``: the later patterns are enumerated (all
  ``2^{N num_later}`` of them, weighted by their prior): exact. Otherwise a
  Monte Carlo mean over ``samples`` draws from their prior (the same draws
  for every x). Streamed over ``batch`` draws at a time.
  """
  draws, logw = _prior_draws(key, w.shape[0], num_later, mask, f, samples)
  return _evidence_stats(w, states, draws, logw, mask, tp, start, strong,
                         batch)[0]


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


DECODERS = ('naive', 'corr_post', 'corr_pre', 'joint', 'oracle', 'bayes')


def _tables(ms, depth, x, table, f):
  """Per-M tables for the decoders (padded to max(ms) counts)."""
  m_max = int(max(ms))
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
  lprior = np.stack([cascade.count_prior(int(m) - 1, f, m_max) for m in ms])
  return tabs['post'], tabs['pre'], jnp.asarray(pair), jnp.asarray(lprior)


def _trial(key, m, tpost, tpre, pr, lprior, consts, pi, *, n, f, m_max,
           depth, table, cue, samples, sweeps, chunk):
  """One trial -> (truth [N], cue bits [N], log posteriors [D, 2^N], ESS).

  The log posteriors (normalised over x) are the decoders' in
  :data:`DECODERS` order; ESS: the effective sample size of the Monte
  Carlo weights at the target state (``samples`` draws; all of them when
  enumerated)."""
  tp, start, strong = consts
  mv = cascade.moves(depth)
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
  states = jnp.asarray(recall.all_states(n))
  decs = {
      'naive': recall.cascade_decoder('naive', w, *tpost),
      'corr_post': recall.cascade_decoder('corr', w, *tpost, role='post'),
      'corr_pre': recall.cascade_decoder('corr', w, *tpre, role='pre'),
      'joint': recall.joint_decoder(w, pr, lprior, sweeps),
      'oracle': recall.cascade_decoder('oracle', w, *tpost, pair=pr,
                                       counts=counts),
  }
  logl = [jax.lax.map(decs[name].loglik, states, batch_size=chunk)
          for name in DECODERS[:-1]]
  draws, logw = _prior_draws(k_mc, n, m_max - 1, mask[1:], f, samples)
  lse, lse2 = _evidence_stats(w, states, draws, logw, mask[1:], tp, start,
                              strong, 64)
  logl.append(lse)
  logp = jnp.stack(logl) + (states @ odds)[None]
  logp = logp - jax.nn.logsumexp(logp, 1, keepdims=True)
  t_idx = jnp.sum(target * 2 ** jnp.arange(n)).astype(jnp.int32)
  ess = jnp.exp(2.0 * lse[t_idx] - lse2[t_idx])
  return target, bits, logp, ess


def _setup(ms, event, depth, x, f):
  table = cascade.event_table(event, f)
  tp, pi, start, strong = _model(depth, x, table, f)
  consts = tuple(jnp.asarray(a, jnp.float32) for a in (tp, start, strong))
  return table, _tables(ms, depth, x, table, f), consts, jnp.asarray(
      pi, jnp.float32)


def posteriors(seed: int, *, n: int, f: float, m: int, trials: int,
               cue: assoc.Cue, event: str = 'unbalanced', depth: int = 2,
               x: float = 0.5, samples: int | None = None, sweeps: int = 4):
  """Each decoder's and Bayes' posterior over all 2^N states, per trial.

  Returns:
    ``(logp [trials, len(DECODERS), 2^N], truth [trials, N],
    ess [trials])``; ``samples=None`` enumerates the later patterns (the
    Bayes column exact; tiny ``n (m - 1)`` only).
  """
  table, (tpost, tpre, pair, lprior), consts, pi = _setup((m,), event,
                                                          depth, x, f)
  sel = lambda t: tuple(a[0] for a in t)
  fn = jax.jit(jax.vmap(functools.partial(
      _trial, m=jnp.int32(m), tpost=sel(tpost), tpre=sel(tpre), pr=pair[0],
      lprior=lprior[0], consts=consts, pi=pi, n=n, f=float(f), m_max=m,
      depth=depth, table=table, cue=cue, samples=samples, sweeps=sweeps,
      chunk=2 ** n)))
  truth, _, logp, ess = fn(jax.random.split(jax.random.PRNGKey(seed),
                                            trials))
  return np.asarray(logp), np.asarray(truth), np.asarray(ess)


def study(seed: int, *, n: int, f: float, ms, trials: int, cue: assoc.Cue,
          event: str = 'balanced', depth: int = 5, x: float = 0.5,
          samples: int | None = 4096, sweeps: int = 4, trial_batch: int = 8,
          chunk: int = 1024):
  """Recall errors of the cue, every decoder's posterior and Bayes.

  One compiled program for every M (patterns beyond M masked, tables
  padded); the Bayes column uses the Monte Carlo estimate of the later
  patterns' expectation (``samples`` prior draws; it degrades with N, see
  the ESS returned) or, with ``samples=None``, their enumeration (exact).

  Args:
    seed: integer seed (trials of different seeds are independent).
    n, f: neurons (small: 2^n states are enumerated) and coding level.
    ms: numbers of stored patterns (>= 2).
    trials: trials per M (``trial_batch`` vmapped at a time).
    cue: cue noise.
    event: cascade event table (:func:`cascade.event_table`).
    depth, x: cascade depth and ratio.
    samples: Monte Carlo draws of the later patterns for ``bayes``;
      None: all ``2^{N (max(ms) - 1)}`` of them enumerated (exact).
    sweeps: coordinate-ascent sweeps of the ``joint`` decoder.
    trial_batch, chunk: trials vmapped together; states per batch of the
      decoders' enumeration (memory).

  Returns:
    ``(errors [len(ms), trials, 1 + len(DECODERS)], ess [len(ms),
    trials])``: the errors (fraction of wrong bits of the thresholded
    marginals) of the cue, then :data:`DECODERS` in order; the Monte
    Carlo effective sample size at the target state.
  """
  ms = np.asarray(ms, np.int32)
  m_max = int(ms.max())
  table, tabs, consts, pi = _setup(tuple(ms), event, depth, x, f)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(ms) * trials)
  keys = keys.reshape(len(ms), trials, -1)
  errs, ess = _study_program(
      keys, jnp.asarray(ms), tabs, cue, consts, pi, n=n, f=float(f),
      m_max=m_max, depth=depth, table_key=tuple(table.ravel().tolist()),
      samples=samples, sweeps=sweeps, trial_batch=trial_batch,
      chunk=min(chunk, 2 ** n))
  return np.asarray(errs), np.asarray(ess)


@functools.partial(jax.jit, static_argnames=(
    'n', 'f', 'm_max', 'depth', 'table_key', 'samples', 'sweeps',
    'trial_batch', 'chunk'))
def _study_program(keys, ms, tabs, cue, consts, pi, *, n, f, m_max, depth,
                   table_key, samples, sweeps, trial_batch, chunk):
  post, pre, pair, lprior = tabs
  table = np.asarray(table_key).reshape(2, 2)
  states = jnp.asarray(recall.all_states(n))

  def trial(key, m, tpost, tpre, pr, lp):
    target, bits, logp, ess = _trial(
        key, m, tpost, tpre, pr, lp, consts, pi, n=n, f=f, m_max=m_max,
        depth=depth, table=table, cue=cue, samples=samples, sweeps=sweeps,
        chunk=chunk)
    truth = target > 0.5
    marg = jnp.exp(logp) @ states
    errs = jnp.concatenate([jnp.mean((bits > 0.5) != truth)[None],
                            jnp.mean((marg > 0.5) != truth[None], 1)])
    return errs, ess

  sel = lambda t, r: tuple(a[r] for a in t)

  def per_m(r):
    fn = lambda k: trial(k, ms[r], sel(post, r), sel(pre, r), pair[r],
                         lprior[r])
    return jax.lax.map(fn, keys[r], batch_size=trial_batch)

  return jax.lax.map(per_m, jnp.arange(ms.shape[0]))
