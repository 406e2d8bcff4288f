"""Cascade recall: tables vs Monte Carlo, count correlations, exact Bayes."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mpl_jax.neuro import assoc
from mpl_jax.neuro import cascade
from mpl_jax.neuro import exact_bayes
from mpl_jax.neuro import recall

F = 0.3


def _model(event, depth, f=F):
  table = cascade.event_table(event, f)
  tp = cascade.pair_matrices(cascade.matrices(cascade.moves(depth)), table)
  pi = cascade.stationary(cascade.mean_matrix(tp, f))
  return table, tp, pi


def _simulate(tp, pi, f, age, reps, rng):
  """numpy chains: [4 (a, b), reps] final strong flags and both counts."""
  size = tp.shape[-1]
  depth = size // 2
  out = []
  for a, b in itertools.product((0, 1), (0, 1)):
    cum = np.cumsum(tp, -1)
    s = rng.choice(size, size=reps, p=pi)

    def move(s, pa, pb):
      u = rng.random(reps)
      return np.minimum((u[:, None] > cum[pa, pb, s]).sum(-1), size - 1)

    s = move(s, np.full(reps, a), np.full(reps, b))
    post = rng.random((age, reps)) < f
    pre = rng.random((age, reps)) < f
    for t in range(age):
      s = move(s, post[t].astype(int), pre[t].astype(int))
    out.append((s >= depth, post.sum(0), pre.sum(0)))
  return out


@pytest.mark.parametrize('event', ['balanced', 'unbalanced'])
def test_cascade_tables_match_monte_carlo(event):
  """P(W | a, b), P(W | a, b, k_post), P(W | a, b, k_pre) and
  P(W | a, b, k_post, k_pre) vs numpy chains of single synapses."""
  depth, age, reps = 3, 5, 40000
  table, tp, pi = _model(event, depth)
  post_t = cascade.tables(depth, 0.5, table, F, age, age + 1, 'post')
  pre_t = cascade.tables(depth, 0.5, table, F, age, age + 1, 'pre')
  pair = cascade.pair_count_tables(depth, 0.5, table, F, age)
  sims = _simulate(tp, pi, F, age, reps, np.random.default_rng(0))
  checked = 0
  for (a, b), (strong, kp, kq) in zip(itertools.product((0, 1), (0, 1)),
                                      sims):
    np.testing.assert_allclose(strong.mean(), np.exp(post_t.naive[a, b, 1]),
                               atol=0.01)
    for k in range(age + 1):
      for tab, cnt in ((post_t, kp), (pre_t, kq)):
        sel = cnt == k
        if sel.sum() > 2000:
          np.testing.assert_allclose(strong[sel].mean(),
                                     np.exp(tab.per_k[a, b, 1, k]),
                                     atol=0.02)
          checked += 1
      for k2 in range(age + 1):
        sel = (kp == k) & (kq == k2)
        if sel.sum() > 1500:
          np.testing.assert_allclose(strong[sel].mean(),
                                     np.exp(pair[a, b, 1, k, k2]), atol=0.03)
          checked += 1
  assert checked >= 30


def test_balanced_rows_carry_no_count_information():
  """Exactly (the tables): averaged over the target's (a, b), a synapse's
  strength does not depend on its postsynaptic neuron's count under the
  balanced table (the stationary state is stationary under every pattern
  that acts on the row), but does on the presynaptic count; under the
  unbalanced table on both. (Given (a, b), the post count still says how
  far the target's own trace has decayed.)"""
  pab = np.array([[(1 - F) ** 2, (1 - F) * F], [F * (1 - F), F * F]])
  spread, given_ab = {}, {}
  for event in ('balanced', 'unbalanced'):
    table = cascade.event_table(event, F)
    for role in ('post', 'pre'):
      tb = cascade.tables(5, 0.5, table, F, 10, 11, role)
      p = np.exp(tb.per_k[..., 1, 1:8])       # counts 1..7 (likely ones)
      spread[event, role] = float(np.ptp(np.einsum('ab,abk->k', pab, p)))
      given_ab[event, role] = float(np.max(np.ptp(p, -1)))
  print('\nspread of P(strong | k) over k (marginal, given a, b):', spread,
        given_ab)
  assert spread['balanced', 'post'] < 1e-5
  assert spread['balanced', 'pre'] > 0.02
  assert spread['unbalanced', 'post'] > 0.02
  assert spread['unbalanced', 'pre'] > 0.02
  assert given_ab['balanced', 'post'] > 0.01   # the target's trace decays


def test_count_correlations_measured():
  """Over neurons: a row's strong fraction vs the neuron's count (post) and
  a column's (pre). The issue's figures: +0.004 (post), +0.77 (pre)."""
  out = {}
  for event in ('balanced', 'unbalanced'):
    out[event] = cascade.count_correlations(
        jax.random.PRNGKey(0), 5, 0.5, cascade.event_table(event, 0.1), 0.1,
        40, 60, reps=8)
  print('\ncount correlations (post, pre):', out)
  assert abs(out['balanced'][0]) < 0.15 and out['balanced'][1] > 0.3
  assert out['unbalanced'][0] > 0.15 and out['unbalanced'][1] > 0.15


def test_synapse_logliks_match_matrix_products():
  depth, n = 2, 3
  table, tp, pi = _model('unbalanced', depth)
  rng = np.random.default_rng(1)
  w = (rng.random((n, n)) < 0.5).astype(np.float32)
  others = (rng.random((3, n)) < F).astype(np.float32)
  mask = np.array([1.0, 0.0, 1.0], np.float32)   # the middle one skipped
  start = np.einsum('s,abst->abt', pi, tp)
  strong = (np.arange(2 * depth) >= depth).astype(np.float64)
  got = np.asarray(exact_bayes.synapse_logliks(
      jnp.asarray(w), jnp.asarray(others), jnp.asarray(mask),
      jnp.asarray(tp, jnp.float32), jnp.asarray(start, jnp.float32),
      jnp.asarray(strong, jnp.float32)))
  for i, j, a, b in itertools.product(range(n), range(n), (0, 1), (0, 1)):
    v = pi @ tp[a, b]
    for t in (0, 2):
      v = v @ tp[int(others[t, i]), int(others[t, j])]
    p = v @ strong if w[i, j] else v @ (1.0 - strong)
    np.testing.assert_allclose(got[i, j, a, b], np.log(max(p, 1e-30)),
                               rtol=1e-4, atol=1e-5)


def test_log_evidence_monte_carlo_vs_enumeration():
  """M = 2 (one later pattern): the expectation over it enumerated exactly
  (2^N patterns) vs the Monte Carlo estimate the Bayes decoder uses."""
  depth, n = 2, 4
  table, tp, pi = _model('unbalanced', depth)
  start = np.einsum('s,abst->abt', pi, tp)
  strong = (np.arange(2 * depth) >= depth).astype(np.float64)
  rng = np.random.default_rng(2)
  w = (rng.random((n, n)) < 0.5).astype(np.float32)
  states = recall.all_states(n)
  args = [jnp.asarray(a, jnp.float32) for a in (tp, start, strong)]
  mask = jnp.ones((1,))
  exact = []
  for x in states:
    terms = []
    for other in states:
      ll = np.asarray(exact_bayes.synapse_logliks(
          jnp.asarray(w), jnp.asarray(other[None]), mask, *args))
      tot = sum(ll[i, j, int(x[i]), int(x[j])] for i in range(n)
                for j in range(n) if i != j)
      prior = np.prod(np.where(other > 0.5, F, 1.0 - F))
      terms.append(np.log(prior) + tot)
    exact.append(np.logaddexp.reduce(terms))
  mc = np.asarray(jax.jit(lambda k: exact_bayes.log_evidence(
      k, jnp.asarray(w), jnp.asarray(states), 1, mask, F, *args,
      samples=20000))(jax.random.PRNGKey(0)))
  exact = np.asarray(exact)
  np.testing.assert_allclose(mc - mc.mean(), exact - exact.mean(), atol=0.03)
  assert np.ptp(exact) > 1.0                  # W is informative about x


def test_study_shapes_and_cue_column():
  cue = assoc.cue_noise(0.2, F)
  e, ess = exact_bayes.study(0, n=4, f=F, ms=(2, 4), trials=3, cue=cue,
                             event='unbalanced', depth=2, samples=16)
  assert e.shape == (2, 3, 1 + len(exact_bayes.DECODERS))
  assert ess.shape == (2, 3)
  assert np.all((e >= 0) & (e <= 1))
  assert np.all((ess >= 1.0 - 1e-3) & (ess <= 16.0 + 1e-3))


def test_pair_sums_match_gather():
  rng = np.random.default_rng(3)
  n = 5
  ll = rng.normal(size=(n, n, 2, 2)).astype(np.float32)
  states = recall.all_states(n)
  got = np.asarray(exact_bayes.pair_sums(jnp.asarray(ll),
                                         jnp.asarray(states)))
  si = states.astype(int)
  want = [sum(ll[i, j, s[i], s[j]] for i in range(n) for j in range(n)
              if i != j) for s in si]
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def _elbo_numpy(a, log_prior, sweeps):
  """Coordinate-ascent mean field over counts (numpy reference)."""
  n = a.shape[0]
  q = np.tile(np.exp(log_prior) / np.exp(log_prior).sum(), (n, 1))
  for _ in range(sweeps):
    for i in range(n):
      fi = sum(a[i, j] @ q[j] + a[j, i].T @ q[j] for j in range(n)
               if j != i)
      z = log_prior + fi
      q[i] = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
  ent = sum(q[i] @ (log_prior - np.log(q[i])) for i in range(n))
  energy = sum(q[i] @ a[i, j] @ q[j] for i in range(n) for j in range(n)
               if i != j)
  return ent + energy


@pytest.mark.parametrize('event', ['balanced', 'unbalanced'])
def test_joint_count_elbo_numpy_reference_and_bound(event):
  """The joint decoder's log-likelihood: the mean-field bound equals a
  numpy coordinate ascent, is below the exact sum over all K^N count
  vectors, and equals it when the table ignores the counts."""
  n, age, depth = 3, 2, 2
  table = cascade.event_table(event, F)
  pair = cascade.pair_count_tables(depth, 0.5, table, F, age)
  lp = cascade.count_prior(age, F, age + 1).astype(np.float64)
  rng = np.random.default_rng(4)
  checked = 0
  for _ in range(4):
    w = (rng.random((n, n)) < 0.5).astype(np.float32)
    x = (rng.random(n) < 0.5).astype(np.float32)
    xi, wi = x.astype(int), w.astype(int)
    a = np.zeros((n, n, age + 1, age + 1))
    for i, j in itertools.product(range(n), range(n)):
      if i != j:
        a[i, j] = pair[xi[i], xi[j], wi[i, j]]
    exact = np.logaddexp.reduce([
        sum(lp[k[i]] for i in range(n))
        + sum(a[i, j, k[i], k[j]] for i in range(n) for j in range(n)
              if i != j)
        for k in itertools.product(range(age + 1), repeat=n)])
    got, q = recall.joint_count_elbo(jnp.asarray(w), jnp.asarray(x),
                                     jnp.asarray(pair), jnp.asarray(lp), 6)
    np.testing.assert_allclose(float(got), _elbo_numpy(a, lp, 6), rtol=1e-5,
                               atol=1e-4)
    np.testing.assert_allclose(np.asarray(q).sum(1), 1.0, atol=1e-5)
    assert float(got) <= exact + 1e-4
    assert exact - float(got) < 0.5          # a bound, not a bad one
    checked += 1
  flat = np.broadcast_to(pair[..., :1, :1], pair.shape)   # no count info
  got, _ = recall.joint_count_elbo(jnp.asarray(w), jnp.asarray(x),
                                   jnp.asarray(flat), jnp.asarray(lp), 2)
  want = sum(flat[xi[i], xi[j], wi[i, j], 0, 0] for i in range(n)
             for j in range(n) if i != j)
  np.testing.assert_allclose(float(got), want, rtol=1e-5, atol=1e-4)
  assert checked == 4


def test_joint_decoder_closer_to_bayes_than_one_count_decoders():
  """Unbalanced table (both counts matter), N = 5, M = 3: the Bayes
  posterior exact (the 2^10 later-pattern configurations enumerated); the
  decoder that integrates out both counts jointly is closer to it (mean KL
  over 32 trials) than the naive and both one-count decoders."""
  cue = assoc.cue_noise(0.2, F)
  logp, truth, _ = exact_bayes.posteriors(0, n=5, f=F, m=3, trials=32,
                                          cue=cue, event='unbalanced',
                                          depth=2, samples=None)
  names = exact_bayes.DECODERS
  bayes = logp[:, names.index('bayes')]
  kl = {d: float(np.mean(np.sum(np.exp(bayes) * (bayes - logp[:, k]), -1)))
        for k, d in enumerate(names)}
  print('\nKL(Bayes || decoder), mean of 32 trials:', kl)
  assert truth.shape == (32, 5)
  assert kl['joint'] < min(kl['naive'], kl['corr_post'], kl['corr_pre'])


def test_count_model_is_exact_with_one_later_pattern():
  """M = 2: a neuron's count is its activity in the one later pattern, so
  the joint decoder's count model (before its mean-field bound) is the
  Bayes evidence: the sum over the 2^N count vectors of the pair tables
  equals the enumerated log P(W | x) for every x. (So at M = 2 the joint
  decoder's whole gap to Bayes is the mean-field bound's.)"""
  depth, n = 2, 4
  table, tp, pi = _model('unbalanced', depth)
  start = np.einsum('s,abst->abt', pi, tp)
  strong = (np.arange(2 * depth) >= depth).astype(np.float64)
  pair = cascade.pair_count_tables(depth, 0.5, table, F, 1).astype(
      np.float64)
  lp = cascade.count_prior(1, F, 2).astype(np.float64)
  pats = assoc.draw_patterns(jax.random.PRNGKey(5), 2, n, F)
  s0 = cascade.initial_states(jax.random.PRNGKey(6), pi, (n, n))
  w = np.asarray(cascade.store(jax.random.PRNGKey(7), pats, table,
                               cascade.moves(depth), s0) >= depth,
                 np.float32)                     # W drawn from the model
  wi = w.astype(int)
  states = recall.all_states(n)
  args = [jnp.asarray(a, jnp.float32) for a in (tp, start, strong)]
  bayes = np.asarray(exact_bayes.log_evidence(
      None, jnp.asarray(w), jnp.asarray(states), 1, jnp.ones((1,)), F,
      *args, samples=None))
  counts = np.array([
      np.logaddexp.reduce([
          sum(lp[k[i]] for i in range(n))
          + sum(pair[x[i], x[j], wi[i, j], k[i], k[j]] for i in range(n)
                for j in range(n) if i != j)
          for k in itertools.product((0, 1), repeat=n)])
      for x in states.astype(int)])
  # Impossible synapse events are floored differently (1e-7 in the
  # tables, 1e-30 in the Bayes factors): compare the posteriors over x.
  post = lambda v: np.exp(v - np.logaddexp.reduce(v))
  np.testing.assert_allclose(post(counts), post(bayes), atol=1e-5)
  ok = bayes > bayes.max() - 10.0
  np.testing.assert_allclose(counts[ok], bayes[ok], atol=2e-4)
  assert ok.sum() >= 2 and np.ptp(bayes[ok]) > 1.0
