"""Binarized and full-precision MLPs (Flax NNX) for metaplasticity experiments.

The binarized MLP follows Laborieux et al. (2021):

* weights: forward uses ``W_b = sign(W_h)``; the gradient with respect to
  ``W_b`` reaches the hidden weight ``W_h`` unchanged (identity
  straight-through, ``W_h + stop_gradient(sign(W_h) - W_h)``). Hidden weights
  are never clipped.
* activations: forward ``sign(x)``; backward passes the gradient where
  ``|x| <= 1`` (derivative of hardtanh).
* the input layer sees real-valued pixels (the input is not binarized);
* each hidden layer is ``Dense(no bias) -> BatchNorm -> sign``, the output layer
  ``Dense(no bias) -> BatchNorm``.

BatchNorm at test time uses the statistics of the evaluated batch by default
(``bn_eval='batch'``, as the reference's ``track_running_stats=False``), or the
running averages (``bn_eval='running'``).

Both models share the call signature of every mpl_jax model:
``model(x, *, train=False, rng=None) -> logits [B, C]``.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

BN_EVAL_MODES = ('batch', 'running')


def sign_ste(w: jax.Array) -> jax.Array:
  """``sign(w)`` forward, identity gradient (straight-through estimator).

  Written ``sign(w) + (w - w)`` (the second term without a forward value):
  exactly ``sign(w)`` for every ``w``, where ``w + (sign(w) - w)`` rounds to
  0 once ``|w| >= 2**24`` in float32.
  """
  return jax.lax.stop_gradient(jnp.sign(w)) + (w - jax.lax.stop_gradient(w))


def sign_hardtanh(x: jax.Array) -> jax.Array:
  """``sign(x)`` forward; gradient 1 where ``|x| <= 1``, else 0 (hardtanh').

  The window is closed, as in the reference (``|x| = 1`` passes the whole
  gradient; ``jnp.clip``'s derivative would give it one half).
  """
  window = jnp.where(jnp.abs(x) <= 1.0, x, 0.0)  # differentiable inside
  return jax.lax.stop_gradient(jnp.sign(x)) + (
      window - jax.lax.stop_gradient(window))


KERNEL_INITS = ('uniform', 'glorot_normal', 'fan_in')
BN_SCALE_INITS = ('ones', 'uniform')


def uniform_unit_init(key, shape, dtype=jnp.float32):
  """``U(0, 1)``: PyTorch < 1.2's BatchNorm scale initialisation."""
  return jax.random.uniform(key, shape, dtype, 0.0, 1.0)


def uniform_init(scale: float):
  """Initializer ``U(-scale, scale)`` (the reference uses 0.05)."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)

  return init


class BinaryDense(nnx.Module):
  """A bias-free dense layer whose forward pass uses ``sign(kernel)``."""

  def __init__(self, in_features: int, out_features: int, *,
               init_scale: float = 0.05, rngs: nnx.Rngs):
    self.kernel = nnx.Param(
        uniform_init(init_scale)(rngs.params(), (in_features, out_features)))

  def __call__(self, x: jax.Array) -> jax.Array:
    return x @ sign_ste(self.kernel[...])


def _check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
  sizes = tuple(int(s) for s in sizes)
  if len(sizes) < 2 or any(s <= 0 for s in sizes):
    raise ValueError(
        f'sizes must list >= 2 positive layer widths (input ... output), got '
        f'{sizes}.')
  return sizes


class _NormedMLP(nnx.Module):
  """Shared body: Dense -> BatchNorm -> activation, last layer without it."""

  def __init__(self, sizes, *, bn_eval, bn_momentum, bn_epsilon, rngs,
               bn_scale_init='ones'):
    sizes = _check_sizes(sizes)
    if bn_eval not in BN_EVAL_MODES:
      raise ValueError(f'bn_eval must be one of {BN_EVAL_MODES}, got '
                       f'{bn_eval!r}.')
    if bn_scale_init not in BN_SCALE_INITS:
      raise ValueError(f'bn_scale_init must be one of {BN_SCALE_INITS}, got '
                       f'{bn_scale_init!r}.')
    scale_init = (nnx.initializers.ones_init() if bn_scale_init == 'ones'
                  else uniform_unit_init)
    self.sizes = sizes
    self.bn_eval = bn_eval
    self.layers = nnx.List([
        self._make_dense(i, o, rngs) for i, o in zip(sizes[:-1], sizes[1:])])
    self.norms = nnx.List([
        nnx.BatchNorm(o, momentum=bn_momentum, epsilon=bn_epsilon,
                      scale_init=scale_init, rngs=rngs)
        for o in sizes[1:]])

  def _make_dense(self, i, o, rngs):
    raise NotImplementedError

  def _activation(self, x):
    raise NotImplementedError

  def __call__(self, x: jax.Array, *, train: bool = False,
               rng: jax.Array | None = None) -> jax.Array:
    del rng  # deterministic model
    use_running = (not train) and self.bn_eval == 'running'
    n = len(self.layers)
    for i, (dense, norm) in enumerate(zip(self.layers, self.norms)):
      x = norm(dense(x), use_running_average=use_running)
      if i < n - 1:
        x = self._activation(x)
    return x


class BinaryMLP(_NormedMLP):
  """Binarized MLP of Laborieux et al. (2021): sign weights and activations.

  Args:
    sizes: layer widths ``(in, hidden..., out)``, e.g. ``(784, 4096, 4096,
      10)``.
    init_scale: hidden weights start ``U(-init_scale, init_scale)`` (0.05).
    bn_eval: ``'batch'`` (reference: batch statistics at test time) or
      ``'running'`` (running averages).
    bn_momentum: running-average momentum in Flax's convention (0.9 equals
      PyTorch's 0.1).
    bn_epsilon: BatchNorm epsilon (PyTorch default 1e-5).
    bn_scale_init: ``'ones'`` (default; PyTorch >= 1.2, Flax) or
      ``'uniform'``: BatchNorm scales start ``U(0, 1)``, as under the PyTorch
      1.1.0 that the reference code pins.
    rngs: ``nnx.Rngs`` for the weight init.

  References:
    Laborieux, Ernoult, Hirtzlin, Querlioz, "Synaptic metaplasticity in
    binarized neural networks", Nature Communications 12:2549, 2021.
  """

  def __init__(self, sizes: Sequence[int], *, init_scale: float = 0.05,
               bn_eval: str = 'batch', bn_momentum: float = 0.9,
               bn_epsilon: float = 1e-5, bn_scale_init: str = 'ones',
               rngs: nnx.Rngs):
    self.init_scale = init_scale
    super().__init__(sizes, bn_eval=bn_eval, bn_momentum=bn_momentum,
                     bn_epsilon=bn_epsilon, rngs=rngs,
                     bn_scale_init=bn_scale_init)

  def _make_dense(self, i, o, rngs):
    return BinaryDense(i, o, init_scale=self.init_scale, rngs=rngs)

  def _activation(self, x):
    return sign_hardtanh(x)


class MLP(_NormedMLP):
  """Full-precision control: ``Dense(no bias) -> BatchNorm -> ReLU`` layers.

  Same arguments as :class:`BinaryMLP`; weights start ``U(-init_scale,
  init_scale)`` so both nets begin from the same distribution. With
  ``use_bn=False`` the layers are ``Dense(with bias) -> ReLU`` (a plain MLP,
  e.g. for online learning at batch size 1, where batch statistics are
  meaningless).

  Extra args:
    use_bn: BatchNorm after each layer (default True).
    use_bias: biases in the dense layers; None (default): only without
      BatchNorm.
    kernel_init: ``'uniform'`` (``U(-init_scale, init_scale)``),
      ``'glorot_normal'`` (zero biases; the item-learning reference) or
      ``'fan_in'`` (``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights and
      biases: PyTorch's ``nn.Linear`` and Equinox's ``Linear`` default, the
      MESU and complex-synapses references' baselines).
  """

  def __init__(self, sizes: Sequence[int], *, init_scale: float = 0.05,
               bn_eval: str = 'batch', bn_momentum: float = 0.9,
               bn_epsilon: float = 1e-5, use_bn: bool = True,
               use_bias: bool | None = None, kernel_init: str = 'uniform',
               rngs: nnx.Rngs):
    if kernel_init not in KERNEL_INITS:
      raise ValueError(f'kernel_init must be one of {KERNEL_INITS}, got '
                       f'{kernel_init!r}.')
    self.init_scale = init_scale
    self.use_bn = use_bn
    self.use_bias = (not use_bn) if use_bias is None else bool(use_bias)
    self.kernel_init = kernel_init
    super().__init__(sizes, bn_eval=bn_eval, bn_momentum=bn_momentum,
                     bn_epsilon=bn_epsilon, rngs=rngs)
    if not use_bn:
      self.norms = nnx.List([])

  def _make_dense(self, i, o, rngs):
    bias_init = nnx.initializers.zeros_init()
    if self.kernel_init == 'uniform':
      init = uniform_init(self.init_scale)
    elif self.kernel_init == 'glorot_normal':
      init = nnx.initializers.glorot_normal()
    else:
      init = bias_init = uniform_init(1.0 / float(i) ** 0.5)
    return nnx.Linear(i, o, use_bias=self.use_bias, kernel_init=init,
                      bias_init=bias_init, rngs=rngs)

  def _activation(self, x):
    return jax.nn.relu(x)

  def __call__(self, x: jax.Array, *, train: bool = False,
               rng: jax.Array | None = None) -> jax.Array:
    if self.use_bn:
      return super().__call__(x, train=train, rng=rng)
    for i, dense in enumerate(self.layers):
      x = dense(x)
      if i < len(self.layers) - 1:
        x = self._activation(x)
    return x
