"""Tests of the MESU transform (mpl_jax.rules.mesu)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from mpl_jax.rules import mesu as mesu_lib
from _transform_checks import hostile_sigma_steps


def _params(key=0):
  rng = np.random.default_rng(key)
  f32 = lambda a: jnp.asarray(a, jnp.float32)
  return {
      'dense': {'kernel': {
          'mu': f32(0.3 * rng.normal(size=(6, 4))),
          'sigma': f32(rng.uniform(0.05, 0.3, (6, 4)))}},
      'out': {'kernel': {
          'mu': f32(0.3 * rng.normal(size=(4, 3))),
          'sigma': f32(rng.uniform(0.05, 0.3, (4, 3)))},
              'bias': jnp.zeros(3)},
  }


def _grads(step, params, scale=1.0):
  rng = np.random.default_rng(1000 + step)
  return jax.tree.map(
      lambda l: jnp.asarray(scale * rng.normal(size=l.shape), jnp.float32),
      params)


def np_mesu(g_mu, g_sigma, mu, sigma, *, sigma_prior, mu_prior, n,
            lr_mu=1.0, lr_sigma=1.0, clamp=None):
  """The spec's equations, written plainly in float64 numpy."""
  g_mu, g_sigma, mu, sigma = (np.asarray(a, np.float64)
                              for a in (g_mu, g_sigma, mu, sigma))
  if clamp is not None:
    g_mu = np.clip(g_mu, -clamp / sigma, clamp / sigma)
    g_sigma = np.clip(g_sigma, -clamp / sigma, clamp / sigma)
  d_mu = lr_mu * (-sigma**2 * g_mu
                  + sigma**2 * (mu_prior - mu) / (n * sigma_prior**2))
  d_sigma = lr_sigma * 0.5 * (
      -sigma**2 * g_sigma
      + sigma * (sigma_prior**2 - sigma**2) / (n * sigma_prior**2))
  return d_mu, d_sigma


@pytest.mark.parametrize('clamp', [None, 0.05])
def test_matches_numpy_reference_over_steps(clamp):
  hp = dict(sigma_prior=0.2, mu_prior=0.1, n=50.0)
  params = _params()
  tx = mesu_lib.scale_by_mesu(sigma_prior=0.2, mu_prior=0.1,
                              memory_window=50.0, clamp_grad=clamp,
                              learning_rate_mu=0.7, learning_rate_sigma=0.4)
  state = tx.init(params)
  update = jax.jit(tx.update)
  ref = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  for step in range(5):
    grads = _grads(step, params, scale=2.0)
    updates, state = update(grads, state, params, task_id=step)
    # Non-Bayesian leaves pass through unchanged.
    chex.assert_trees_all_equal(updates['out']['bias'],
                                grads['out']['bias'])
    for layer in ('dense', 'out'):
      g, p = grads[layer]['kernel'], ref[layer]['kernel']
      d_mu, d_sigma = np_mesu(g['mu'], g['sigma'], p['mu'], p['sigma'],
                              lr_mu=0.7, lr_sigma=0.4, clamp=clamp, **hp)
      np.testing.assert_allclose(updates[layer]['kernel']['mu'], d_mu,
                                 rtol=2e-5, atol=1e-7)
      np.testing.assert_allclose(updates[layer]['kernel']['sigma'], d_sigma,
                                 rtol=2e-5, atol=1e-7)
      p['mu'] = p['mu'] + d_mu
      p['sigma'] = p['sigma'] + d_sigma
    params = optax.apply_updates(params, updates)
  assert int(state.count) == 5


def test_clamp_is_active_in_reference_test():
  params = _params()
  grads = _grads(0, params, scale=2.0)
  s = params['dense']['kernel']['sigma']
  assert bool(jnp.any(jnp.abs(grads['dense']['kernel']['mu']) > 0.05 / s))


def test_guard_inactive_is_bit_exact():
  params = _params()
  grads = _grads(3, params)
  tx = mesu_lib.scale_by_mesu(sigma_prior=0.2, memory_window=1e3)
  updates, _ = tx.update(grads, tx.init(params), params)
  p, g = params['dense']['kernel'], grads['dense']['kernel']
  raw_mu, raw_sigma = mesu_lib.mesu_updates(
      g['mu'], g['sigma'], p['mu'], p['sigma'], sigma_prior=0.2,
      mu_prior=0.0, memory_window=1e3)
  chex.assert_trees_all_equal(updates['dense']['kernel']['mu'], raw_mu)
  chex.assert_trees_all_equal(updates['dense']['kernel']['sigma'], raw_sigma)


