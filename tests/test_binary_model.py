"""Tests of the binarized and full-precision MLPs (mpl_jax.models.binary)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mpl_jax.models import binary

SIZES = (6, 5, 4, 3)


def _x(n=8, seed=0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=(n, SIZES[0])),
                     jnp.float32)


def _pure(state):
  return nnx.to_pure_dict(state)


def test_sign_forward_and_straight_through_gradient():
  w = jnp.asarray(np.random.default_rng(1).normal(size=1000) * 3,
                  jnp.float32)
  w = w.at[:2].set(jnp.array([0.0, 1e8]))
  np.testing.assert_array_equal(binary.sign_ste(w), jnp.sign(w))
  c = jnp.arange(1000, dtype=jnp.float32)
  # d/dw sum(c * sign_ste(w)) = c: the identity straight-through estimator.
  np.testing.assert_array_equal(
      jax.grad(lambda w: jnp.sum(c * binary.sign_ste(w)))(w), c)


def test_sign_activation_and_hardtanh_gradient_window():
  x = jnp.array([-1e8, -2.0, -1.0, -0.999, -0.3, 0.0, 0.3, 0.999, 1.0, 2.0,
                 1e8])
  np.testing.assert_array_equal(binary.sign_hardtanh(x), jnp.sign(x))
  grad = jax.grad(lambda x: jnp.sum(binary.sign_hardtanh(x)))(x)
  # 1 inside the closed window |x| <= 1, 0 outside.
  np.testing.assert_array_equal(grad, [0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0])
  many = jnp.asarray(np.random.default_rng(2).normal(size=10000) * 2,
                     jnp.float32)
  np.testing.assert_array_equal(binary.sign_hardtanh(many), jnp.sign(many))


def test_binary_mlp_has_no_biases_and_one_norm_per_layer():
  model = binary.BinaryMLP(SIZES, rngs=nnx.Rngs(0))
  _, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, stats = _pure(params), _pure(stats)
  assert set(params) == {'layers', 'norms'}
  for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
    assert set(params['layers'][i]) == {'kernel'}  # no bias
    assert params['layers'][i]['kernel'].shape == (n_in, n_out)
    assert set(params['norms'][i]) == {'scale', 'bias'}
    assert set(stats['norms'][i]) == {'mean', 'var'}
  # Hidden weights start U(-0.05, 0.05).
  k = params['layers'][0]['kernel']
  assert 0 < np.abs(k).max() <= 0.05


def _np_batchnorm(h, scale, bias, eps=1e-5):
  mean = h.mean(0)
  var = h.var(0)  # biased, as BatchNorm normalises with
  return (h - mean) / np.sqrt(var + eps) * scale + bias


def test_binary_mlp_forward_layer_order():
  model = binary.BinaryMLP(SIZES, rngs=nnx.Rngs(0))
  params = _pure(nnx.state(model, nnx.Param))
  # Non-trivial BN affine parameters, to see where they act.
  rng = np.random.default_rng(3)
  for norm in params['norms'].values():
    norm['scale'] = rng.uniform(0.5, 2.0, norm['scale'].shape)
    norm['bias'] = rng.normal(size=norm['bias'].shape)
  state = nnx.state(model, nnx.Param)
  nnx.replace_by_pure_dict(state, jax.tree.map(jnp.asarray, params))
  nnx.update(model, state)
  x = _x()
  # numpy: real input -> (x @ sign(W) -> BN -> sign) per hidden layer ->
  # x @ sign(W) -> BN (logits); batch statistics (train, and 'batch' eval).
  h = np.asarray(x, np.float64)
  n = len(SIZES) - 1
  for i in range(n):
    w = np.sign(np.asarray(params['layers'][i]['kernel'], np.float64))
    norm = params['norms'][i]
    h = _np_batchnorm(h @ w, np.asarray(norm['scale']),
                      np.asarray(norm['bias']))
    if i < n - 1:
      h = np.sign(h)
  np.testing.assert_allclose(model(x, train=True), h, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(model(x), h, rtol=1e-4, atol=1e-4)


def test_running_statistics_at_eval():
  model = binary.BinaryMLP(SIZES, bn_eval='running', rngs=nnx.Rngs(0))
  x = _x()
  # Fresh running averages (mean 0, var 1): the last layer's logits are
  # (h @ sign(W)) / sqrt(1 + eps) with h the sign of the previous layer.
  params = _pure(nnx.state(model, nnx.Param))
  h = np.asarray(x, np.float64)
  for i in range(len(SIZES) - 1):
    h = (h @ np.sign(np.asarray(params['layers'][i]['kernel'])))
    h = h / np.sqrt(1 + 1e-5)
    if i < len(SIZES) - 2:
      h = np.sign(h)
  np.testing.assert_allclose(model(x), h, rtol=1e-4, atol=1e-4)
  before = _pure(nnx.state(model, nnx.BatchStat))
  model(x, train=True)  # a training call updates the running averages
  after = _pure(nnx.state(model, nnx.BatchStat))
  assert not np.allclose(before['norms'][0]['mean'],
                         after['norms'][0]['mean'])


def test_hidden_weight_gradient_is_the_binary_weight_gradient():
  model = binary.BinaryMLP(SIZES, rngs=nnx.Rngs(0))
  graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, stats = nnx.as_pure(params), nnx.as_pure(stats)  # as the trainer
  x, y = _x(), jnp.arange(8) % SIZES[-1]

  def loss(params):
    logits = nnx.merge(graphdef, params, stats)(x, train=True)
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(8), y])

  grads = _pure(jax.jit(jax.grad(loss))(params))

  # The same network with W_b = sign(W_h) as plain inputs: d loss / d W_b.
  pure = _pure(params)
  signs = [jnp.sign(pure['layers'][i]['kernel'])
           for i in range(len(SIZES) - 1)]

  def loss_b(signs):
    h = x
    for i, w in enumerate(signs):
      norm = pure['norms'][i]
      z = h @ w
      mean, var = z.mean(0), z.var(0)
      z = (z - mean) / jnp.sqrt(var + 1e-5) * norm['scale'] + norm['bias']
      h = binary.sign_hardtanh(z) if i < len(signs) - 1 else z
    return -jnp.mean(jax.nn.log_softmax(h)[jnp.arange(8), y])

  grads_b = jax.jit(jax.grad(loss_b))(signs)
  for i, g in enumerate(grads_b):
    np.testing.assert_allclose(grads['layers'][i]['kernel'], g, rtol=1e-5,
                               atol=1e-6)
  assert all(np.abs(g).max() > 0 for g in grads_b)


def test_full_precision_mlp():
  model = binary.MLP(SIZES, rngs=nnx.Rngs(0))
  params = _pure(nnx.state(model, nnx.Param))
  assert all(set(params['layers'][i]) == {'kernel'} for i in range(3))
  x = _x()
  h = np.asarray(x, np.float64)
  for i in range(3):
    norm = params['norms'][i]
    h = _np_batchnorm(h @ np.asarray(params['layers'][i]['kernel']),
                      np.asarray(norm['scale']), np.asarray(norm['bias']))
    if i < 2:
      h = np.maximum(h, 0)
  np.testing.assert_allclose(model(x, train=True), h, rtol=1e-4, atol=1e-5)

  # Without BatchNorm: biased dense layers and ReLU, no norms.
  plain = binary.MLP(SIZES, use_bn=False, kernel_init='glorot_normal',
                     rngs=nnx.Rngs(0))
  params = _pure(nnx.state(plain, nnx.Param))
  assert set(params) == {'layers'}
  h = np.asarray(x, np.float64)
  for i in range(3):
    layer = params['layers'][i]
    assert not np.any(layer['bias'])  # zero biases
    h = h @ np.asarray(layer['kernel']) + np.asarray(layer['bias'])
    if i < 2:
      h = np.maximum(h, 0)
  np.testing.assert_allclose(plain(x), h, rtol=1e-5, atol=1e-5)
  assert not nnx.state(plain, nnx.BatchStat)


@pytest.mark.parametrize('make', [
    lambda: binary.BinaryMLP((6,), rngs=nnx.Rngs(0)),
    lambda: binary.BinaryMLP((6, 0, 3), rngs=nnx.Rngs(0)),
    lambda: binary.BinaryMLP((6, 3), bn_eval='ema', rngs=nnx.Rngs(0)),
    lambda: binary.MLP((6, 3), kernel_init='he', rngs=nnx.Rngs(0)),
])
def test_bad_configuration_raises(make):
  with pytest.raises(ValueError):
    make()


def test_bn_scale_init_option():
  from flax import nnx  # pylint: disable=g-import-not-at-top
  ones = binary.BinaryMLP((20, 16, 4), rngs=nnx.Rngs(0))
  unif = binary.BinaryMLP((20, 16, 4), bn_scale_init='uniform',
                          rngs=nnx.Rngs(0))
  for a, b in zip(ones.norms, unif.norms):
    np.testing.assert_array_equal(np.asarray(a.scale[...]), 1.0)
    s = np.asarray(b.scale[...])
    assert (s >= 0).all() and (s < 1).all() and s.std() > 0.1
  # The weights are drawn as before: only the BN scales differ.
  for a, b in zip(ones.layers, unif.layers):
    np.testing.assert_array_equal(np.asarray(a.kernel[...]),
                                  np.asarray(b.kernel[...]))
  with pytest.raises(ValueError, match='bn_scale_init must be one of'):
    binary.BinaryMLP((4, 2), bn_scale_init='normal', rngs=nnx.Rngs(0))
