r"""Cascade (metaplastic) binary synapses for associative storage.

Fusi, Drew & Abbott (2005): a synapse is weak or strong (the visible
efficacy ``W_ij in {0, 1}``) and has a hidden depth ``1..n`` in each.
Potentiation moves weak depth i to strong depth 1 with probability q_i, and
strong depth i (< n) one level deeper with p_i; depression is the mirror
image. ``q_i = x^{i-1}`` (i < n), ``q_n = x^{n-1} / (1 - x)``,
``p_i = x^i / (1 - x)`` (Fusi et al.; SPEC-more writes q_k = x^{k-1},
x = 1/2, [U]). Deep synapses change rarely: old memories last longer.

A pattern's event at synapse (i, j) is the sign of the additive table
``Omega(xi_i, xi_j)`` (+1 potentiate, -1 depress, 0 none); the default
``hetero`` table potentiates when both neurons are active and depresses
when only the postsynaptic one is, so that a row's number of events is its
neuron's activity count: the per-neuron shared factor.

Likelihoods (numpy, host; ``age`` = patterns stored after the target; the
synapses start from the stationary distribution ``pi`` of the mean
transition matrix, i.e. after a long history): ``P(W_ij = 1 | x_i, x_j)``
for the independent decoder, and ``P(W_ij = 1 | x_i, x_j, k_i)`` given the
postsynaptic neuron's count ``k_i`` of active patterns among the later ones
(exact: a forward recursion over the later patterns that tracks the count;
the presynaptic neuron's count is averaged over, [U]).

References:
  Fusi, Drew & Abbott, "Cascade models of synaptically stored memories",
  Neuron 45:599 (2005).
  Savin, Dayan & Lengyel, NIPS 2013; PLoS CB 2014.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def probabilities(n: int, x: float = 0.5):
  """Switch probabilities ``q`` [n] and deepening probabilities ``p`` [n]."""
  i = np.arange(1, n + 1, dtype=np.float64)
  q = x ** (i - 1)
  q[-1] = x ** (n - 1) / (1.0 - x)
  p = x ** i / (1.0 - x)
  p[-1] = 0.0
  return np.minimum(q, 1.0), np.minimum(p, 1.0)


class Moves(NamedTuple):
  """Each state's single possible move under an event: destination, prob."""
  dest: np.ndarray   # [3, 2n] int: events (-1, 0, +1) -> rows 0, 1, 2.
  prob: np.ndarray   # [3, 2n] float.


def moves(n: int, x: float = 0.5) -> Moves:
  """States 0..n-1 weak (depth 1..n), n..2n-1 strong (depth 1..n)."""
  q, p = probabilities(n, x)
  s = np.arange(2 * n)
  dest = np.tile(s, (3, 1))
  prob = np.zeros((3, 2 * n))
  # Potentiation (row 2): weak i -> strong 1; strong i -> strong i+1.
  dest[2, :n], prob[2, :n] = n, q
  dest[2, n:2 * n - 1], prob[2, n:2 * n - 1] = s[n + 1:], p[:-1]
  # Depression (row 0): strong i -> weak 1; weak i -> weak i+1.
  dest[0, n:], prob[0, n:] = 0, q
  dest[0, :n - 1], prob[0, :n - 1] = s[1:n], p[:-1]
  return Moves(dest, prob)


def matrices(mv: Moves) -> np.ndarray:
  """[3, 2n, 2n] transition matrices (rows: from) of the three events."""
  m = mv.dest.shape[1]
  t = np.zeros((3, m, m))
  for e in range(3):
    for s in range(m):
      t[e, s, s] += 1.0 - mv.prob[e, s]
      t[e, s, mv.dest[e, s]] += mv.prob[e, s]
  return t


def events(table):
  """Event index (0 depress, 1 none, 2 potentiate) and probability per (a, b).

  The event is the sign of Omega(a, b); it happens with probability
  ``|Omega(a, b)| / max |Omega|`` (so the ``hetero`` table, whose depression
  is f / (1 - f) of its potentiation, depresses as often as it potentiates).

  Returns:
    ``([2, 2] int32, [2, 2] float32)``.
  """
  t = np.round(np.asarray(table, np.float64), 12)
  ev = (np.sign(t) + 1).astype(np.int32)
  prob = np.abs(t) / max(np.abs(t).max(), 1e-12)
  return ev, prob.astype(np.float32)


def pair_matrices(t, table) -> np.ndarray:
  """[2, 2, 2n, 2n] transition matrix of a pattern with activities (a, b)."""
  ev, prob = events(table)
  eye = np.eye(t.shape[1])
  return np.array([[prob[a, b] * t[ev[a, b]] + (1.0 - prob[a, b]) * eye
                    for b in range(2)] for a in range(2)])


def mean_matrix(tp, f) -> np.ndarray:
  """The transition matrix averaged over one random pattern."""
  pa = np.array([1.0 - f, f])
  return sum(pa[a] * pa[b] * tp[a, b] for a in range(2) for b in range(2))


