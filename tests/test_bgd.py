"""Tests of Bayesian Gradient Descent (mpl_jax.rules.bgd)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from mpl_jax.rules import baselines
from mpl_jax.rules import bgd
from mpl_jax.rules import mesu as mesu_lib
from _transform_checks import hostile_sigma_steps


def _np(tree):
  return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def _grads(step, params, scale=1.0):
  rng = np.random.default_rng(1000 + step)
  return jax.tree.map(
      lambda l: jnp.asarray(scale * rng.normal(size=l.shape), jnp.float32),
      params)


def np_bgd(g_mu, g_sigma, mu, sigma, eta):
  g_mu, g_sigma, sigma = (np.asarray(a, np.float64)
                          for a in (g_mu, g_sigma, sigma))
  d_mu = -eta * sigma**2 * g_mu
  new_sigma = (sigma * np.sqrt(1 + (0.5 * sigma * g_sigma)**2)
               - 0.5 * sigma**2 * g_sigma)
  return d_mu, new_sigma - sigma


def _gaussian_params(key=0):
  rng = np.random.default_rng(key)
  return {'layer': {'kernel': {
      'mu': jnp.asarray(rng.normal(size=(4, 3)), jnp.float32),
      'sigma': jnp.asarray(rng.uniform(0.05, 0.5, (4, 3)), jnp.float32)}},
          'bias': jnp.zeros(3)}


def test_bgd_matches_numpy_reference_over_steps():
  params = _gaussian_params()
  tx = bgd.scale_by_bgd(eta=0.7)
  update = jax.jit(tx.update)
  state = tx.init(params)
  ref = _np(params['layer']['kernel'])
  for step in range(5):
    grads = jax.tree.map(lambda g: 3.0 * g, _grads(step, params))
    u, state = update(grads, state, params, task_id=step)
    g = grads['layer']['kernel']
    d_mu, d_sigma = np_bgd(g['mu'], g['sigma'], ref['mu'], ref['sigma'], 0.7)
    np.testing.assert_allclose(u['layer']['kernel']['mu'], d_mu, rtol=2e-5,
                               atol=1e-7)
    np.testing.assert_allclose(u['layer']['kernel']['sigma'], d_sigma,
                               rtol=2e-5, atol=1e-7)
    chex.assert_trees_all_equal(u['bias'], grads['bias'])
    ref = {'mu': ref['mu'] + d_mu, 'sigma': ref['sigma'] + d_sigma}
    params = optax.apply_updates(params, u)


def test_bgd_sigma_positive_and_finite_under_hostile_gradients():
  gs = [1e30, -1e30, 3.0e38, -3.0e38, 0.0]
  sigmas = [1e-30, 1e-3, 0.5, 1e5]
  for clamp in (None, 0.1):
    tx = bgd.scale_by_bgd(clamp_grad=clamp)
    for s in hostile_sigma_steps(tx, gs, sigmas):
      assert bool(jnp.all(jnp.isfinite(s)) & jnp.all(s > 0)), s


def test_bgd_updates_is_the_unguarded_step():
  g_mu = jnp.array([0.5, -2.0, 0.0])
  g_sigma = jnp.array([3.0, -4.0, 0.0])
  mu = jnp.zeros(3)
  sigma = jnp.array([0.1, 0.2, 0.3])
  d_mu, d_sigma = bgd.bgd_updates(g_mu, g_sigma, mu, sigma, eta=0.5)
  ref_mu, ref_sigma = np_bgd(g_mu, g_sigma, mu, sigma, 0.5)
  np.testing.assert_allclose(d_mu, ref_mu, rtol=1e-6)
  np.testing.assert_allclose(d_sigma, ref_sigma, rtol=1e-5, atol=1e-8)


def test_partition_bayesian_and_deterministic_leaves():
  params = _gaussian_params()
  grads = _grads(1, params)
  tx = optax.partition(
      {'bgd': bgd.scale_by_bgd(eta=1.0),
       'other': optax.chain(baselines.add_ewc_penalty(1.0),
                            optax.sgd(0.1))},
      lambda p: mesu_lib.gaussian_labels(p, bayesian='bgd'))
  u, _ = tx.update(grads, tx.init(params), params, task_id=0)
  ref, _ = bgd.scale_by_bgd().update(grads, None, params)
  chex.assert_trees_all_close(u['layer'], ref['layer'])
  chex.assert_trees_all_close(u['bias'], -0.1 * grads['bias'])
