"""Quantized (multi-level) MLP with hidden float weights (Flax NNX).

The multi-level generalisation of the binarized MLP (D'Agostino et al.,
AICAS 2023): each weight has a float hidden value ``W_h`` (an ``nnx.Param``,
what the optimizer updates) and the forward pass reads
``W_q = nearest level of W_h`` among ``L`` sorted levels (a multi-level
memristor). The gradient with respect to ``W_q`` reaches ``W_h`` unchanged
(straight-through, ``W_h + stop_gradient(W_q - W_h)``); hidden weights are
never clipped.

Optionally the read weight carries device noise, ``W_read = W_q + sigma *
eps`` with ``eps ~ N(0, 1)`` drawn anew at every forward pass that gets an
``rng`` (a read-noise model, SPEC-more §1 [P]; noise frozen per programming
event is not modelled). Without ``rng`` the forward pass is noiseless.

The layers are those of :class:`mpl_jax.models.binary.BinaryMLP`
(``Dense(no bias) -> BatchNorm -> activation``, last layer ``Dense ->
BatchNorm``); with ``levels=(-1, 1)`` and ``activation='sign'`` the model is
the binarized MLP, bit for bit (tested).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from mpl_jax.models import binary
from mpl_jax.rules import multilevel

ACTIVATIONS = {
    'sign': binary.sign_hardtanh,     # BNN: sign forward, hardtanh' backward
    'hardtanh': lambda x: jnp.clip(x, -1.0, 1.0),
    'relu': jax.nn.relu,
}


def quantize_ste(w: jax.Array, levels: Sequence[float]) -> jax.Array:
  """Nearest level forward, identity gradient (straight-through)."""
  return w + jax.lax.stop_gradient(multilevel.nearest_level(w, levels) - w)


class QuantizedDense(nnx.Module):
  """A bias-free dense layer whose forward pass reads quantized weights.

  Args:
    in_features: input width.
    out_features: output width.
    levels: sorted quantization levels (static), e.g.
      ``mpl_jax.rules.multilevel.uniform_levels(4)``.
    init_scale: hidden weights start ``U(-init_scale, init_scale)``.
    noise_std: standard deviation of the device read noise added to the
      quantized weight when ``rng`` is given (0: none).
    rngs: ``nnx.Rngs`` for the weight init.
  """

  def __init__(self, in_features: int, out_features: int, *,
               levels: Sequence[float], init_scale: float = 0.05,
               noise_std: float = 0.0, rngs: nnx.Rngs):
    self.levels = multilevel.check_levels(levels)
    self.noise_std = float(noise_std)
    if self.noise_std < 0:
      raise ValueError(f'noise_std must be >= 0, got {noise_std}.')
    self.kernel = nnx.Param(binary.uniform_init(init_scale)(
        rngs.params(), (in_features, out_features)))

  def read_weight(self, rng: jax.Array | None = None) -> jax.Array:
    """The weight the forward pass uses (quantized, noisy if ``rng``)."""
    w = quantize_ste(self.kernel[...], self.levels)
    if self.noise_std > 0 and rng is not None:
      w = w + self.noise_std * jax.random.normal(rng, w.shape, w.dtype)
    return w

  def __call__(self, x: jax.Array, *, rng: jax.Array | None = None
               ) -> jax.Array:
    return x @ self.read_weight(rng)


class QuantizedMLP(binary._NormedMLP):  # pylint: disable=protected-access
  """Quantized-weight MLP: ``QuantizedDense -> BatchNorm -> activation``.

  Args:
    sizes: layer widths ``(in, hidden..., out)``.
    levels: sorted quantization levels (static; default binary ``(-1, 1)``).
      Give the optimizer the same levels
      (``multilevel_metaplastic_adam(levels=...)``).
    activation: ``'sign'`` (default: binarized activations with the hardtanh
      straight-through gradient, as the BNN), ``'hardtanh'`` or ``'relu'``.
      The activation of the paper's QNN is not public ([U]).
    noise_std: device read noise on the quantized weights (see module doc).
    init_scale: hidden weights start ``U(-init_scale, init_scale)``. With an
      odd number of levels (0 is a level) a scale below half the first level
      spacing makes every weight read 0 at the start.
    bn_eval: ``'batch'`` or ``'running'`` (as :class:`BinaryMLP`).
    bn_momentum: BatchNorm running-average momentum (Flax convention).
    bn_epsilon: BatchNorm epsilon.
    rngs: ``nnx.Rngs`` for the weight init.

  Call: ``model(x, *, train=False, rng=None) -> logits [B, C]``; ``rng``
  (split per layer) draws the read noise when ``noise_std > 0``.

  References:
    D'Agostino et al., "Synaptic metaplasticity with multi-level memristive
    devices", IEEE AICAS 2023. https://arxiv.org/abs/2306.12142
  """

  def __init__(self, sizes: Sequence[int], *,
               levels: Sequence[float] = (-1.0, 1.0),
               activation: str = 'sign', noise_std: float = 0.0,
               init_scale: float = 0.05, bn_eval: str = 'batch',
               bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
               rngs: nnx.Rngs):
    if activation not in ACTIVATIONS:
      raise ValueError(f'activation must be one of {sorted(ACTIVATIONS)}, '
                       f'got {activation!r}.')
    self.levels = multilevel.check_levels(levels)
    self.activation = activation
    self.noise_std = float(noise_std)
    self.init_scale = init_scale
    super().__init__(sizes, bn_eval=bn_eval, bn_momentum=bn_momentum,
                     bn_epsilon=bn_epsilon, rngs=rngs)

  def _make_dense(self, i, o, rngs):
    return QuantizedDense(i, o, levels=self.levels,
                          init_scale=self.init_scale,
                          noise_std=self.noise_std, rngs=rngs)

  def _activation(self, x):
    return ACTIVATIONS[self.activation](x)

  def __call__(self, x: jax.Array, *, train: bool = False,
               rng: jax.Array | None = None) -> jax.Array:
    use_running = (not train) and self.bn_eval == 'running'
    n = len(self.layers)
    for i, (dense, norm) in enumerate(zip(self.layers, self.norms)):
      key = None if rng is None else jax.random.fold_in(rng, i)
      x = norm(dense(x, rng=key), use_running_average=use_running)
      if i < n - 1:
        x = self._activation(x)
    return x
