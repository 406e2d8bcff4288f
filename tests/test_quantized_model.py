"""Tests of the quantized (multi-level) MLP."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import mpl_jax
from mpl_jax.models import binary
from mpl_jax.models import quantized
from mpl_jax.train import models as models_lib

LEVELS4 = mpl_jax.rules.multilevel.uniform_levels(4)


def _x(n=16, d=12, seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), (n, d))


def _loss_and_grads(model, x, y, rng=None):
  graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, stats = nnx.as_pure(params), nnx.as_pure(stats)  # as the trainer

  def loss(p, s):
    m = nnx.merge(graphdef, p, s)
    logits = m(x, train=True, rng=rng)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  return jax.jit(jax.value_and_grad(loss))(params, stats)


def test_two_levels_and_sign_is_the_binary_mlp_bit_for_bit():
  x, y = _x(), jnp.arange(16) % 3
  bnn = binary.BinaryMLP((12, 20, 3), rngs=nnx.Rngs(4))
  qnn = quantized.QuantizedMLP((12, 20, 3), levels=(-1.0, 1.0),
                               activation='sign', rngs=nnx.Rngs(4))
  chex.assert_trees_all_equal(nnx.state(bnn, nnx.Param).to_pure_dict(),
                              nnx.state(qnn, nnx.Param).to_pure_dict())
  np.testing.assert_array_equal(nnx.jit(lambda m, x: m(x))(bnn, x),
                                nnx.jit(lambda m, x: m(x))(qnn, x))
  lb, gb = _loss_and_grads(bnn, x, y)
  lq, gq = _loss_and_grads(qnn, x, y)
  assert lb == lq
  chex.assert_trees_all_equal(gb, gq)


def test_forward_reads_nearest_levels_and_gradient_is_straight_through():
  layer = quantized.QuantizedDense(12, 7, levels=LEVELS4, init_scale=1.2,
                                   rngs=nnx.Rngs(0))
  x = _x()
  w = np.asarray(layer.kernel[...])
  lv = np.asarray(LEVELS4)
  wq = lv[np.argmin(np.abs(w[..., None] - lv), axis=-1)]
  assert len(np.unique(wq)) == 4  # every level used
  np.testing.assert_allclose(layer(x), np.asarray(x) @ wq, rtol=1e-5,
                             atol=1e-6)
  # d/dW_h sum(c * (x @ W_q)) = x^T c  (identity through the quantizer).
  c = jax.random.normal(jax.random.PRNGKey(1), (16, 7))
  graphdef, params = nnx.split(layer, nnx.Param)
  g = jax.grad(lambda p: jnp.sum(c * nnx.merge(graphdef, p)(x)))(params)
  np.testing.assert_allclose(g['kernel'][...], np.asarray(x).T @ np.asarray(c),
                             rtol=1e-5, atol=1e-5)


def test_read_noise_needs_rng_and_has_the_given_std():
  layer = quantized.QuantizedDense(50, 40, levels=LEVELS4, noise_std=0.1,
                                   rngs=nnx.Rngs(0))
  eye = jnp.eye(50)
  clean = layer(eye)
  np.testing.assert_array_equal(clean, layer(eye))  # no rng: no noise
  noisy = layer(eye, rng=jax.random.PRNGKey(3))
  np.testing.assert_array_equal(noisy, layer(eye, rng=jax.random.PRNGKey(3)))
  assert not np.array_equal(noisy, layer(eye, rng=jax.random.PRNGKey(4)))
  diff = np.asarray(noisy - clean)
  assert abs(diff.std() - 0.1) < 0.01 and abs(diff.mean()) < 0.01
  # The model splits the key per layer: two layers draw different noise.
  model = quantized.QuantizedMLP((50, 50, 50), levels=LEVELS4, noise_std=0.1,
                                 activation='relu', rngs=nnx.Rngs(0))
  a = model.layers[0].read_weight(jax.random.fold_in(jax.random.PRNGKey(0), 0))
  b = model.layers[1].read_weight(jax.random.fold_in(jax.random.PRNGKey(0), 1))
  assert not np.allclose(a - model.layers[0].read_weight(),
                         b - model.layers[1].read_weight())
  out = model(_x(8, 50), rng=jax.random.PRNGKey(0))
  assert not np.allclose(out, model(_x(8, 50)))


def test_registered_for_configs_and_trains_with_multilevel_rule():
  model = models_lib.build_model(
      {'name': 'quantized_mlp', 'levels': LEVELS4, 'activation': 'sign',
       'init_scale': 0.5}, (12, 32, 3), nnx.Rngs(0))
  assert isinstance(model, quantized.QuantizedMLP)
  # A few steps of the multi-level metaplastic optimizer lower the loss.
  x = _x(64)
  y = (x[:, 0] > x[:, 1]).astype(jnp.int32) + (x[:, 2] > 0.5)
  graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, stats = nnx.as_pure(params), nnx.as_pure(stats)
  tx = mpl_jax.multilevel_metaplastic_adam(0.02, 1.0, levels=LEVELS4,
                                           form='interval')
  state = tx.init(params)

  @jax.jit
  def step(params, state, stats):
    def loss(p):
      logits = nnx.merge(graphdef, p, stats)(x, train=True)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    value, g = jax.value_and_grad(loss)(params)
    u, state = tx.update(g, state, params)
    return optax.apply_updates(params, u), state, value

  losses = []
  for _ in range(60):
    params, state, value = step(params, state, stats)
    losses.append(float(value))
  assert losses[-1] < 0.8 * losses[0]


def test_bad_arguments():
  with pytest.raises(ValueError, match='activation'):
    quantized.QuantizedMLP((4, 3), activation='tanh', rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match='levels'):
    quantized.QuantizedMLP((4, 3), levels=(1.0, 0.0), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match='noise_std'):
    quantized.QuantizedDense(4, 3, levels=LEVELS4, noise_std=-1.0,
                             rngs=nnx.Rngs(0))
