"""Tests of mpl_jax.rules.flexibility (per-synapse flexibility gating).

Every optimizer run is jitted as a whole (init, then one step function) and
arrays are sliced and compared on the host with numpy: on 2 CPU cores XLA
compilation, not arithmetic, dominates the run time of this file.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mpl_jax.rules import reseed
from mpl_jax.rules.flexibility import flexibility_factor
from mpl_jax.rules.flexibility import flexible_sgd
from mpl_jax.rules.flexibility import scale_by_flexibility
from mpl_jax.rules.flexibility import tier_fractions
from _transform_checks import random_grads as _grads
from _transform_checks import seeded_init
from _transform_checks import run_steps
from _transform_checks import small_mlp_params as _params
from _transform_checks import stack_copies

TIERS = [(1.0, 0.3), (0.5, 0.3), (0.1, 0.4)]
TASKS = [0, 0, 0, 1, 1, 2, 2]


def _run(tx, params, grads, tasks=TASKS):
  """Runs jitted `tx` for len(grads) steps: params, updates, states."""
  return run_steps(tx, params, grads, tasks)


def _np(tree):
  return jax.tree.map(np.asarray, tree)


def _np_alpha(s, f, dw):
  return 1.0 - np.tanh(s * ((f - 1.0) / f) * dw) ** 2


# ----------------------------------------------------------------- equations


@pytest.mark.parametrize('refresh', ['task', 'step'])
def test_matches_numpy_reference_over_several_steps(refresh):
  lr, s = 0.1, 3.0
  params0 = _params()
  grads = _np(_grads(params0, len(TASKS)))
  tx = flexible_sgd(lr, key=0, tiers=TIERS, strength=s, refresh=refresh)
  final, all_updates, states = _run(tx, params0, grads)
  all_updates, states = _np(all_updates), _np(states)
  flex = optax.tree_utils.tree_get(states[0], 'flexibility')

  # Plain numpy (float64) reference of w <- w - lr * alpha * g.
  w = {k: np.asarray(d['kernel'], np.float64) for k, d in params0.items()}
  w0 = dict(w)
  alpha, last = {}, None
  for step, (g, t) in enumerate(zip(grads, TASKS)):
    if refresh == 'step' or t != last:
      for k in w:
        alpha[k] = _np_alpha(s, flex[k]['kernel'].astype(np.float64),
                             w[k] - w0[k])
    last = t
    for k in w:
      expect = -lr * alpha[k] * g[k]['kernel']
      np.testing.assert_allclose(all_updates[step][k]['kernel'], expect,
                                 rtol=1e-4, atol=1e-6)
      np.testing.assert_allclose(states[step][0].alpha[k]['kernel'],
                                 alpha[k], rtol=1e-4, atol=1e-6)
      # Biases are not gated: exactly the SGD step.
      np.testing.assert_array_equal(all_updates[step][k]['bias'],
                                    np.float32(-lr) * g[k]['bias'])
      w[k] = w[k] + expect
  for k in w:
    np.testing.assert_allclose(final[k]['kernel'], w[k], rtol=1e-5,
                               atol=1e-6)
  # The gate did something: some synapses (nearly) frozen, f = 1 ones not.
  a = states[-1][0].alpha['dense0']['kernel']
  assert a.min() < 0.5 and a.max() == 1.0
  if refresh == 'task':
    # alpha is one at the first update (w == w_init) and changes only at
    # task boundaries.
    alphas = [st[0].alpha['dense0']['kernel'] for st in states]
    np.testing.assert_array_equal(alphas[0], 1.0)
    for i in range(1, len(TASKS)):
      assert np.array_equal(alphas[i], alphas[i - 1]) == (
          TASKS[i] == TASKS[i - 1])


def test_flexibility_factor_values():
  f = np.array([1.0, 0.5, 0.1, 0.3], np.float32)
  dw = np.array([0.7, 0.2, -0.05, 0.0], np.float32)
  np.testing.assert_allclose(flexibility_factor(2.0, f, dw),
                             _np_alpha(2.0, f, dw), rtol=1e-6)
  eps = np.finfo(np.float32).eps
  got = flexibility_factor(np.float32(4e5), np.array([1.0, eps], np.float32),
                           np.array([3.0, 0.0], np.float32))
  # f = 1 gives exactly one; the smallest f at zero deviation gives 1, not
  # NaN.
  np.testing.assert_array_equal(got, [1.0, 1.0])


# --------------------------------------------------------- draw statistics


def _big_params():
  return {'a': np.zeros((400, 500), np.float32),
          'b': np.zeros((100, 300), np.float32),
          'bias': np.zeros((300,), np.float32)}


def _init_flexibility(**kwargs):
  tx = scale_by_flexibility(kwargs.pop('key', 7), strength=1.0, **kwargs)
  return _np(jax.jit(tx.init)(_big_params()).flexibility)


def test_tier_fractions_close_to_proportions():
  tiers = [(1.0, 0.2), (0.6, 0.5), (0.05, 0.3)]
  flex = _init_flexibility(tiers=tiers)
  assert isinstance(flex['bias'], optax.MaskedNode)  # biases not gated
  values = np.concatenate([np.ravel(x) for x in jax.tree.leaves(flex)])
  n = values.size
  assert n == 400 * 500 + 100 * 300
  np.testing.assert_array_equal(np.unique(values),
                                np.float32(sorted(t[0] for t in tiers)))
  fractions = np.asarray(tier_fractions(flex, tiers))
  for got, (v, q) in zip(fractions, tiers):
    assert abs(got - q) < 5 * np.sqrt(q * (1 - q) / n)
    np.testing.assert_allclose(got, np.mean(values == np.float32(v)),
                               rtol=1e-6)
  np.testing.assert_allclose(fractions.sum(), 1.0, rtol=1e-6)
  # Randomly intermixed: every tier appears in every row of a kernel.
  for v, _ in tiers:
    assert (flex['a'] == np.float32(v)).any(axis=1).all()


def _biased_cdf(x, a):
  return (1 - a) * x ** 2 + a * x


@pytest.mark.parametrize('distribution, cdf', [
    ('uniform', lambda x: x),
    ('increasing', lambda x: _biased_cdf(x, 0.5)),
    ('decreasing', lambda x: 1 - _biased_cdf(1 - x, 0.5)),
    (('increasing', 0.2), lambda x: _biased_cdf(x, 0.2)),
    (('decreasing', 1.5), lambda x: 1 - _biased_cdf(1 - x, 1.5)),
])
def test_continuous_distribution_matches_cdf(distribution, cdf):
  flex = _init_flexibility(key=3, distribution=distribution)
  values = np.sort(np.concatenate(
      [np.ravel(x) for x in jax.tree.leaves(flex)]).astype(np.float64))
  n = values.size
  assert values[0] > 0.0 and values[-1] <= 1.0
  # Kolmogorov-Smirnov distance; 1.95 / sqrt(n) is the 0.1% critical value.
  ref = cdf(values)
  ks = max(np.max(np.abs(np.arange(1, n + 1) / n - ref)),
           np.max(np.abs(np.arange(0, n) / n - ref)))
  assert ks < 1.95 / np.sqrt(n), ks


def test_constant_distribution_and_edges():
  flex = _init_flexibility(distribution=('constant', 0.3))
  for x in jax.tree.leaves(flex):
    np.testing.assert_array_equal(x, np.float32(0.3))
  flex = _init_flexibility(distribution='uniform')
  fractions = np.asarray(tier_fractions(flex, [0.0, 0.25, 0.5, 1.0]))
  n = 230000
  for got, q in zip(fractions, [0.25, 0.25, 0.5]):
    assert abs(got - q) < 5 * np.sqrt(q * (1 - q) / n)
  np.testing.assert_allclose(fractions.sum(), 1.0, rtol=1e-6)
  # Works under jit; pools a leading seed axis.
  stacked = jax.tree.map(lambda x: np.stack([x, x]), flex)
  np.testing.assert_allclose(
      jax.jit(lambda t: tier_fractions(t, [0.0, 0.25, 0.5, 1.0]))(stacked),
      fractions, rtol=1e-6)
  with pytest.raises(ValueError):
    tier_fractions(flex, [0.5, 0.2])
  with pytest.raises(ValueError):
    tier_fractions({'b': optax.MaskedNode()}, [0.0, 1.0])


# ------------------------------------------------------------ equivalences


def test_flexibility_one_equals_inner_optimizer_bit_exact():
  params = _params(scale=0.3)
  tasks = [0, 0, 1, 1]
  grads = _grads(params, len(tasks))
  spec, refresh = dict(tiers=[(1.0, 1.0)]), 'task'
  gate = lambda: scale_by_flexibility(5, strength=4e5, refresh=refresh, **spec)

  # The gate alone returns its input bit for bit, with alpha exactly one
  # (also where the parameters have moved away from w_init).
  moved = jax.tree.map(lambda p: np.asarray(p) + 1.0, params)
  for kwargs in (dict(tiers=[(1.0, 1.0)], refresh='step'),
                 dict(distribution=('constant', 1.0), refresh='step')):
    tx = scale_by_flexibility(5, strength=4e5, **kwargs)
    u, state = jax.jit(lambda g, p, q: tx.update(g, tx.init(p), q))(
        grads[0], params, moved)
    chex.assert_trees_all_equal(u, grads[0])
    for a in jax.tree.leaves(state.alpha):
      np.testing.assert_array_equal(a, 1.0)

  # Gate + SGD (the reference): the same jitted numbers, bit for bit.
  got, got_u, _ = _run(
      flexible_sgd(0.05, key=5, strength=4e5, refresh=refresh, **spec),
      params, grads, tasks)
  ref, ref_u, _ = _run(optax.sgd(0.05), params, grads, tasks)
  chex.assert_trees_all_equal(got_u, ref_u)
  chex.assert_trees_all_equal(got, ref)

  # Adam, gate after or before it. Op by op (what the maths says), bit for
  # bit. Jitted, the gated chain and plain Adam are different XLA programs
  # whose fusions may round Adam's arithmetic differently (a few ulp; jitted
  # and op-by-op Adam alone differ by far more): equal to float32 precision.
  small = {'w': params['dense0']['kernel'], 'b': params['dense0']['bias']}
  small_grads = [{'w': g['dense0']['kernel'], 'b': g['dense0']['bias']}
                 for g in grads]
  inner = optax.adam(1e-2)
  _, ref_u, _ = _run(inner, params, grads, tasks)
  for tx in (optax.chain(optax.adam(1e-2), gate()),
             optax.chain(gate(), optax.adam(1e-2))):
    s_tx, s_in = tx.init(small), inner.init(small)
    for g, t in zip(small_grads[:2], tasks):
      u_tx, s_tx = tx.update(g, s_tx, small, task_id=t)
      u_in, s_in = inner.update(g, s_in)
      chex.assert_trees_all_equal(u_tx, u_in)
    _, got_u, _ = _run(tx, params, grads, tasks)
    chex.assert_trees_all_close(got_u, ref_u, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize('kwargs', [
    dict(tiers=[(1.0, 0.5), (0.3, 0.4)]),        # sums to 0.9
    dict(tiers=[(1.0, 0.7), (0.3, 0.4)]),        # sums to 1.1
    dict(tiers=[(0.0, 0.5), (0.3, 0.5)]),        # f = 0
    dict(tiers=[(1.2, 0.5), (0.3, 0.5)]),        # f > 1
    dict(tiers=[(-0.2, 0.5), (0.3, 0.5)]),       # f < 0
    dict(tiers=[(1.0, 1.5), (0.3, -0.5)]),       # negative proportion
    dict(tiers=[(0.3, 0.5), (0.3, 0.5)]),        # duplicate flexibility
    dict(tiers=[]),
    dict(tiers=[(1.0, 0.5, 0.1)]),
    dict(tiers=[(1.0, 1.0)], distribution='uniform'),  # both
    dict(),                                             # neither
    dict(distribution='gaussian'),
    dict(distribution=('constant', 0.0)),
    dict(distribution=('constant', 1.5)),
    dict(distribution='constant'),
    dict(distribution=('increasing', 3.0)),
    dict(distribution='uniform', refresh='epoch'),
])
def test_bad_configuration_raises(kwargs):
  with pytest.raises(ValueError):
    scale_by_flexibility(0, strength=1.0, **kwargs)


def test_bad_tiers_message_is_clear():
  with pytest.raises(ValueError, match='sum to 1'):
    scale_by_flexibility(0, tiers=[(1.0, 0.5), (0.3, 0.4)], strength=1.0)
  with pytest.raises(ValueError, match=r'\(0, 1\]'):
    scale_by_flexibility(0, tiers=[(0.0, 1.0)], strength=1.0)


# ------------------------------------------------------ keys and per-seed

TIERS_CFG = ((0.1, 0.5), (1.0, 0.5))



def test_keys_determinism_preview_and_per_seed_draws():
  num_seeds = 3
  params = _params()
  tx = scale_by_flexibility(0, distribution='uniform', strength=1.0)

  @jax.jit
  def first_update(key, p):
    """vmap(init) + reseed(key) when key is given, then one update."""
    states = seeded_init(tx, key, p)
    after = jax.vmap(lambda s, q: tx.update(q, s, q, task_id=0)[1])(states, p)
    again = jax.vmap(lambda s, q: tx.update(q, s, q, task_id=1)[1])(after, p)
    return states, after, again

  stacked = stack_copies(params, num_seeds)
  keys = np.stack([np.asarray(jax.random.PRNGKey(i)) for i in (3, 3, 4)])
  before, after, again = _np(first_update(keys, stacked))
  kernel = after.flexibility['dense0']['kernel']
  # Same key -> same draw (determinism); different key -> different draw.
  np.testing.assert_array_equal(kernel[0], kernel[1])
  assert not np.array_equal(kernel[0], kernel[2])
  # The draw happens once: later updates keep it; the key is split.
  chex.assert_trees_all_equal(again.flexibility, after.flexibility)
  assert not np.array_equal(before.key, after.key)
  # reseed changed the keys after init, so the init preview (drawn from the
  # factory key) is replaced at the first update.
  assert not np.array_equal(before.flexibility['dense0']['kernel'][0],
                            kernel[0])

  # Without reseed every seed shares the factory key, hence one draw, and
  # the init preview is exactly what the first update draws.
  before, after, _ = _np(first_update(None, stacked))
  kernel = after.flexibility['dense0']['kernel']
  assert all(np.array_equal(kernel[0], kernel[i]) for i in range(num_seeds))
  chex.assert_trees_all_equal(before.flexibility, after.flexibility)

  # An int seed and the corresponding key are the same key.
  for seed in (3, jax.random.PRNGKey(3)):
    state = jax.eval_shape(scale_by_flexibility(
        seed, distribution='uniform', strength=1.0).init, params)
    assert state.key.shape == (2,) and state.key.dtype == jnp.uint32
  np.testing.assert_array_equal(
      scale_by_flexibility(3, distribution='uniform', strength=1.0).init(
          {'w': np.zeros((1,))}).key, jax.random.PRNGKey(3))


def test_flexible_sgd_takes_config_forms_of_tiers_and_distribution():
  # A config writes tiers flat, (f1, p1, f2, p2, ...); no tiers and no
  # distribution is the uniform distribution.
  params = _params()
  draw = lambda tx: tx.init(params)[0].flexibility  # the init preview
  flat = flexible_sgd(0.1, key=4, tiers=(0.1, 0.5, 1.0, 0.5), strength=1.0)
  pairs = flexible_sgd(0.1, key=4, tiers=TIERS_CFG, strength=1.0)
  chex.assert_trees_all_equal(draw(flat), draw(pairs))
  chex.assert_trees_all_equal(
      draw(flexible_sgd(0.1, key=4, strength=1.0)),
      draw(flexible_sgd(0.1, key=4, distribution='uniform', strength=1.0)))
  with pytest.raises(ValueError, match='even'):
    flexible_sgd(0.1, tiers=(0.1, 0.5, 1.0), strength=1.0)


# ------------------------------------------- the vmap-aware conditional


def test_rule_inside_switch_with_batched_index():
  # lax.switch with a batched index batches every array its branches use,
  # constants included; the rule's vmap-aware conditional must accept that.
  params = _params()
  txs = [flexible_sgd(0.1, key=0, distribution='uniform', strength=1.0),
         flexible_sgd(0.1, key=0, tiers=((0.1, 0.5), (1.0, 0.5)),
                      strength=1.0)]
  grads = jax.tree.map(jnp.ones_like, params)
  moved = jax.tree.map(lambda p: p + 0.3, params)

  def update(i, state):
    branches = [lambda s, tx=tx: tx.update(grads, s, moved, task_id=0)[0]
                for tx in txs]
    return jax.lax.switch(i, branches, state)

  state = txs[0].init(params)
  states = jax.tree.map(lambda x: jnp.stack([x, x]), state)
  out = jax.jit(jax.vmap(update))(jnp.array([1, 0]), states)
  for run, i in enumerate((1, 0)):
    expected = txs[i].update(grads, state, moved, task_id=0)[0]
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[run], out),
                                expected, rtol=1e-5, atol=1e-7)
  # The two transforms differ here, so each run really took its own branch.
  differ = jax.tree.map(lambda x: bool(jnp.any(x[0] != x[1])), out)
  assert any(jax.tree.leaves(differ))


def test_vmapped_seeds_at_different_steps():
  params = _params()
  tx = scale_by_flexibility(0, distribution='uniform', strength=1.0)
  keys = [jax.random.PRNGKey(i) for i in (1, 2)]

  @jax.jit
  def fresh_and_advanced(p):
    fresh = reseed(tx.init(p), keys[0])
    advanced = tx.update(p, reseed(tx.init(p), keys[1]), p,
                         task_id=0)[1]
    return fresh, advanced

  fresh, advanced = fresh_and_advanced(params)
  states = jax.tree.map(lambda a, b: np.stack([a, b]), fresh, advanced)
  out = jax.jit(jax.vmap(lambda s, p: tx.update(p, s, p, task_id=0)[1],
                         in_axes=(0, None)))(states, params)
  single = jax.jit(lambda s: tx.update(params, s, params, task_id=0)[1])
  chex.assert_trees_all_equal(jax.tree.map(lambda x: x[0], out.flexibility),
                              single(fresh).flexibility)
  chex.assert_trees_all_equal(jax.tree.map(lambda x: x[1], out.flexibility),
                              advanced.flexibility)
