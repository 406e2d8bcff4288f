"""Statistical tests of the counter-hash random numbers (mpl_jax.random)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from mpl_jax.random import counter_bernoulli
from mpl_jax.random import counter_normal


def test_counter_normal_statistics():
  z = np.asarray(counter_normal(jnp.array([3, 9], jnp.uint32), (1000001,)),
                 np.float64)
  assert abs(z.mean()) < 5e-3 and abs(z.var() - 1) < 5e-3
  assert abs(stats.skew(z)) < 0.01 and abs(stats.kurtosis(z)) < 0.02
  assert stats.kstest(z, 'norm').pvalue > 1e-3
  half = (len(z) + 1) // 2
  assert abs(np.corrcoef(z[:half - 1], z[half:])[0, 1]) < 5e-3  # pairs
  assert abs(np.corrcoef(z[:half - 1] ** 2, z[half:] ** 2)[0, 1]) < 5e-3
  assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5e-3           # neighbours
  other = np.asarray(counter_normal(
      jax.random.fold_in(jax.random.PRNGKey(0), 1), (1000001,)))
  assert abs(np.corrcoef(z, other)[0, 1]) < 5e-3                 # keys
  typed = counter_normal(jax.random.key(0), (2, 3))
  raw = counter_normal(jax.random.PRNGKey(0), (2, 3))
  chex.assert_trees_all_equal(typed, raw)
  assert typed.shape == (2, 3) and typed.dtype == jnp.float32


def test_counter_bernoulli_statistics():
  n, p = 1_000_000, 0.3
  key = jnp.array([5, 11], jnp.uint32)
  b = np.asarray(counter_bernoulli(key, p, (n,)), np.float64)
  assert b.shape == (n,)
  assert abs(b.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
  assert abs(np.corrcoef(b[:-1], b[1:])[0, 1]) < 5e-3      # neighbours
  other = np.asarray(counter_bernoulli(
      jnp.array([5, 12], jnp.uint32), p, (n,)), np.float64)
  assert abs(np.corrcoef(b, other)[0, 1]) < 5e-3           # keys
  # A traced, batched p; p = 0 and p = 1 are exact.
  ps = jnp.array([0.0, 1.0, 0.5])
  out = jax.jit(jax.vmap(lambda q: counter_bernoulli(
      key, q, (1000,))))(ps)
  assert not out[0].any() and out[1].all() and 0 < out[2].mean() < 1
  chex.assert_trees_all_equal(
      counter_bernoulli(jax.random.key(3), p, (7,)),
      counter_bernoulli(jax.random.PRNGKey(3), p, (7,)))

