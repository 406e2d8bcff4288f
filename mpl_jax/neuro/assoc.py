r"""Associative memory with correlated synapses (Savin, Dayan & Lengyel 2013).

Binary patterns ``xi^m in {0,1}^N`` (i.i.d. Bernoulli(f)) are stored in
synapses ``W_ij`` (i postsynaptic, j presynaptic, ``i != j``); one of them,
``x``, is recalled from a noisy cue by inference over ``x``. The point of
the paper: storage makes synapses that share a neuron correlated, and a
decoder that ignores this recalls badly.

Additive storage, a 2x2 table ``Omega(a, b)`` (a: post, b: pre):

.. math::

  W_{ij} = \sum_m \Omega(\xi_i^m, \xi_j^m),\qquad
  \Omega(a, b) = \omega_0 + \omega_{post} a + \omega_{pre} b
                 + \omega_{int} a b.

Presets (:data:`RULES`): ``hebb`` (Omega11 = 1), ``covariance``
``(a - f)(b - f)``, ``hetero`` (Omega11 = 1, Omega10 = -f/(1-f):
depression when the postsynaptic neuron is active and the presynaptic one
silent) and ``homo`` (Omega11 = 1, Omega01 = -f/(1-f): presynaptic active,
postsynaptic silent). These names follow the usual convention (Dayan &
Willshaw 1991); SPEC-more §5 writes the two LTD entries the other way round
[P]: both tables are here, under these names.

Background of the other ``M - 1`` patterns, exactly decomposed with
``rho_i = R_i - (M-1) f`` (``R_i`` neuron i's activity count in them):

.. math::

  B_{ij} = \mu_B + \alpha\rho_i + \beta\rho_j + e_{ij},\quad
  \alpha = \omega_{post} + \omega_{int} f,\ \beta = \omega_{pre} +
  \omega_{int} f,\ \mathrm{Var}\,\rho = (M-1) f (1-f),\
  \mathrm{Var}\,e = \omega_{int}^2 (M-1) f^2 (1-f)^2,

with ``rho`` and ``e`` uncorrelated. The shared ``rho_i`` (row i as post
with alpha, column i as pre with beta) is the correlation; the covariance
rule has alpha = beta = 0. Symmetric tables (``hebb``, ``covariance``)
give a symmetric W: every decoder then counts each pair {i, j} once
(:func:`half_factor`; the correlation-aware one marginalises the pairs'
random-effects model, not the synapses'). For asymmetric tables W_ij and
W_ji share the interaction term (``e_ij = e_ji``) and the decoders treat
the two as independent noise, an approximation they share [P].

Decoders (log P(W | x)); D = W - mu_B - Omega(x) off the diagonal:

* ``naive``: independent Gaussians, ``-sum D^2 / (2 Var B)``.
* ``corr``: the random-effects Gaussian with ``rho`` integrated out
  analytically: ``-sum D^2 / (2 s_e) + (h^T h - g (1^T h)^2) / (2 d)`` with
  ``h_k = (alpha r_k + beta c_k) / s_e`` (r, c: row and column sums of D),
  ``d = ((N-1)(alpha^2 + beta^2) - 2 alpha beta) / s_e + 1 / s_rho``,
  ``u = 2 alpha beta / s_e``, ``g = u / (d + N u)``. Its log-odds hold
  terms in the row/column sums, i.e. in the total activity: feedback
  inhibition.
* ``oracle``: knows the true ``rho`` (the neurons' counts in the other
  patterns): ``-sum (D - alpha rho_i - beta rho_j)^2 / (2 s_e)``.

Cascade (metaplastic, Fusi, Drew & Abbott 2005) storage lives in
:mod:`mpl_jax.neuro.cascade`. Recall dynamics and the exact posterior by
enumeration are in :mod:`mpl_jax.neuro.recall`. The posterior and decoder
equations are a reconstruction [U] (SPEC-more §5: no public code).

References:
  Savin, Dayan & Lengyel, "Correlations strike back (again): the case of
  associative memory retrieval", NIPS 26 (2013).
  Dayan & Willshaw, "Optimising synaptic learning rules in linear
  associative memories", Biol. Cybern. 65 (1991).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def rule_table(name: str, f: float) -> np.ndarray:
  """The 2x2 table Omega[post, pre] of a preset additive rule."""
  g = f / (1.0 - f)
  tables = {
      'hebb': [[0.0, 0.0], [0.0, 1.0]],
      'covariance': [[f * f, -f * (1 - f)], [-f * (1 - f), (1 - f) ** 2]],
      'hetero': [[0.0, 0.0], [-g, 1.0]],
      'homo': [[0.0, -g], [0.0, 1.0]],
  }
  if name not in tables:
    raise ValueError(f'unknown rule {name!r}; known: {sorted(tables)}.')
  return np.asarray(tables[name], np.float64)


RULES = ('hebb', 'covariance', 'hetero', 'homo')


class Rule(NamedTuple):
  """An additive rule's decomposition Omega = w0 + wpost a + wpre b + wint ab."""
  w0: jax.Array
  w_post: jax.Array
  w_pre: jax.Array
  w_int: jax.Array

  def omega(self, a, b):
    """Omega(a, b), broadcasting."""
    return self.w0 + self.w_post * a + self.w_pre * b + self.w_int * a * b


