"""Tests of associative recall with correlated synapses."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mpl_jax.neuro import assoc
from mpl_jax.neuro import cascade
from mpl_jax.neuro import recall
from mpl_jax.neuro import recall_sweep

F = 0.2


def _patterns(seed, m, n, f=F):
  return np.asarray(assoc.draw_patterns(jax.random.PRNGKey(seed), m, n, f))


def test_tables_and_shared_terms():
  for name in assoc.RULES:
    t = assoc.rule_table(name, F)
    r = assoc.decompose(t)
    for a in (0, 1):
      for b in (0, 1):
        np.testing.assert_allclose(r.omega(a, b), t[a, b], atol=1e-7)
  mom = lambda name: assoc.moments(assoc.decompose(assoc.rule_table(
      name, F)), F, 10)
  np.testing.assert_allclose([mom('covariance').alpha,
                              mom('covariance').beta], 0.0, atol=1e-7)
  assert mom('hebb').alpha > 0 and mom('hebb').beta > 0
  # hetero: depression when post active, pre silent -> only the pre side
  # (column) is shared; homo: the reverse.
  assert abs(mom('hetero').alpha) < 1e-7 and mom('hetero').beta > 0
  assert mom('homo').alpha > 0 and abs(mom('homo').beta) < 1e-7
  with pytest.raises(ValueError, match='unknown rule'):
    assoc.rule_table('oja', F)


def test_store_matches_loop():
  pats = _patterns(0, 7, 9)
  t = assoc.rule_table('hetero', F)
  ref = np.zeros((9, 9))
  for xi in pats:
    for i in range(9):
      for j in range(9):
        if i != j:
          ref[i, j] += t[int(xi[i]), int(xi[j])]
  w = assoc.store(jnp.asarray(pats), assoc.decompose(t))
  np.testing.assert_allclose(w, ref, atol=1e-5)
  mask = jnp.array([1, 1, 1, 0, 0, 0, 0], jnp.float32)
  np.testing.assert_allclose(
      assoc.store(jnp.asarray(pats), assoc.decompose(t), mask),
      assoc.store(jnp.asarray(pats[:3]), assoc.decompose(t)), atol=1e-5)


def test_moments_match_monte_carlo():
  """Mean, variance and the shared-neuron covariances of the background."""
  rng = np.random.default_rng(0)
  m_other, reps = 30, 40000
  for name in ('hebb', 'hetero', 'covariance'):
    t = assoc.rule_table(name, F)
    mom = assoc.moments(assoc.decompose(t), F, m_other + 1)
    xi = (rng.random((reps, m_other, 3)) < F).astype(int)
    b = lambda i, j: t[xi[..., i], xi[..., j]].sum(1)
    b01, b02, b21, b10 = b(0, 1), b(0, 2), b(2, 1), b(1, 0)
    np.testing.assert_allclose(b01.mean(), mom.mu, atol=0.05)
    np.testing.assert_allclose(b01.var(), mom.var_b, rtol=0.05, atol=1e-3)
    cov = lambda u, v: np.mean((u - u.mean()) * (v - v.mean()))
    # Same post (row) shares alpha rho_0; same pre shares beta rho_1;
    # W_01 and W_10 share alpha beta (rho_0 + rho_1) and their interaction
    # term (e_01 = e_10; the decoders treat these two as independent).
    np.testing.assert_allclose(cov(b01, b02), mom.alpha ** 2 * mom.var_rho,
                               atol=0.05 * mom.var_b + 1e-3)
    np.testing.assert_allclose(cov(b01, b21), mom.beta ** 2 * mom.var_rho,
                               atol=0.05 * mom.var_b + 1e-3)
    np.testing.assert_allclose(cov(b01, b10),
                               2 * mom.alpha * mom.beta * mom.var_rho
                               + mom.var_e,
                               atol=0.05 * mom.var_b + 1e-3)


def test_corr_loglik_equals_multivariate_normal():
  """The closed form vs the decoder's random-effects Gaussian written out
  as one multivariate normal over all N (N - 1) synapses."""
  n, m = 6, 12
  pats = _patterns(1, m, n)
  for name in ('hetero', 'homo'):       # asymmetric W (hebb: next test)
    rule = assoc.decompose(assoc.rule_table(name, F))
    mom = assoc.moments(rule, F, m)
    w = np.asarray(assoc.store(jnp.asarray(pats), rule), np.float64)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    a, b = float(mom.alpha), float(mom.beta)
    s_rho, s_e = float(mom.var_rho), float(mom.var_e) + 1e-6
    cov = np.zeros((len(pairs), len(pairs)))
    for p, (i, j) in enumerate(pairs):
      for q, (k, l) in enumerate(pairs):
        cov[p, q] = s_rho * (a * a * (i == k) + a * b * (i == l)
                             + b * a * (j == k) + b * b * (j == l))
        cov[p, q] += s_e * ((i, j) == (k, l))
    prec = np.linalg.inv(cov)

    def mvn(x):
      om = np.asarray(rule.omega(x[:, None], x[None, :]), np.float64)
      d = np.array([w[i, j] - float(mom.mu) - om[i, j] for i, j in pairs])
      return -0.5 * d @ prec @ d

    xs = [pats[0], pats[1], np.zeros(n, np.float32), np.ones(n, np.float32)]
    got = [float(assoc.loglik_corr(jnp.asarray(w, jnp.float32),
                                   jnp.asarray(x), rule, mom)) for x in xs]
    ref = [mvn(x) for x in xs]
    np.testing.assert_allclose(np.diff(got), np.diff(ref), rtol=2e-3,
                               atol=2e-2)


def test_symmetric_w_counted_once():
  """hebb / covariance store a symmetric W: the decoders use each pair
  {i, j} once. Correlation-aware: vs the random-effects Gaussian over the
  N (N - 1) / 2 pairs written out as one multivariate normal; naive: vs the
  sum over i < j."""
  n, m = 6, 12
  pats = _patterns(3, m, n)
  for name in ('hebb', 'covariance'):
    rule = assoc.decompose(assoc.rule_table(name, F))
    assert float(assoc.half_factor(rule)) == 0.5
    mom = assoc.moments(rule, F, m)
    w = np.asarray(assoc.store(jnp.asarray(pats), rule), np.float64)
    np.testing.assert_allclose(w, w.T, atol=1e-5)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    a = float(mom.alpha)
    s_rho, s_e = float(mom.var_rho), float(mom.var_e) + 1e-6
    cov = np.zeros((len(pairs), len(pairs)))
    for p, (i, j) in enumerate(pairs):
      for q, (k, l) in enumerate(pairs):
        cov[p, q] = s_rho * a * a * ((i == k) + (i == l) + (j == k)
                                     + (j == l))
        cov[p, q] += s_e * (p == q)
    prec = np.linalg.inv(cov)
    var_b = float(mom.var_b) + 1e-6

    def refs(x):
      om = np.asarray(rule.omega(x[:, None], x[None, :]), np.float64)
      d = np.array([w[i, j] - float(mom.mu) - om[i, j] for i, j in pairs])
      return -0.5 * d @ prec @ d, -0.5 * d @ d / var_b

    xs = [pats[0], pats[1], np.zeros(n, np.float32), np.ones(n, np.float32)]
    got_c = [float(assoc.loglik_corr(jnp.asarray(w, jnp.float32),
                                     jnp.asarray(x), rule, mom)) for x in xs]
    got_n = [float(assoc.loglik_naive(jnp.asarray(w, jnp.float32),
                                      jnp.asarray(x), rule, mom)) for x in xs]
    ref_c, ref_n = zip(*[refs(x) for x in xs])
    if name == 'hebb':     # covariance: alpha = 0, nothing to marginalise
      np.testing.assert_allclose(np.diff(got_c), np.diff(ref_c), rtol=2e-3,
                                 atol=2e-2)
    np.testing.assert_allclose(np.diff(got_n), np.diff(ref_n), rtol=1e-4,
                               atol=1e-3)
  hetero = assoc.decompose(assoc.rule_table('hetero', F))
  assert float(assoc.half_factor(hetero)) == 1.0


@functools.lru_cache(maxsize=None)
def _decoders(n=10, m=8, seed=2):
  pats = _patterns(seed, m, n)
  out = {}
  for name in assoc.RULES:
    rule = assoc.decompose(assoc.rule_table(name, F))
    w = assoc.store(jnp.asarray(pats), rule)
    mom = assoc.moments(rule, F, m)
    rho = jnp.asarray(pats[1:].sum(0) - (m - 1) * F)
    for kind in ('naive', 'corr', 'oracle'):
      out[name, kind] = recall.additive_decoder(kind, w, rule, mom, rho)
  table = assoc.rule_table('hetero', F)
  tb = cascade.tables(3, 0.5, table, F, m - 1, 8)
  mv = cascade.moves(3)
  pi = cascade.stationary(cascade.mean_matrix(
      cascade.pair_matrices(cascade.matrices(mv), table), F))
  s0 = cascade.initial_states(jax.random.PRNGKey(3), pi, (n, n))
  st = cascade.store(jax.random.PRNGKey(4), jnp.asarray(pats), table, mv, s0)
  wb = (st >= 3).astype(jnp.float32)
  pair = jnp.asarray(cascade.pair_count_tables(3, 0.5, table, F, m - 1))
  counts = jnp.asarray(pats[1:].sum(0), jnp.int32)
  tb_pre = cascade.tables(3, 0.5, table, F, m - 1, 8, 'pre')
  for kind in ('naive', 'corr', 'oracle'):
    out['cascade', kind] = recall.cascade_decoder(
        kind, wb, jnp.asarray(tb.naive), jnp.asarray(tb.per_k),
        jnp.asarray(tb.log_prior), role='post', pair=pair, counts=counts)
  out['cascade', 'corr_pre'] = recall.cascade_decoder(
      'corr', wb, jnp.asarray(tb_pre.naive), jnp.asarray(tb_pre.per_k),
      jnp.asarray(tb_pre.log_prior), role='pre')
  return out, pats


def test_odds_equal_loglik_differences_and_aux_updates():
  decs, _ = _decoders(n=7)
  y = jnp.asarray(np.random.default_rng(5).random(7) < 0.4, jnp.float32)
  idx = jnp.arange(7)
  # (additive naive is the oracle's code with rho = 0 and Var B.)
  for key in (('hebb', 'corr'), ('hebb', 'oracle'), ('homo', 'corr'),
              ('cascade', 'naive'), ('cascade', 'corr'), ('cascade', 'oracle'),
              ('cascade', 'corr_pre')):
    dec = decs[key]

    @jax.jit
    def check(y):
      aux = dec.init(y)

      def one(i):
        lik, a1, a0 = dec.odds(i, y, aux)
        y1, y0 = y.at[i].set(1.0), y.at[i].set(0.0)
        ref = dec.loglik(y1) - dec.loglik(y0)
        gap = jax.tree.map(lambda a, b: jnp.max(jnp.abs(a - b)),
                           (a1, a0), (dec.init(y1), dec.init(y0)))
        return lik, ref, jnp.max(jnp.stack(jax.tree.leaves(gap)))

      return jax.vmap(one)(idx)

    lik, ref, gap = check(y)
    np.testing.assert_allclose(lik, ref, rtol=1e-3, atol=2e-3,
                               err_msg=str(key))
    assert float(jnp.max(gap)) < 2e-3, key


def test_covariance_decoders_agree():
  decs, _ = _decoders()
  y = jnp.asarray(np.random.default_rng(0).random(10) < 0.3, jnp.float32)

  @jax.jit
  def odds(y):
    out = []
    for kind in ('naive', 'corr'):
      dec = decs['covariance', kind]
      aux = dec.init(y)
      out.append(jax.vmap(lambda i: dec.odds(i, y, aux)[0])(jnp.arange(10)))
    return out

  naive, corr = odds(y)
  np.testing.assert_allclose(naive, corr, rtol=1e-4, atol=1e-4)
  assert float(jnp.max(jnp.abs(naive))) > 1.0     # the weights carry evidence


def test_cascade_tables():
  table = assoc.rule_table('hetero', F)
  mv = cascade.moves(4)
  t = cascade.matrices(mv)
  np.testing.assert_allclose(t.sum(-1), 1.0)
  tp = cascade.pair_matrices(t, table)
  pi = cascade.stationary(cascade.mean_matrix(tp, F))
  np.testing.assert_allclose(pi @ cascade.mean_matrix(tp, F), pi, atol=1e-12)
  tb = cascade.tables(4, 0.5, table, F, 6, 16)       # window covers 0..6
  p_k = np.exp(tb.log_prior)
  mix = np.log(np.einsum('k,abwk->abw', p_k, np.exp(tb.per_k)))
  np.testing.assert_allclose(mix, tb.naive, atol=1e-5)
  # A potentiated target synapse is more often strong than a depressed one.
  assert tb.naive[1, 1, 1] > tb.naive[0, 0, 1] > tb.naive[1, 0, 1]


def test_cascade_store_matches_tables():
  """Monte Carlo frequency of strong synapses vs P(W = 1 | a, b)."""
  table = assoc.rule_table('hetero', F)
  depth, age, n = 3, 4, 30
  mv = cascade.moves(depth)
  pi = cascade.stationary(cascade.mean_matrix(
      cascade.pair_matrices(cascade.matrices(mv), table), F))
  tb = cascade.tables(depth, 0.5, table, F, age, 8)
  pats = np.zeros((age + 1, n), np.float32)
  pats[0, : n // 2] = 1.0                              # target: half active
  pats[1:] = _patterns(9, age, n)

  def one(k):
    k1, k2 = jax.random.split(k)
    s0 = cascade.initial_states(k1, pi, (n, n))
    return cascade.store(k2, jnp.asarray(pats), table, mv, s0) >= depth

  strong = np.asarray(jax.jit(jax.vmap(one))(
      jax.random.split(jax.random.PRNGKey(0), 32))).mean(0)
  half = n // 2
  blocks = {(1, 1): strong[:half, :half], (1, 0): strong[:half, half:],
            (0, 1): strong[half:, :half], (0, 0): strong[half:, half:]}
  for (a, b), blk in blocks.items():
    np.testing.assert_allclose(blk.mean(), np.exp(tb.naive[a, b, 1]),
                               atol=0.02, err_msg=str((a, b)))


def test_gibbs_matches_exact_posterior_and_greedy_is_local_max():
  # M = 12: a posterior single-site Gibbs mixes over (at M = 6 some trials
  # have modes one flip cannot join, and 4 x 300 sweeps stay in one).
  decs, pats = _decoders(n=8, m=12)
  cue = assoc.cue_noise(0.2, F)
  x = jnp.asarray(pats[0])
  bits = assoc.draw_cue(jax.random.PRNGKey(7), x, cue)
  odds = assoc.cue_prior_odds(bits, cue, F)
  flips = 1.0 - 2.0 * jnp.eye(8)
  for key in (('hebb', 'corr'),):
    dec = decs[key]

    @jax.jit
    def run(keys):
      marg, _ = recall.exact_marginals(dec, odds, 8)
      est = jax.vmap(lambda k: recall.dynamics(
          k, dec, bits, odds, sweeps=300, burn=20))(keys).mean(0)
      g = recall.dynamics(keys[0], dec, bits, odds, sweeps=10, mode='greedy')
      logp = lambda z: dec.loglik(z) + z @ odds
      neighbours = jax.vmap(logp)(jnp.abs(g[None, :] - (flips < 0)))
      return marg, est, logp(g), neighbours

    marg, est, at_g, neighbours = run(jax.random.split(
        jax.random.PRNGKey(8), 4))
    np.testing.assert_allclose(est, marg, atol=0.06, err_msg=str(key))
    assert float(jnp.max(neighbours)) <= float(at_g) + 1e-3, key


def test_dynamics_vmap_equals_single_and_seeds_differ():
  decs, pats = _decoders()
  dec = decs['hebb', 'corr']
  cue = assoc.cue_noise(0.2, F)
  bits = assoc.draw_cue(jax.random.PRNGKey(0), jnp.asarray(pats[0]), cue)
  odds = assoc.cue_prior_odds(bits, cue, F)
  keys = jax.random.split(jax.random.PRNGKey(1), 3)
  run = jax.jit(lambda k: recall.dynamics(k, dec, bits, odds, sweeps=6,
                                          burn=1))
  batched = np.asarray(jax.jit(jax.vmap(run))(keys))
  for i in range(3):
    np.testing.assert_allclose(batched[i], run(keys[i]), atol=1e-6)
  assert not np.allclose(batched[0], batched[1])


def test_recall_sweep_independent_decoder_degrades():
  """Hebb: the independent decoder is worse than the cue and the
  correlation-aware one at a high load; covariance: the two agree."""
  cue = assoc.cue_noise(0.1, 0.1)
  kw = dict(n=80, f=0.1, ms=(40,), trials=6, cue=cue, sweeps=6, burn=2,
            decoders=('naive', 'corr'))
  out = recall_sweep.recall_errors(0, ('hebb', 'covariance'), **kw)
  e = {r: np.asarray(v).mean(axis=(0, 1)) for r, v in out.items()}
  cue_e, naive, corr = e['hebb']
  assert naive > cue_e and naive > 2 * corr
  np.testing.assert_allclose(e['covariance'][1], e['covariance'][2],
                             atol=1e-6)
  size = recall_sweep._additive_program._cache_size()
  recall_sweep.recall_errors(1, ('hebb', 'covariance'), **kw)
  assert recall_sweep._additive_program._cache_size() == size
  with pytest.raises(ValueError, match='>= 2'):
    recall_sweep.recall_errors(0, ('hebb',), **dict(kw, ms=(1,)))


def test_run_assoc_end_to_end(tmp_path):
  from configs import assoc_recall
  from launch import main as launch_main
  c = assoc_recall.get_config()
  # The additive program is compiled by the test above; here the cascade's.
  c.update(n=12, ms=(2, 6), trials=2, rules=('cascade',),
           decoders=('corr',))
  c.dynamics.update(sweeps=3, burn=1)
  c.cascade.update(depth=2, num_bins=4)
  c.exact.update(n=5, ms=(2, 3), trials=2, rules=('cascade',))
  summary = launch_main.program(c)(c, str(tmp_path))
  assert set(summary['rules']) == set(c.rules)
  assert summary['exact']['columns'] == ['cue', 'corr', 'exact corr']
  for name in ('recall.png', 'recall_exact.png', 'summary.json',
               'config.json', 'results.npz'):
    assert os.path.getsize(tmp_path / name) > 100
  res = np.load(tmp_path / 'results.npz')
  assert res['errors_cascade'].shape == (2, 2, 2)
  assert res['exact_errors_cascade'].shape == (2, 2, 3)
  c.dynamics.burn = 3
  with pytest.raises(ValueError, match='config.dynamics.burn'):
    launch_main.program(c)(c, str(tmp_path / 'bad'))
