"""Tests of multi-level (quantized) metaplasticity."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import mpl_jax
from mpl_jax.rules import multilevel
from _transform_checks import random_grads
from _transform_checks import small_mlp_params

LEVELS4 = multilevel.uniform_levels(4)


def _run(tx, params, grads, **extra):
  state = tx.init(params)
  step = jax.jit(lambda g, s, p: tx.update(g, s, p, **extra))
  out = []
  for g in grads:
    u, state = step(g, state, params)
    params = optax.apply_updates(params, u)
    out.append(u)
  return params, out, state


def np_interval_gate(u, w, meta, levels):
  """The interval form written plainly: find |w|'s interval by a loop."""
  u, w = np.asarray(u, np.float64), np.asarray(w, np.float64)
  mags = sorted({0.0, *(round(abs(v), 12) for v in levels)})
  out = np.empty_like(u)
  for idx in np.ndindex(u.shape):
    a = abs(w[idx])
    i = max(j for j in range(len(mags) - 1) if a >= mags[j] or j == 0)
    s = (a - mags[i]) / (mags[i + 1] - mags[i])
    f = 1.0 - np.tanh(meta * s) ** 2
    out[idx] = u[idx] * f if u[idx] * w[idx] < 0 else u[idx]
  return out


def test_uniform_levels_and_nearest_level():
  assert multilevel.uniform_levels(2) == (-1.0, 1.0)
  assert multilevel.uniform_levels(3) == (-1.0, 0.0, 1.0)
  for num in (2, 3, 4, 8):
    lv = multilevel.uniform_levels(num)
    assert lv == tuple(-v for v in reversed(lv))  # exactly symmetric
  w = np.random.default_rng(0).uniform(-1.5, 1.5, size=(50, 7))
  for num in (2, 3, 4, 8):
    lv = np.asarray(multilevel.uniform_levels(num))
    expected = lv[np.argmin(np.abs(w[..., None] - lv), axis=-1)]
    np.testing.assert_allclose(
        multilevel.nearest_level(jnp.asarray(w, jnp.float32), lv), expected,
        rtol=1e-6)
  # Two levels: the sign.
  np.testing.assert_array_equal(
      multilevel.nearest_level(jnp.asarray(w), (-1.0, 1.0)), np.sign(w))
  with pytest.raises(ValueError, match='increasing'):
    multilevel.nearest_level(jnp.ones(3), (1.0, -1.0))


def test_interval_breakpoints_and_position():
  assert multilevel.interval_breakpoints(LEVELS4) == (0.0, 1 / 3, 1.0)
  assert len(multilevel.interval_breakpoints(
      multilevel.uniform_levels(8))) == 5
  w = jnp.array([0.0, 0.2, -(1 / 3 + 1e-4), 0.5, -0.99, 1.5])
  s = multilevel.interval_position(w, LEVELS4)
  np.testing.assert_allclose(
      s, [0.0, 0.6, 1e-4 * 1.5, (0.5 - 1 / 3) * 1.5, (0.99 - 1 / 3) * 1.5,
          (1.5 - 1 / 3) * 1.5], rtol=1e-4, atol=1e-6)
  # Two levels: s = |w| exactly.
  np.testing.assert_array_equal(
      multilevel.interval_position(w, (-1.0, 1.0)), jnp.abs(w))


@pytest.mark.parametrize('num_levels', [2, 3, 4, 8])
def test_interval_gate_matches_numpy_reference(num_levels):
  levels = multilevel.uniform_levels(num_levels)
  params = small_mlp_params(scale=0.7)
  grads = random_grads(params, 1)[0]
  tx = mpl_jax.scale_by_multilevel_metaplasticity(
      2.5, levels=levels, form='interval')
  out, _ = tx.update(grads, tx.init(params), params)
  for layer in ('dense0', 'dense1'):
    u, w = grads[layer]['kernel'], params[layer]['kernel']
    np.testing.assert_allclose(out[layer]['kernel'],
                               np_interval_gate(u, w, 2.5, levels),
                               rtol=2e-6, atol=1e-6)
    chex.assert_trees_all_equal(out[layer]['bias'], grads[layer]['bias'])


def test_interval_gate_restarts_in_each_interval():
  # A step toward zero just above a level is nearly free; below the next
  # level it is strongly attenuated; a step away from zero is never gated.
  w = {'w': jnp.array([[0.34, 0.95, 0.95]])}
  u = {'w': jnp.array([[-0.1, -0.1, 0.1]])}
  tx = mpl_jax.scale_by_multilevel_metaplasticity(
      3.0, levels=LEVELS4, form='interval')
  out, _ = tx.update(u, tx.init(w), w)
  out = np.asarray(out['w'])[0]
  assert out[0] < -0.099            # s ~ 0.01: f ~ 1
  assert -0.01 < out[1] < 0         # s ~ 0.93: f = 1 - tanh(2.8)^2 ~ 0.015
  assert out[2] == pytest.approx(0.1)
  # The global form gates 0.34 (|w| small but not 0) much less than 0.95.
  g = mpl_jax.scale_by_multilevel_metaplasticity(3.0, levels=LEVELS4)
  gout, _ = g.update(u, g.init(w), w)
  np.testing.assert_allclose(
      np.asarray(gout['w'])[0, :2],
      -0.1 * (1 - np.tanh(3.0 * np.array([0.34, 0.95])) ** 2), rtol=1e-5)