def decompose(table) -> Rule:
  """The four coefficients of a 2x2 table (traceable: tables can be vmapped)."""
  t = jnp.asarray(table, jnp.float32)
  return Rule(t[0, 0], t[1, 0] - t[0, 0], t[0, 1] - t[0, 0],
              t[1, 1] - t[1, 0] - t[0, 1] + t[0, 0])


class Moments(NamedTuple):
  """Background statistics of ``M - 1`` stored patterns (see module doc)."""
  mu: jax.Array
  var_b: jax.Array
  alpha: jax.Array
  beta: jax.Array
  var_rho: jax.Array
  var_e: jax.Array


def moments(rule: Rule, f, num_patterns) -> Moments:
  """Mean, variance and random-effects decomposition of the background."""
  k = num_patterns - 1.0
  mean1 = rule.w0 + (rule.w_post + rule.w_pre) * f + rule.w_int * f * f
  alpha = rule.w_post + rule.w_int * f
  beta = rule.w_pre + rule.w_int * f
  var_rho = k * f * (1.0 - f)
  var_e = rule.w_int ** 2 * k * (f * (1.0 - f)) ** 2
  var_b = (alpha ** 2 + beta ** 2) * var_rho + var_e
  return Moments(k * mean1, var_b, alpha, beta, var_rho, var_e)


def draw_patterns(key, num_patterns: int, n: int, f) -> jax.Array:
  """[num_patterns, n] float 0/1 patterns, i.i.d. Bernoulli(f)."""
  return (jax.random.uniform(key, (num_patterns, n)) < f).astype(jnp.float32)


def store(patterns, rule: Rule, mask=None):
  """W[i, j] = sum_m mask_m Omega(xi_i^m, xi_j^m), zero diagonal.

  Args:
    patterns: [M, N] float 0/1.
    rule: :class:`Rule`.
    mask: [M] float weights of the patterns (1 stored, 0 not); all 1 if None.

  Returns:
    [N, N] weights.
  """
  if mask is None:
    mask = jnp.ones(patterns.shape[:1], patterns.dtype)
  xm = patterns * mask[:, None]
  counts = jnp.sum(xm, axis=0)
  co = xm.T @ patterns
  w = (rule.w0 * jnp.sum(mask) + rule.w_post * counts[:, None]
       + rule.w_pre * counts[None, :] + rule.w_int * co)
  return w * (1.0 - jnp.eye(patterns.shape[1], dtype=w.dtype))


class Cue(NamedTuple):
  """Cue noise: P(cue 0 | x 1) = p10, P(cue 1 | x 0) = p01."""
  p10: jax.Array
  p01: jax.Array


def cue_noise(r, f, kind: str = 'balanced') -> Cue:
  """``balanced``: p10 = r, p01 = r f / (1 - f) (coding level kept);
  ``symmetric``: p10 = p01 = r."""
  if kind == 'balanced':
    return Cue(r, r * f / (1.0 - f))
  if kind == 'symmetric':
    return Cue(r, r)
  raise ValueError(f"cue kind must be 'balanced' or 'symmetric', got {kind!r}.")


