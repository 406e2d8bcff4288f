"""Tests of the helpers the rules share and export (mpl_jax.rules)."""

import os
import subprocess
import sys
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from mpl_jax.rules import cond_any
from mpl_jax.rules import reseed


def test_conditional_stays_a_branch_under_vmap():
  calls = []

  def true_fn(x, k):
    jax.debug.callback(lambda: calls.append(1))
    return x + jax.random.uniform(k, x.shape)

  def false_fn(x, k):
    del k
    return x

  f = jax.jit(jax.vmap(lambda p, x, k: cond_any(p, true_fn, false_fn, x, k)))
  x = np.zeros((3, 4), np.float32)
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  out = np.asarray(f(np.array([False, False, False]), x, keys))
  np.testing.assert_array_equal(out, x)
  assert not calls  # no element needs it: the draw is skipped
  out = np.asarray(f(np.array([False, True, False]), x, keys))
  assert calls
  np.testing.assert_array_equal(out[[0, 2]], 0.0)
  single = jax.jit(lambda x, k: cond_any(True, true_fn, false_fn, x, k))
  np.testing.assert_array_equal(out[1], single(x[1], keys[1]))
  # Nested vmap, and an unbatched operand.
  g = jax.jit(jax.vmap(jax.vmap(
      lambda p, x, k: cond_any(p, true_fn, false_fn, x, k),
      in_axes=(0, None, 0)), in_axes=(0, None, None)))
  out = np.asarray(g(np.array([[False, True, False], [False] * 3]), x[0],
                     keys))
  np.testing.assert_array_equal(out[0, 1], single(x[0], keys[1]))
  np.testing.assert_array_equal(out[[0, 0, 1, 1, 1], [0, 2, 0, 1, 2]], 0.0)


def test_reseed_gives_each_seed_its_own_keys():
  class S(NamedTuple):
    key: jax.Array
    x: jax.Array

  state = (S(jnp.zeros(2, jnp.uint32), jnp.ones(3)),
           {'inner': S(jnp.zeros(2, jnp.uint32), jnp.ones(1))})
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  out = jax.vmap(lambda k: reseed(state, k))(keys)
  k0, k1 = out[0].key, out[1]['inner'].key
  assert len({tuple(np.asarray(k)) for k in k0}) == 4  # differ across seeds
  assert not np.array_equal(k0, k1)  # differ across rules in one state
  chex.assert_trees_all_equal(out[0].x, jnp.ones((4, 3)))


def test_rules_and_random_do_not_import_flax():
  # Layering: mpl_jax.random and every rule module stay free of Flax (and of
  # the layers above them), so that they can be used with any model library.
  code = (
      'import importlib, pkgutil, sys\n'
      'import mpl_jax.random, mpl_jax.rules\n'
      'for m in pkgutil.iter_modules(mpl_jax.rules.__path__):\n'
      '  importlib.import_module("mpl_jax.rules." + m.name)\n'
      'bad = [m for m in sys.modules if m.split(".")[0] == "flax" or\n'
      '       m.startswith(("mpl_jax.models", "mpl_jax.data", "mpl_jax.train"))]\n'
      'assert not bad, bad\n')
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  subprocess.run([sys.executable, '-c', code], check=True, env=env,
                 cwd=os.path.dirname(os.path.dirname(__file__)))