def test_guard_reflects_overshoot_and_floors():
  sigma = jnp.array([1.0, 1.0, 1.0, 1e-30, 0.0, 1.0])
  step = jnp.array([-0.5, -1.5, -1.0, 0.0, 0.0, jnp.nan])
  out = mesu_lib.guard_sigma_step(sigma, step, min_sigma_ratio=1e-3,
                                  sigma_min=1e-12, sigma_max=1e6)
  new = sigma + out
  np.testing.assert_allclose(new[0], 0.5)             # inactive
  np.testing.assert_allclose(new[1], 0.5, rtol=1e-6)  # reflected |1 - 1.5|
  np.testing.assert_allclose(new[2], 1e-3, rtol=1e-4)  # ratio floor
  np.testing.assert_allclose(new[3], 1e-12, rtol=1e-5)  # absolute floor
  np.testing.assert_allclose(new[4], 1e-12, rtol=1e-5)
  assert float(new[5]) == 1.0                          # NaN step: no change
  out = mesu_lib.guard_sigma_step(sigma[:2], step[:2], reflect=False)
  np.testing.assert_allclose((sigma[:2] + out)[1], 1e-3, rtol=1e-4)


@pytest.mark.parametrize('clamp', [None, 0.1])
def test_sigma_positive_and_finite_under_hostile_gradients(clamp):
  # Every (gradient, initial sigma) pair, one element each.
  gs = [1e30, -1e30, 3.0e38, -3.0e38, 1e-30, 0.0]
  sigmas = [1e-30, 1e-3, 0.5, 1e5, 1e6]
  tx = mesu_lib.mesu(sigma_prior=0.1, memory_window=10.0, clamp_grad=clamp)
  for s in hostile_sigma_steps(tx, gs, sigmas):
    assert bool(jnp.all(jnp.isfinite(s))), s
    assert bool(jnp.all(s > 0)), s
    assert bool(jnp.all(s <= 1e6)), s


def test_schedule_learning_rate():
  params = _params()
  grads = _grads(0, params)
  sched = optax.linear_schedule(1.0, 0.0, 4)
  tx = mesu_lib.scale_by_mesu(sigma_prior=0.2, memory_window=10.0,
                              learning_rate_mu=sched)
  state = tx.init(params)
  u0, state = tx.update(grads, state, params)
  u1, state = tx.update(grads, state, params)
  np.testing.assert_allclose(u1['dense']['kernel']['mu'],
                             0.75 * u0['dense']['kernel']['mu'], rtol=1e-5)
  chex.assert_trees_all_close(u1['dense']['kernel']['sigma'],
                              u0['dense']['kernel']['sigma'])


def test_partition_recipe_and_non_bayesian_alias():
  params = _params()
  grads = _grads(2, params)
  mesu_tx = mesu_lib.mesu(sigma_prior=0.2, memory_window=10.0)
  ref, _ = mesu_tx.update(grads, mesu_tx.init(params), params)

  # The documented partition recipe: SGD for the non-Bayesian bias.
  tx = optax.partition({'mesu': mesu_tx, 'other': optax.sgd(0.1)},
                       mesu_lib.gaussian_labels)
  u, _ = tx.update(grads, tx.init(params), params, task_id=0)
  chex.assert_trees_all_close(u['dense'], ref['dense'])
  chex.assert_trees_all_close(u['out']['kernel'], ref['out']['kernel'])
  chex.assert_trees_all_close(u['out']['bias'], -0.1 * grads['out']['bias'])
  # Same through the alias.
  alias = mesu_lib.mesu(sigma_prior=0.2, memory_window=10.0,
                        non_bayesian=optax.sgd(0.1))
  u2, _ = alias.update(grads, alias.init(params), params)
  chex.assert_trees_all_close(u, u2)


def test_works_on_nnx_state_trees():
  class Layer(nnx.Module):

    def __init__(self):
      self.kernel = nnx.Dict(mu=nnx.Param(jnp.full((3, 2), 0.5)),
                             sigma=nnx.Param(jnp.full((3, 2), 0.1)))
      self.bias = nnx.Param(jnp.zeros(2))

  _, state = nnx.split(Layer(), nnx.Param)
  grads = jax.tree.map(jnp.ones_like, state)
  tx = mesu_lib.mesu(sigma_prior=0.1, memory_window=1e9)
  expected_mu = -0.01  # -sigma^2 * 1 (prior pull ~1e-9)
  for params, g in ((state, grads), (nnx.as_pure(state), nnx.as_pure(grads)),
                    (state.to_pure_dict(), nnx.as_pure(grads).to_pure_dict())):
    u, _ = jax.jit(tx.update)(g, tx.init(params), params)
    new = optax.apply_updates(params, u)
    leaves = jax.tree.leaves(u)
    assert len(leaves) == 3
    np.testing.assert_allclose(jax.tree.leaves(u['kernel']['mu'])[0],
                               expected_mu, rtol=1e-4)
    np.testing.assert_allclose(jax.tree.leaves(new['kernel']['sigma'])[0],
                               0.1 - 0.5 * 0.01, rtol=1e-4)
    # Bias passes through unchanged.
    np.testing.assert_allclose(jax.tree.leaves(u['bias'])[0], 1.0)


def test_is_gaussian_param():
  assert mesu_lib.is_gaussian_param({'mu': 1, 'sigma': 2})
  assert not mesu_lib.is_gaussian_param({'mu': 1})
  assert not mesu_lib.is_gaussian_param({'mu': 1, 'sigma': 2, 'x': 3})
  assert not mesu_lib.is_gaussian_param(jnp.zeros(2))
