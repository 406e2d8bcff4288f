"""Tests of the metaplastic sign gate and the metaplastic Adam optimizer."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import mpl_jax


def _params(key=0, scale=1.0):
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(key), 3)
  return {
      'dense': {'kernel': scale * jax.random.normal(k1, (7, 5))},
      'out': {'kernel': scale * jax.random.normal(k2, (5, 3))},
      'bn': {'scale': jnp.ones(5), 'bias': 0.1 * jax.random.normal(k3, (5,))},
  }


def _grads(step, params):
  key = jax.random.fold_in(jax.random.PRNGKey(123), step)
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  return treedef.unflatten(
      [jax.random.normal(k, l.shape) for k, l in zip(keys, leaves)])


def np_gate(u, w, meta):
  """The spec's gate, written plainly in numpy."""
  u, w = np.asarray(u, np.float64), np.asarray(w, np.float64)
  f = 1.0 - np.tanh(meta * np.abs(w)) ** 2
  return np.where(u * w < 0, u * f, u)


def test_gate_matches_numpy_reference():
  params = _params(scale=2.0)
  updates = _grads(0, params)
  tx = mpl_jax.scale_by_metaplasticity(1.35)
  out, _ = tx.update(updates, tx.init(params), params)
  for path in (('dense', 'kernel'), ('out', 'kernel')):
    u, w = updates[path[0]][path[1]], params[path[0]][path[1]]
    # float32 factor: absolute error ~1e-7 of the step (see the docstring).
    np.testing.assert_allclose(out[path[0]][path[1]], np_gate(u, w, 1.35),
                               rtol=1e-6, atol=3e-7 * np.abs(u).max())
  # 1-D leaves (BatchNorm) are not metaplastic by default.
  chex.assert_trees_all_equal(out['bn'], updates['bn'])
  # Both branches were exercised.
  u, w = updates['dense']['kernel'], params['dense']['kernel']
  assert bool(jnp.any(u * w < 0)) and bool(jnp.any(u * w > 0))


def test_gate_only_attenuates_toward_zero():
  w = jnp.array([[1.0, 1.0, -1.0, -1.0]])
  u = jnp.array([[-0.5, 0.5, -0.5, 0.5]])
  tx = mpl_jax.scale_by_metaplasticity(2.0)
  out, _ = tx.update({'w': u}, tx.init({'w': w}), {'w': w})
  f = 1 - np.tanh(2.0) ** 2
  np.testing.assert_allclose(out['w'], [[-0.5 * f, 0.5, -0.5, 0.5 * f]],
                             rtol=1e-6)


def test_per_layer_meta_and_mask():
  params = _params(scale=2.0)
  updates = _grads(1, params)
  metas = {'dense': {'kernel': 0.5}, 'out': {'kernel': 3.0},
           'bn': {'scale': 0.0, 'bias': 0.0}}
  tx = mpl_jax.scale_by_metaplasticity(metas)
  out, _ = tx.update(updates, tx.init(params), params)
  for name, m in (('out', 3.0), ('dense', 0.5)):
    u = updates[name]['kernel']
    np.testing.assert_allclose(
        out[name]['kernel'], np_gate(u, params[name]['kernel'], m),
        rtol=1e-6, atol=3e-7 * np.abs(u).max())
  # A mask that selects only the output layer.
  mask = {'dense': {'kernel': False}, 'out': {'kernel': True},
          'bn': {'scale': False, 'bias': False}}
  tx = mpl_jax.scale_by_metaplasticity(1.0, mask=mask)
  out, _ = tx.update(updates, tx.init(params), params)
  chex.assert_trees_all_equal(out['dense'], updates['dense'])
  assert not np.allclose(out['out']['kernel'], updates['out']['kernel'])


def test_bad_trees_raise_clear_errors():
  params = _params()
  with pytest.raises(ValueError, match='mask'):
    mpl_jax.scale_by_metaplasticity(1.0, mask={'dense': True}).init(params)
  with pytest.raises(ValueError, match='meta'):
    mpl_jax.scale_by_metaplasticity({'dense': 1.0}).init(params)
  with pytest.raises(ValueError, match='eps_placement'):
    mpl_jax.metaplastic_adam(0.1, 1.0, eps_placement='keras')


