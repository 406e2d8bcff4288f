r"""Recall dynamics for :mod:`mpl_jax.neuro.assoc`: Gibbs, greedy, exact.

Recall is inference over ``x in {0,1}^N`` given the weights and a cue:

.. math::

  \log P(x | W, \tilde x) = \sum_i x_i\,o_i + \log P(W | x) + \mathrm{const},

``o_i`` the cue-and-prior log-odds (:func:`assoc.cue_prior_odds`). The
dynamics update one neuron at a time in a random order each sweep
(asynchronous), from the cue: ``gibbs`` samples
``x_i ~ Bernoulli(sigmoid(L_i))`` and reads out the mean over the sweeps
after ``burn``; ``greedy`` sets ``x_i = [L_i > 0]`` (zero temperature).
``L_i = o_i + log P(W | x_i=1, rest) - log P(W | x_i=0, rest)`` comes from a
decoder's ``odds(i, x, aux) -> (lik_odds, aux_if_1, aux_if_0)``, O(N) per
update (O(N K) for the cascade's correlation-aware decoder): each decoder
keeps the running sums it needs (``aux``) and updates them when x_i is set.

Decoders: additive ``naive`` / ``corr`` / ``oracle`` (see :mod:`assoc`)
and cascade ``naive`` (``P(W_ij | x_i, x_j)``), ``corr`` (one neuron's
count integrated out per row (``role='post'``) or per column (``'pre'``):
a log-sum-exp over k of the summed log-likelihoods, a dendritic-like
nonlinearity), ``oracle`` (both neurons' counts known) and
:func:`joint_decoder` (both counts of every neuron integrated out jointly:
a mean-field bound over the count vectors, with the oracle's table).
:func:`exact_marginals` enumerates all 2^N states of a decoder's OWN
posterior (a check of the dynamics, not of the decoder); the true Bayes
posterior for small N is :mod:`mpl_jax.neuro.exact_bayes`.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mpl_jax.neuro import assoc


class Decoder(NamedTuple):
  """``odds``, ``init(x) -> aux`` and the full ``loglik(x)`` of a decoder."""
  odds: Callable
  init: Callable
  loglik: Callable


def _none(x):
  del x
  return jnp.zeros(())


def additive_decoder(kind: str, w, rule: assoc.Rule, m: assoc.Moments,
                     rho=None, eps: float = 1e-6) -> Decoder:
  """``naive``, ``corr`` or ``oracle`` decoder of additive weights ``w``."""
  n = w.shape[0]
  idx = jnp.arange(n)
  half = assoc.half_factor(rule)
  if kind in ('naive', 'oracle'):
    if kind == 'naive':
      rho = jnp.zeros((n,), w.dtype)
      var = m.var_b + eps
    else:
      var = assoc.corr_consts(m, n).s_e

    def odds(i, x, aux):
      mask = idx != i
      row = w[i] - m.mu - m.alpha * rho[i] - m.beta * rho
      col = w[:, i] - m.mu - m.alpha * rho - m.beta * rho[i]

      def ll(v):
        dr = jnp.where(mask, row - rule.omega(v, x), 0.0)
        dc = jnp.where(mask, col - rule.omega(x, v), 0.0)
        return -half * (dr @ dr + dc @ dc) / (2.0 * var)

      return ll(1.0) - ll(0.0), aux, aux

    if kind == 'naive':
      loglik = lambda x: assoc.loglik_naive(w, x, rule, m, eps)
    else:
      loglik = lambda x: assoc.loglik_oracle(w, x, rule, m, rho)
    return Decoder(odds, _none, loglik)
  if kind != 'corr':
    raise ValueError(f'unknown decoder {kind!r}.')
  c = assoc.corr_consts(m, n, half=half)

  def init(x):
    d = assoc.residual(w, x, rule, m)
    return jnp.sum(d, 1), jnp.sum(d, 0)

  def odds(i, x, aux):
    r, cs = aux
    mask = idx != i
    row, col = w[i] - m.mu, w[:, i] - m.mu
    dr_now = jnp.where(mask, row - rule.omega(x[i], x), 0.0)
    dc_now = jnp.where(mask, col - rule.omega(x, x[i]), 0.0)

    def terms(v):
      dr = jnp.where(mask, row - rule.omega(v, x), 0.0)
      dc = jnp.where(mask, col - rule.omega(x, v), 0.0)
      r_v = (r + dc - dc_now).at[i].set(jnp.sum(dr))
      c_v = (cs + dr - dr_now).at[i].set(jnp.sum(dc))
      h = c.half * (m.alpha * r_v + m.beta * c_v) / c.s_e
      val = (-c.half * (dr @ dr + dc @ dc) / (2.0 * c.s_e)
             + (h @ h - c.g * jnp.sum(h) ** 2) / (2.0 * c.d))
      return val, (r_v, c_v)

    v1, a1 = terms(1.0)
    v0, a0 = terms(0.0)
    return v1 - v0, a1, a0

  return Decoder(odds, init, lambda x: assoc.loglik_corr(w, x, rule, m))


def cascade_decoder(kind: str, w, naive, per_k, log_prior,
                    k_index=None, *, role: str = 'post', pair=None,
                    counts=None) -> Decoder:
  """Decoders of binary cascade efficacies ``w`` [N, N] (0/1).

  Args:
    kind: ``naive``, ``corr`` or ``oracle``.
    w: [N, N] 0/1 efficacies (row: postsynaptic neuron).
    naive: [2, 2, 2] log P(W = w | x_post, x_pre).
    per_k: [2, 2, 2, K] log P(W = w | x_post, x_pre, k bin), k the count
      of the neuron in ``role`` (:func:`cascade.tables`).
    log_prior: [K] log P(k bin).
    k_index: [N] int, each neuron's true k bin (``corr`` ignores it).
    role: ``post``: ``corr`` integrates out one count per row (shared by
      a postsynaptic neuron's synapses); ``pre``: per column.
    pair: [2, 2, 2, C, C] log P(W | x_post, x_pre, k_post, k_pre)
      (:func:`cascade.pair_count_tables`), for ``oracle``.
    counts: [N] int, each neuron's count of active later patterns
      (``oracle``: both neurons' counts known).
  """
  if role not in ('post', 'pre'):
    raise ValueError(f"role must be 'post' or 'pre', got {role!r}.")
  if role == 'pre' and kind == 'corr':
    # A column decoder is the row decoder of W^T with (post, pre) swapped.
    w = w.T
    naive = jnp.swapaxes(naive, 0, 1)
    per_k = jnp.swapaxes(per_k, 0, 1)
  n = w.shape[0]
  wi = w.astype(jnp.int32)
  idx = jnp.arange(n)
  off = 1.0 - jnp.eye(n, dtype=jnp.float32)
  if kind == 'naive':

    def odds(i, x, aux):
      xj = x.astype(jnp.int32)
      mask = idx != i
      ll = lambda v: jnp.sum(jnp.where(
          mask, naive[v, xj, wi[i]] + naive[xj, v, wi[:, i]], 0.0))
      return ll(1) - ll(0), aux, aux

    def loglik(x):
      xj = x.astype(jnp.int32)
      return jnp.sum(naive[xj[:, None], xj[None, :], wi] * off)

    return Decoder(odds, _none, loglik)
  if kind == 'oracle':
    if pair is None or counts is None:
      raise ValueError('the cascade oracle needs pair and counts.')

    def odds(i, x, aux):
      xj = x.astype(jnp.int32)
      mask = idx != i
      ll = lambda v: jnp.sum(jnp.where(
          mask, pair[v, xj, wi[i], counts[i], counts]
          + pair[xj, v, wi[:, i], counts, counts[i]], 0.0))
      return ll(1) - ll(0), aux, aux

    def loglik(x):
      xj = x.astype(jnp.int32)
      t = pair[xj[:, None], xj[None, :], wi, counts[:, None],
               counts[None, :]]
      return jnp.sum(t * off)

    return Decoder(odds, _none, loglik)
  if kind != 'corr':
    raise ValueError(f'unknown decoder {kind!r}.')

  def rows(x):
    """S[m, k] = sum_{j != m} log P(W_mj | x_m, x_j, k) via counts."""
    xj = x.astype(jnp.int32)
    cnt = jnp.stack([jnp.sum(off * ((xj[None, :] == b) & (wi == v)), 1)
                     for b in (0, 1) for v in (0, 1)], 1)   # [N, 4]
    tab = per_k[xj].reshape(n, 4, -1)                      # [N, 4, K]
    return jnp.einsum('nc,nck->nk', cnt, tab)

  def total(s):
    return jnp.sum(jax.nn.logsumexp(s + log_prior, axis=1))

  def odds(i, x, aux):
    s = aux
    xj = x.astype(jnp.int32)
    mask = (idx != i)[:, None]
    old = per_k[xj, xj[i], wi[:, i]]                        # [N, K]
    cnt = jnp.stack([jnp.sum(jnp.where(idx != i, (xj == b) & (wi[i] == v),
                                       False)) for b in (0, 1)
                     for v in (0, 1)])                     # [4]

    def terms(v):
      new = per_k[xj, v, wi[:, i]]
      s_v = jnp.where(mask, s - old + new, 0.0)
      row = jnp.einsum('c,ck->k', cnt.astype(jnp.float32),
                       per_k[v].reshape(4, -1))
      s_v = s_v.at[i].set(row)
      return total(s_v), s_v

    v1, a1 = terms(1)
    v0, a0 = terms(0)
    return v1 - v0, a1, a0

  return Decoder(odds, rows, lambda x: total(rows(x)))


def joint_count_elbo(w, x, pair, log_prior, sweeps: int = 4):
  r"""Mean-field log-likelihood of binary efficacies with both counts latent.

  The count model: every neuron i has a latent count ``k_i`` (its active
  later patterns, prior ``log_prior``), shared by its row (as the
  postsynaptic count) and its column (presynaptic), and given the counts
  the synapses are independent:

  .. math::

    P(W | x) = \sum_{k} \prod_i P(k_i) \prod_{i 
e j}
      P(W_{ij} | x_i, x_j, k_i, k_j),

  the factors from :func:`cascade.pair_count_tables` (the oracle's table:
  the oracle is this model with the counts known). The sum over the
  ``K^N`` count vectors couples every pair of neurons; it is replaced by
  its mean-field lower bound (ELBO) over ``q(k) = prod_i q_i(k_i)``,
  maximised by ``sweeps`` sweeps of exact coordinate ascent from the prior
  (each neuron in turn: ``log q_i(k) = log P(k) + sum_{j != i} sum_l
  q_j(l) [A_ij(k, l) + A_ji(l, k)] + const``, ``A_ij(k, l) = log P(W_ij |
  x_i, x_j, k, l)``; the ELBO never decreases):

  .. math::

    \mathcal{L}(x) = \sum_i \mathbb{E}_{q_i}[\log P(k_i) - \log q_i(k_i)]
      + \sum_{i 
e j} q_i^	op A_{ij} q_j \le \log P(W | x).

  Args:
    w: [N, N] 0/1 efficacies (row: postsynaptic).
    x: [N] 0/1 state.
    pair: [2, 2, 2, K, K] log P(W | x_post, x_pre, k_post, k_pre).
    log_prior: [K] log P(k) (:func:`cascade.count_prior`).
    sweeps: coordinate-ascent sweeps.

  Returns:
    ``(elbo, q)``: the bound (scalar) and ``q`` [N, K].
  """
  n = w.shape[0]
  xi, wi = x.astype(jnp.int32), w.astype(jnp.int32)
  off = 1.0 - jnp.eye(n, dtype=jnp.float32)
  a = pair[xi[:, None], xi[None, :], wi] * off[..., None, None]  # [N,N,K,K]
  q0 = jnp.broadcast_to(jax.nn.softmax(log_prior), (n, log_prior.shape[0]))

  def update(t, q):
    i = t % n
    fi = (jnp.einsum('jkl,jl->k', a[i], q)
          + jnp.einsum('jlk,jl->k', a[:, i], q))
    return q.at[i].set(jax.nn.softmax(log_prior + fi))

  q = jax.lax.fori_loop(0, sweeps * n, update, q0)
  ent = jnp.sum(jnp.where(q > 0, q * (log_prior - jnp.log(
      jnp.maximum(q, 1e-30))), 0.0))
  return ent + jnp.einsum('ik,ijkl,jl->', q, a, q), q


def joint_decoder(w, pair, log_prior, sweeps: int = 4) -> Decoder:
  """Cascade decoder with both counts of every neuron integrated out
  jointly (:func:`joint_count_elbo`); ``odds`` is a difference of two
  bounds, O(sweeps N^2 K^2) per update (meant for enumeration, small N)."""
  def loglik(x):
    return joint_count_elbo(w, x, pair, log_prior, sweeps)[0]

  def odds(i, x, aux):
    x = x.astype(jnp.float32)
    return loglik(x.at[i].set(1.0)) - loglik(x.at[i].set(0.0)), aux, aux

  return Decoder(odds, _none, loglik)


def dynamics(key, decoder: Decoder, x0, cue_odds, *, sweeps: int,
             mode: str = 'gibbs', burn: int = 0, order_key=None):
  """Asynchronous recall from ``x0``; returns the estimate of x.

  Args:
    key: PRNG key of the Gibbs samples (and of the sweep orders when
      ``order_key`` is None).
    decoder: a :class:`Decoder`.
    x0: [N] initial state (the cue).
    cue_odds: [N] cue-and-prior log-odds.
    sweeps: number of sweeps (each updates every neuron once).
    mode: ``gibbs`` or ``greedy``.
    burn: Gibbs sweeps left out of the posterior mean.
    order_key: PRNG key of the sweep orders; pass one shared by all lanes
      when vmapping (the update index is then not batched: slices, not
      gathers; several times faster to compile and run).

  Returns:
    [N] the posterior-mean estimate over sweeps >= burn (Gibbs), or the
    final state (greedy).
  """
  if mode not in ('gibbs', 'greedy'):
    raise ValueError(f"mode must be 'gibbs' or 'greedy', got {mode!r}.")
  n = x0.shape[0]

  def sweep(carry, s):
    x, aux, acc = carry
    k_perm, k_u = jax.random.split(jax.random.fold_in(key, s))
    if order_key is not None:
      k_perm = jax.random.fold_in(order_key, s)
    perm = jax.random.permutation(k_perm, n)
    u = jax.random.uniform(k_u, (n,))

    def update(t, c):
      x, aux = c
      i = perm[t]
      lik, a1, a0 = decoder.odds(i, x, aux)
      logit = lik + cue_odds[i]
      if mode == 'gibbs':
        v = u[t] < jax.nn.sigmoid(logit)
      else:
        v = logit > 0
      aux = jax.tree.map(lambda p, q: jnp.where(v, p, q), a1, a0)
      return x.at[i].set(v.astype(x.dtype)), aux

    x, aux = jax.lax.fori_loop(0, n, update, (x, aux))
    acc = acc + jnp.where(s >= burn, x, 0.0)
    return (x, aux, acc), None

  x0 = x0.astype(jnp.float32)
  init = (x0, decoder.init(x0), jnp.zeros_like(x0))
  (x, _, acc), _ = jax.lax.scan(sweep, init, jnp.arange(sweeps))
  if mode == 'greedy':
    return x
  return acc / max(sweeps - burn, 1)


def all_states(n: int) -> np.ndarray:
  """[2^n, n] every binary vector (float32)."""
  return ((np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1).astype(
      np.float32)


def exact_marginals(decoder: Decoder, cue_odds, n: int):
  """P(x_i = 1 | W, cue) by enumerating all 2^n states; and the MAP state."""
  states = jnp.asarray(all_states(n))
  logp = jax.vmap(decoder.loglik)(states) + states @ cue_odds
  p = jax.nn.softmax(logp)
  return p @ states, states[jnp.argmax(logp)]
