"""Tests of the helpers the rules share and export (mpl_jax.rules)."""

import importlib
import os
import subprocess
import sys
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import mpl_jax
from mpl_jax.rules import cond_any
from mpl_jax.rules import mixture as mixture_lib
from mpl_jax.rules import reseed

# Every rename (docs/MIGRATION.md): (module, old name, module, new name).
RENAMES = (
    ('mpl_jax', 'stochastic_engram_gate', 'mpl_jax', 'scale_by_engram_gate'),
    ('mpl_jax', 'EngramGateState', 'mpl_jax', 'ScaleByEngramGateState'),
    ('mpl_jax', 'flexibility_tiers', 'mpl_jax', 'scale_by_flexibility'),
    ('mpl_jax', 'FlexibilityTiersState', 'mpl_jax', 'ScaleByFlexibilityState'),
    ('mpl_jax', 'BennaFusiState', 'mpl_jax', 'ScaleByBennaFusiState'),
    ('mpl_jax', 'BeakerMetaplasticityState', 'mpl_jax',
     'ScaleByBeakerMetaplasticityState'),
    ('mpl_jax.rules.engram', 'stochastic_engram_gate', 'mpl_jax.rules.engram',
     'scale_by_engram_gate'),
    ('mpl_jax.rules.engram', 'EngramGateState', 'mpl_jax.rules.engram',
     'ScaleByEngramGateState'),
    ('mpl_jax.rules.flexibility', 'flexibility_tiers',
     'mpl_jax.rules.flexibility', 'scale_by_flexibility'),
    ('mpl_jax.rules.flexibility', 'FlexibilityTiersState',
     'mpl_jax.rules.flexibility', 'ScaleByFlexibilityState'),
    ('mpl_jax.rules.tacos', 'TacosState', 'mpl_jax.rules.tacos',
     'ScaleByTacosState'),
    ('mpl_jax.rules.benna_fusi', 'BennaFusiState', 'mpl_jax.rules.benna_fusi',
     'ScaleByBennaFusiState'),
    ('mpl_jax.rules.benna_fusi', 'scale_by_beaker_metaplasticity',
     'mpl_jax.rules.beakers', 'scale_by_beaker_metaplasticity'),
    ('mpl_jax.rules.benna_fusi', 'beaker_metaplastic_adam',
     'mpl_jax.rules.beakers', 'beaker_metaplastic_adam'),
    ('mpl_jax.rules.benna_fusi', 'BeakerMetaplasticityState',
     'mpl_jax.rules.beakers', 'ScaleByBeakerMetaplasticityState'),
    ('mpl_jax.rules.beakers', 'BeakerMetaplasticityState',
     'mpl_jax.rules.beakers', 'ScaleByBeakerMetaplasticityState'),
) + tuple(
    ('mpl_jax', name, f'mpl_jax.rules.{module}', name) for module, name in (
        ('metaplasticity', 'metaplastic_factor'),
        ('flexibility', 'flexibility_factor'),
        ('flexibility', 'tier_fractions'),
        ('mesu', 'gaussian_labels'),
        ('mesu', 'is_gaussian_param'),
        ('multilevel', 'memory_footprint'),
        ('multilevel', 'MemoryFootprint'),
        ('multilevel', 'nearest_level'),
        ('multilevel', 'uniform_levels')))


@pytest.mark.parametrize('old_module,old,new_module,new', RENAMES)
def test_old_names_warn_and_return_the_new_object(old_module, old, new_module,
                                                  new):
  module = importlib.import_module(old_module)
  with pytest.warns(DeprecationWarning, match=new):
    got = getattr(module, old)
  assert got is getattr(importlib.import_module(new_module), new)
  if old_module == 'mpl_jax':
    assert old not in dir(mpl_jax)


def test_public_api_is_all_and_submodules_resolve():
  assert sorted(dir(mpl_jax)) == sorted(mpl_jax.__all__ + ('__version__',))
  for name in mpl_jax.__all__:
    assert getattr(mpl_jax, name) is not None
  # The documented paths resolve after a plain `import mpl_jax`.
  assert mpl_jax.rules.mixture.mixture is mpl_jax.mixture
  assert mpl_jax.rules.tacos.scale_by_tacos is mpl_jax.scale_by_tacos
  assert mpl_jax.rules.tacos.tacos is mpl_jax.tacos
  with pytest.raises(AttributeError):
    mpl_jax.no_such_rule  # pylint: disable=pointless-statement


def test_mixture_runs_the_chosen_transform_only():
  calls = []

  def counting(scale):
    def update_fn(updates, state, params=None):
      del params
      jax.debug.callback(lambda: calls.append(scale))
      return jax.tree.map(lambda u: scale * u, updates), state
    return optax.GradientTransformation(lambda p: optax.EmptyState(),
                                        update_fn)

  tx = mixture_lib.mixture([counting(1.0), counting(2.0), counting(3.0)])
  params = {'w': jnp.ones(3)}
  update = jax.jit(tx.update)
  for index in (2, 0, 1):
    state = tx.init(params)._replace(index=jnp.int32(index))
    u, _ = update(params, state)
    np.testing.assert_array_equal(u['w'], float(index + 1))
  jax.effects_barrier()
  assert calls == [3.0, 1.0, 2.0]  # one transform per call, the chosen one
  # Under vmap with a batched index each run keeps its own transform.
  states = jax.vmap(lambda i: tx.init(params)._replace(index=i))(
      jnp.array([1, 2], jnp.int32))
  u, _ = jax.vmap(update, in_axes=(None, 0))(params, states)
  np.testing.assert_array_equal(u['w'][:, 0], [2.0, 3.0])


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