def _run(tx, params, steps, **extra):
  state = tx.init(params)
  for i in range(steps):
    u, state = tx.update(_grads(i, params), state, params, **extra)
    params = optax.apply_updates(params, u)
  return params, state


def test_meta_zero_is_plain_adam_bit_for_bit():
  params = _params()
  plain = optax.chain(optax.add_decayed_weights(1e-4), optax.scale_by_adam(),
                      optax.scale_by_learning_rate(0.01))
  p_plain, _ = _run(plain, params, 20)
  p_meta, _ = _run(mpl_jax.metaplastic_adam(0.01, 0.0, weight_decay=1e-4),
                   params, 20)
  chex.assert_trees_all_equal(p_plain, p_meta)
  # and a positive meta does change the trajectory
  p_on, _ = _run(mpl_jax.metaplastic_adam(0.01, 1.35, weight_decay=1e-4),
                 params, 20)
  assert not np.allclose(p_on['dense']['kernel'], p_plain['dense']['kernel'])


def np_reference_adam_meta(params, grads_seq, lr, meta, wd, b1=0.9, b2=0.999,
                           eps=1e-8):
  """The reference code's Adam_meta step (PyTorch), in float64 numpy."""
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  m = {k: np.zeros_like(v) for k, v in p.items()}
  v = {k: np.zeros_like(x) for k, x in p.items()}
  for t, grads in enumerate(grads_seq, start=1):
    for k in p:
      g = np.asarray(grads[k], np.float64) + wd * p[k]
      m[k] = b1 * m[k] + (1 - b1) * g
      v[k] = b2 * v[k] + (1 - b2) * g * g
      denom = np.sqrt(v[k]) + eps
      step = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
      if p[k].ndim == 1:
        p[k] = p[k] - step * m[k] / denom
      else:
        consolidate = np.sign(p[k]) * m[k] > 0
        decayed = (1 - np.tanh(meta * np.abs(p[k])) ** 2) * m[k]
        p[k] = p[k] - step * np.where(consolidate, decayed, m[k]) / denom
  return p


@pytest.mark.parametrize('placement', ['pytorch', 'optax'])
def test_adam_meta_matches_reference_over_many_steps(placement):
  key = jax.random.PRNGKey(5)
  params = {'w': 0.3 * jax.random.normal(key, (6, 4)),
            'b': 0.1 * jax.random.normal(jax.random.fold_in(key, 1), (4,))}
  steps = 200
  grads_seq = [
      {k: np.asarray(g) for k, g in _grads(i, params).items()}
      for i in range(steps)]
  ref = np_reference_adam_meta(params, grads_seq, lr=0.005, meta=1.35,
                               wd=1e-7)
  tx = mpl_jax.metaplastic_adam(0.005, 1.35, weight_decay=1e-7,
                                eps_placement=placement)
  state = tx.init(params)
  p = params
  for g in grads_seq:
    g = jax.tree.map(jnp.asarray, g)
    u, state = tx.update(g, state, p)
    p = optax.apply_updates(p, u)
  for k in ref:
    np.testing.assert_allclose(p[k], ref[k], rtol=2e-5, atol=2e-6)


def test_gate_after_other_transforms_matches_numpy_reference():
  params = _params(scale=2.0)
  grads = _grads(0, params)
  gate = mpl_jax.scale_by_metaplasticity(1.35)
  # chain with clipping before
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.scale(-0.1), gate)
  out, _ = tx.update(grads, tx.init(params), params)
  clipped, _ = optax.clip_by_global_norm(1.0).update(grads, None)
  expected = jax.tree.map(lambda g: -0.1 * g, clipped)
  np.testing.assert_allclose(
      out['out']['kernel'],
      np_gate(expected['out']['kernel'], params['out']['kernel'], 1.35),
      rtol=1e-5, atol=1e-7)


def test_dtype_preserved():
  params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), _params())
  grads = jax.tree.map(lambda x: x.astype(jnp.bfloat16), _grads(0, params))
  tx = mpl_jax.scale_by_metaplasticity(1.35)
  out, _ = tx.update(grads, tx.init(params), params)
  chex.assert_trees_all_equal_dtypes(out, grads)