@pytest.mark.parametrize('form', ['global', 'interval'])
def test_two_levels_equal_binary_metaplasticity_bit_for_bit(form):
  params = small_mlp_params(scale=1.5)
  grads = random_grads(params, 12)
  ref = mpl_jax.metaplastic_adam(0.01, 1.35, weight_decay=1e-4)
  new = multilevel.multilevel_metaplastic_adam(
      0.01, 1.35, levels=(-1.0, 1.0), form=form, weight_decay=1e-4)
  p_ref, u_ref, _ = _run(ref, params, grads)
  p_new, u_new, _ = _run(new, params, grads)
  chex.assert_trees_all_equal(u_ref, u_new)
  chex.assert_trees_all_equal(p_ref, p_new)
  # ... and the gates alone, on steps with both signs.
  gate = mpl_jax.scale_by_metaplasticity(2.0)
  mgate = mpl_jax.scale_by_multilevel_metaplasticity(
      2.0, levels=(-1.0, 1.0), form=form)
  chex.assert_trees_all_equal(
      gate.update(grads[0], gate.init(params), params)[0],
      mgate.update(grads[0], mgate.init(params), params)[0])


def test_meta_zero_is_identity_and_gate_changes_something():
  params = small_mlp_params()
  grads = random_grads(params, 1)[0]
  for form in ('global', 'interval'):
    tx = mpl_jax.scale_by_multilevel_metaplasticity(
        0.0, levels=LEVELS4, form=form)
    chex.assert_trees_all_equal(tx.update(grads, tx.init(params), params)[0],
                                grads)
    tx = mpl_jax.scale_by_multilevel_metaplasticity(
        2.0, levels=LEVELS4, form=form)
    out = tx.update(grads, tx.init(params), params)[0]
    assert not np.allclose(out['dense0']['kernel'], grads['dense0']['kernel'])


def test_clip_margin_bounds_hidden_weights():
  params = {'w': jnp.array([[0.9, -0.9, 0.2]])}
  u = {'w': jnp.array([[0.5, -0.5, 0.1]])}
  tx = mpl_jax.scale_by_multilevel_metaplasticity(
      1.0, levels=LEVELS4, clip_margin=0.05)
  out, _ = tx.update(u, tx.init(params), params)
  np.testing.assert_allclose(optax.apply_updates(params, out)['w'],
                             [[1.05, -1.05, 0.3]], rtol=1e-6)


def test_errors():
  with pytest.raises(ValueError, match='meta must be >= 0'):
    mpl_jax.scale_by_multilevel_metaplasticity(-1.0, levels=LEVELS4)
  with pytest.raises(ValueError, match='form'):
    mpl_jax.scale_by_multilevel_metaplasticity(1.0, levels=LEVELS4,
                                               form='bogus')
  with pytest.raises(ValueError, match='levels'):
    mpl_jax.scale_by_multilevel_metaplasticity(1.0, levels=(0.5,))


def test_composes_with_optax_chain_and_masks():
  params = small_mlp_params(scale=0.8)
  grads = random_grads(params, 1)[0]
  gate = mpl_jax.scale_by_multilevel_metaplasticity(
      2.0, levels=LEVELS4, form='interval')
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.scale(-0.1), gate)
  out, _ = tx.update(grads, tx.init(params), params)
  clipped, _ = optax.clip_by_global_norm(1.0).update(grads, None)
  u = -0.1 * clipped['dense1']['kernel']
  np.testing.assert_allclose(
      out['dense1']['kernel'],
      np_interval_gate(u, params['dense1']['kernel'], 2.0, LEVELS4),
      rtol=2e-6, atol=1e-7)
  mask = {'dense0': {'kernel': True, 'bias': False},
          'dense1': {'kernel': False, 'bias': False}}
  masked = mpl_jax.scale_by_multilevel_metaplasticity(
      2.0, levels=LEVELS4, mask=mask)
  out, _ = masked.update(grads, masked.init(params), params)
  chex.assert_trees_all_equal(out['dense1'], grads['dense1'])
  assert not np.allclose(out['dense0']['kernel'], grads['dense0']['kernel'])


def test_memory_footprint_counts():
  shapes = {'fc0': {'kernel': jax.ShapeDtypeStruct((784, 100), jnp.float32)},
            'bn0': {'scale': jax.ShapeDtypeStruct((100,), jnp.float32),
                    'bias': jax.ShapeDtypeStruct((100,), jnp.float32)},
            'fc1': {'kernel': jax.ShapeDtypeStruct((100, 10), jnp.float32)}}
  fp = multilevel.memory_footprint(shapes, levels=LEVELS4)
  n = 784 * 100 + 100 * 10
  assert (fp.num_weights, fp.num_other, fp.level_bits) == (n, 200, 2)
  assert fp.total == n * (2 + 32) + 200 * 32
  assert fp.bits_per_weight == 34
  assert multilevel.memory_footprint(shapes, levels=2).level_bits == 1
  assert multilevel.memory_footprint(shapes, levels=8).level_bits == 3
  assert multilevel.memory_footprint(shapes, levels=3).level_bits == 2
  no_hidden = multilevel.memory_footprint(shapes, levels=8, hidden_bits=0)
  assert no_hidden.total == n * 3 + 200 * 32
  # Arrays work as well as shapes.
  arrays = jax.tree.map(lambda s: jnp.zeros(s.shape), shapes)
  assert multilevel.memory_footprint(arrays, levels=4) == fp
