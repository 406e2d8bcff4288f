r"""Cascade (metaplastic) binary synapses for associative storage.

Fusi, Drew & Abbott (2005): a synapse is weak or strong (the visible
efficacy ``W_ij in {0, 1}``) and has a hidden depth ``1..n`` in each.
Potentiation moves weak depth i to strong depth 1 with probability q_i, and
strong depth i (< n) one level deeper with p_i; depression is the mirror
image. ``q_i = x^{i-1}`` (i < n), ``q_n = x^{n-1} / (1 - x)``,
``p_i = x^i / (1 - x)`` (Fusi et al.; SPEC-more writes q_k = x^{k-1},
x = 1/2, [U]). Deep synapses change rarely: old memories last longer.

A pattern's event at synapse (i, j) is the sign of a 2x2 table
``Omega(xi_i, xi_j)`` (+1 potentiate, -1 depress, 0 none), with probability
``|Omega| / max |Omega|`` (:func:`events`, :func:`event_table`). The
``balanced`` (= ``hetero``) table acts only when the postsynaptic neuron is
active and then potentiates as often as it depresses: the stationary state
is stationary under those patterns too, so a row's strength is independent
of its neuron's activity count and only a column's (the presynaptic count)
carries the shared factor (measured by :func:`count_correlations`).
``unbalanced`` also depresses when only the presynaptic neuron is active:
both counts matter.

Likelihoods (numpy, host; ``age`` = patterns stored after the target; the
synapses start from the stationary distribution ``pi`` of the mean
transition matrix, i.e. after a long history): ``P(W_ij = 1 | x_i, x_j)``
for the independent decoder; ``P(W_ij = 1 | x_i, x_j, k)`` given the count
``k`` of one neuron (``role`` post or pre) of active patterns among the
later ones, the other averaged over (:func:`tables`, the correlation-aware
decoder); and ``P(W_ij = 1 | x_i, x_j, k_i, k_j)`` given both counts
(:func:`pair_count_tables`, the oracle). All exact forward recursions over
the later patterns.

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

from mpl_jax.neuro import assoc


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


def events(table, depression_scale: float = 1.0):
  """Event index (0 depress, 1 none, 2 potentiate) and probability per (a, b).

  The event is the sign of Omega(a, b); it happens with probability
  ``|Omega(a, b)| / max |Omega|`` (so the ``hetero`` table, whose depression
  is f / (1 - f) of its potentiation, depresses as often as it potentiates:
  given an active postsynaptic neuron, potentiation and depression are
  exactly balanced). ``depression_scale`` multiplies every depression
  probability (clipped at 1): 1 keeps that balance, other values unbalance
  it.

  Returns:
    ``([2, 2] int32, [2, 2] float32)``.
  """
  t = np.round(np.asarray(table, np.float64), 12)
  ev = (np.sign(t) + 1).astype(np.int32)
  prob = np.abs(t) / max(np.abs(t).max(), 1e-12)
  prob = np.minimum(np.where(ev == 0, prob * depression_scale, prob), 1.0)
  return ev, prob.astype(np.float32)


def event_table(name: str, f: float) -> np.ndarray:
  """The [2, 2] table whose signs / magnitudes give a cascade's events.

  ``balanced`` (= the additive ``hetero`` table): events only when the
  postsynaptic neuron is active, potentiation (pre active) as likely as
  depression (pre silent); the stationary distribution is then stationary
  under every postsynaptic-active pattern too, so a row's strength does not
  depend on its neuron's count (only a column's does). ``unbalanced``:
  ``[[0, -g], [-g, 1]]``, g = f / (1 - f): depression when exactly one of
  the two neurons is active (twice as likely overall as potentiation), so
  both a row's and a column's strength depend on the neuron's count. Any
  additive preset name of :mod:`assoc` is accepted too.
  """
  if name == 'balanced':
    return assoc.rule_table('hetero', f)
  if name == 'unbalanced':
    g = f / (1.0 - f)
    return np.array([[0.0, -g], [-g, 1.0]])
  return assoc.rule_table(name, f)


EVENT_TABLES = ('balanced', 'unbalanced') + ('hebb', 'covariance', 'hetero',
                                             'homo')


def pair_matrices(t, table, depression_scale: float = 1.0) -> np.ndarray:
  """[2, 2, 2n, 2n] transition matrix of a pattern with activities (a, b)."""
  ev, prob = events(table, depression_scale)
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


def tables(n: int, x: float, table, f: float, age: int, num_bins: int,
           role: str = 'post', depression_scale: float = 1.0) -> Tables:
  """Likelihood tables of the target pattern stored ``age`` patterns ago.

  ``per_k`` conditions on the count ``k`` of later patterns in which the
  synapse's postsynaptic (``role='post'``: shared by a row of W) or
  presynaptic (``'pre'``: shared by a column) neuron was active; the other
  neuron's activity is averaged over.
  """
  if role not in ('post', 'pre'):
    raise ValueError(f"role must be 'post' or 'pre', got {role!r}.")
  tp = pair_matrices(matrices(moves(n, x)), table, depression_scale)
  pi = stationary(mean_matrix(tp, f))
  strong = np.arange(2 * n) >= n
  start = np.stack([pi @ tp[a, b] for a in range(2) for b in range(2)])
  # Later patterns: T1 if the tracked neuron is active, else T0.
  if role == 'post':
    t1 = f * tp[1, 1] + (1.0 - f) * tp[1, 0]
    t0 = f * tp[0, 1] + (1.0 - f) * tp[0, 0]
  else:
    t1 = f * tp[1, 1] + (1.0 - f) * tp[0, 1]
    t0 = f * tp[1, 0] + (1.0 - f) * tp[0, 0]
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


def pair_count_tables(n: int, x: float, table, f: float, age: int,
                      depression_scale: float = 1.0) -> np.ndarray:
  """[2, 2, 2, age+1, age+1] log P(W = w | a, b, k_post, k_pre).

  Exact given both neurons' counts of active later patterns (their joint
  activity, hypergeometric given the two counts, and the order of the
  patterns are averaged over): a forward recursion over the later patterns
  tracking both counts. The oracle decoder's table.
  """
  tp = pair_matrices(matrices(moves(n, x)), table, depression_scale)
  pi = stationary(mean_matrix(tp, f))
  strong = np.arange(2 * n) >= n
  u = np.zeros((4, age + 1, age + 1, 2 * n))
  u[:, 0, 0] = np.stack([pi @ tp[a, b] for a in range(2)
                         for b in range(2)])
  pa = (1.0 - f, f)
  for _ in range(age):
    new = np.zeros_like(u)
    for a in range(2):
      for b in range(2):
        step = pa[a] * pa[b] * (u @ tp[a, b])
        new[:, a:, b:] += step[:, :age + 1 - a, :age + 1 - b]
    u = new
  pk = u.sum(-1)
  ps = u[..., strong].sum(-1) / np.maximum(pk, 1e-300)
  ps = np.clip(ps, 1e-7, 1.0 - 1e-7)
  out = np.stack([np.log1p(-ps), np.log(ps)], 1)          # [4, 2, K, K]
  return out.reshape(2, 2, 2, age + 1, age + 1).astype(np.float32)


def count_correlations(key, n: int, x: float, table, f: float,
                       num_patterns: int, num_neurons: int,
                       depression_scale: float = 1.0, reps: int = 8):
  """Measured correlations of a neuron's count with its synapses' strength.

  Stores ``num_patterns`` random patterns (from the stationary state) in
  ``reps`` networks of ``num_neurons`` and correlates, over neurons, each
  row's fraction of strong synapses with the neuron's activity count (the
  postsynaptic role) and each column's with the count (presynaptic role).

  Returns:
    ``(corr_post, corr_pre)`` floats.
  """
  mv = moves(n, x)
  tp = pair_matrices(matrices(mv), table, depression_scale)
  pi = stationary(mean_matrix(tp, f))
  off = 1.0 - np.eye(num_neurons)

  def one(k):
    k1, k2, k3 = jax.random.split(k, 3)
    pats = (jax.random.uniform(k1, (num_patterns, num_neurons)) < f).astype(
        jnp.float32)
    s0 = initial_states(k2, pi, (num_neurons, num_neurons))
    w = store(k3, pats, table, mv, s0,
              depression_scale=depression_scale) >= n
    return w, pats.sum(0)

  w, cnt = jax.jit(jax.vmap(one))(jax.random.split(key, reps))
  w, cnt = np.asarray(w, np.float64) * off, np.asarray(cnt, np.float64)
  rows = w.sum(2) / (num_neurons - 1)
  cols = w.sum(1) / (num_neurons - 1)
  corr = lambda a, b: float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
  return corr(rows, cnt), corr(cols, cnt)


def count_prior(age: int, f: float, size: int) -> np.ndarray:
  """[size] log P(k) of a neuron's count of active later patterns:
  Binomial(age, f) on 0..age, -1e30 beyond (padding)."""
  k = np.arange(size)
  p = binom_pmf(np.minimum(k, age), age, f)
  return np.where(k <= age, np.log(np.maximum(p, 1e-300)),
                  -1e30).astype(np.float32)


def binom_pmf(k, n, p):
  """Binomial pmf (numpy, via log-gamma)."""
  k = np.asarray(k, np.float64)
  lg = np.vectorize(math.lgamma)
  logc = lg(n + 1.0) - lg(k + 1.0) - lg(n - k + 1.0)
  return np.exp(logc + k * np.log(p) + (n - k) * np.log1p(-p))


def initial_states(key, pi, shape) -> jax.Array:
  """States drawn from ``pi`` (int32)."""
  return jax.random.categorical(key, jnp.log(jnp.asarray(pi)), shape=shape)


def store(key, patterns, table, mv: Moves, state0, mask=None,
          depression_scale: float = 1.0):
  """Applies each pattern's events in order (``lax.scan``); returns states.

  Args:
    key: PRNG key of the stochastic transitions.
    patterns: [M, N] float 0/1 (pattern 0 is stored first).
    table: [2, 2] additive table whose signs and magnitudes give the
      events (:func:`events`).
    mv: :class:`Moves` (numpy or jnp).
    state0: [N, N] int initial states.
    mask: [M] 1 to store a pattern, 0 to skip it (None: all).
    depression_scale: see :func:`events`.

  Returns:
    [N, N] int32 final states (``>= n``: strong).
  """
  if mask is None:
    mask = jnp.ones(patterns.shape[:1], jnp.float32)
  ev, ev_prob = (jnp.asarray(a) for a in events(table, depression_scale))
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