def draw_cue(key, x, cue: Cue):
  """The target with each bit flipped by the cue's noise."""
  u = jax.random.uniform(key, x.shape)
  flip = jnp.where(x > 0.5, u < cue.p10, u < cue.p01)
  return jnp.where(flip, 1.0 - x, x)


def cue_prior_odds(cue_bits, cue: Cue, f):
  """log P(cue_i, x_i = 1) / P(cue_i, x_i = 0) for every neuron."""
  on = jnp.log((1.0 - cue.p10) / cue.p01)
  off = jnp.log(cue.p10 / (1.0 - cue.p01))
  return jnp.where(cue_bits > 0.5, on, off) + jnp.log(f / (1.0 - f))


class CorrConsts(NamedTuple):
  """Constants of the correlation-aware Gaussian likelihood."""
  s_e: jax.Array
  d: jax.Array
  g: jax.Array
  half: jax.Array   # 0.5 for a symmetric table (each pair counted once)


def half_factor(rule: Rule):
  """0.5 when Omega is symmetric (W = W^T: W_ij and W_ji are one
  observation, counted once), else 1 (traceable)."""
  return jnp.where(jnp.abs(rule.w_post - rule.w_pre) < 1e-7, 0.5, 1.0)


def corr_consts(m: Moments, n: int, eps: float = 1e-6,
                half=1.0) -> CorrConsts:
  """``s_e``, ``d`` and ``g`` of the marginalised random-effects model.

  ``half = 1``: the N (N - 1) synapses as separate observations. ``half =
  0.5`` (symmetric W, alpha = beta): the N (N - 1) / 2 pairs once, the
  residual of pair {i, j} = alpha (rho_i + rho_j) + e_ij; marginalising rho
  gives the same form with ``d = alpha^2 (N - 2) / s_e + 1 / s_rho``,
  ``u = alpha^2 / s_e`` and ``h`` halved.
  """
  s_e = m.var_e + eps
  a, b = m.alpha, m.beta
  inv_rho = 1.0 / (m.var_rho + eps)
  d_asym = ((n - 1) * (a * a + b * b) - 2 * a * b) / s_e + inv_rho
  d_sym = a * a * (n - 2) / s_e + inv_rho
  sym = half < 0.75
  d = jnp.where(sym, d_sym, d_asym)
  u = jnp.where(sym, a * a, 2 * a * b) / s_e
  return CorrConsts(s_e, d, u / (d + n * u), jnp.asarray(half, s_e.dtype))


def residual(w, x, rule: Rule, m: Moments):
  """D = W - mu_B - Omega(x_i, x_j), zero on the diagonal."""
  n = w.shape[0]
  d = w - m.mu - rule.omega(x[:, None], x[None, :])
  return d * (1.0 - jnp.eye(n, dtype=d.dtype))


def loglik_naive(w, x, rule: Rule, m: Moments, eps: float = 1e-6):
  """Independent-synapse Gaussian log P(W | x) (up to a constant)."""
  d = residual(w, x, rule, m)
  return -half_factor(rule) * jnp.sum(d * d) / (2.0 * (m.var_b + eps))


def loglik_corr(w, x, rule: Rule, m: Moments):
  """Correlation-aware log P(W | x), rho integrated out (up to a constant)."""
  n = w.shape[0]
  c = corr_consts(m, n, half=half_factor(rule))
  d = residual(w, x, rule, m)
  h = c.half * (m.alpha * jnp.sum(d, 1) + m.beta * jnp.sum(d, 0)) / c.s_e
  quad = jnp.sum(h * h) - c.g * jnp.sum(h) ** 2
  return -c.half * jnp.sum(d * d) / (2.0 * c.s_e) + quad / (2.0 * c.d)


def loglik_oracle(w, x, rule: Rule, m: Moments, rho):
  """log P(W | x, rho) with the true background counts ``rho`` [N]."""
  c = corr_consts(m, w.shape[0])
  d = residual(w, x, rule, m) - (
      m.alpha * rho[:, None] + m.beta * rho[None, :])
  d = d * (1.0 - jnp.eye(w.shape[0], dtype=d.dtype))
  return -half_factor(rule) * jnp.sum(d * d) / (2.0 * c.s_e)