def stationary(tbar) -> np.ndarray:
  """Stationary distribution of a row-stochastic matrix."""
  vals, vecs = np.linalg.eig(tbar.T)
  v = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
  v = np.abs(v)
  return v / v.sum()


class Tables(NamedTuple):
  """Log-likelihood tables of one age, for the decoders (float32)."""
  naive: np.ndarray    # [2, 2, 2] log P(W = w | a, b)
  per_k: np.ndarray    # [2, 2, 2, K] log P(W = w | a, b, k)
  log_prior: np.ndarray  # [K] log P(k) (window renormalised; -1e30 off)
  k_lo: np.ndarray     # int32, the window's first count


def tables(n: int, x: float, table, f: float, age: int,
           num_bins: int) -> Tables:
  """Likelihood tables of the target pattern stored ``age`` patterns ago."""
  tp = pair_matrices(matrices(moves(n, x)), table)
  pi = stationary(mean_matrix(tp, f))
  strong = np.arange(2 * n) >= n
  start = np.stack([pi @ tp[a, b] for a in range(2) for b in range(2)])
  # Later patterns: T1 if the postsynaptic neuron is active, else T0.
  t1 = f * tp[1, 1] + (1.0 - f) * tp[1, 0]
  t0 = f * tp[0, 1] + (1.0 - f) * tp[0, 0]
  u = start[:, None, :]                       # [4, count, 2n]
  for _ in range(age):
    on = f * u @ t1
    off = (1.0 - f) * u @ t0
    u = np.concatenate([off, np.zeros_like(off[:, :1])], 1)
    u[:, 1:] += on
  pk = u.sum(-1)                              # [4, age+1] = P(k)
  p_strong_k = (u[..., strong].sum(-1) / np.maximum(pk, 1e-300))
  p_strong = u[..., strong].sum((-1, -2))     # [4]
  k_lo = int(np.clip(round(age * f - num_bins / 2), 0,
                     max(0, age + 1 - num_bins)))
  ks = k_lo + np.arange(num_bins)
  valid = ks <= age
  prior = np.where(valid, binom_pmf(np.minimum(ks, age), age, f), 0.0)
  prior = prior / prior.sum()
  psk = np.where(valid[None], p_strong_k[:, np.minimum(ks, age)], 0.5)
  clip = lambda p: np.clip(p, 1e-7, 1.0 - 1e-7)
  lw = lambda p: np.stack([np.log(1.0 - clip(p)), np.log(clip(p))], -1)
  naive = lw(p_strong).reshape(2, 2, 2)
  per_k = np.moveaxis(lw(psk), -1, 1).reshape(2, 2, 2, num_bins)
  log_prior = np.where(valid, np.log(np.maximum(prior, 1e-300)), -1e30)
  return Tables(naive.astype(np.float32), per_k.astype(np.float32),
                log_prior.astype(np.float32), np.int32(k_lo))


def binom_pmf(k, n, p):
  """Binomial pmf (numpy, via log-gamma)."""
  k = np.asarray(k, np.float64)
  lg = np.vectorize(math.lgamma)
  logc = lg(n + 1.0) - lg(k + 1.0) - lg(n - k + 1.0)
  return np.exp(logc + k * np.log(p) + (n - k) * np.log1p(-p))


def initial_states(key, pi, shape) -> jax.Array:
  """States drawn from ``pi`` (int32)."""
  return jax.random.categorical(key, jnp.log(jnp.asarray(pi)), shape=shape)


def store(key, patterns, table, mv: Moves, state0, mask=None):
  """Applies each pattern's events in order (``lax.scan``); returns states.

  Args:
    key: PRNG key of the stochastic transitions.
    patterns: [M, N] float 0/1 (pattern 0 is stored first).
    table: [2, 2] additive table whose signs and magnitudes give the
      events (:func:`events`).
    mv: :class:`Moves` (numpy or jnp).
    state0: [N, N] int initial states.
    mask: [M] 1 to store a pattern, 0 to skip it (None: all).

  Returns:
    [N, N] int32 final states (``>= n``: strong).
  """
  if mask is None:
    mask = jnp.ones(patterns.shape[:1], jnp.float32)
  ev, ev_prob = (jnp.asarray(a) for a in events(table))
  dest, prob = jnp.asarray(mv.dest), jnp.asarray(mv.prob)
  keys = jax.random.split(key, patterns.shape[0])

  def step(s, inp):
    xi, k, on = inp
    a, b = xi.astype(jnp.int32)[:, None], xi.astype(jnp.int32)[None, :]
    e = ev[a, b]
    u = jax.random.uniform(k, s.shape)
    move = (u < prob[e, s] * ev_prob[a, b]) & (on > 0.5)
    return jnp.where(move, dest[e, s], s), None

  final, _ = jax.lax.scan(step, jnp.asarray(state0, jnp.int32),
                          (patterns, keys, mask))
  return final
