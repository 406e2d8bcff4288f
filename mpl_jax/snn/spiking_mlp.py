"""A Poisson-coded spiking MLP trained by surrogate gradients (a baseline).

The same network as the eRBP backbone of :mod:`mpl_jax.snn.erbp` (LIF
layers with the reference's constants, Poisson rate coding, read-out by
output spike counts), as a Flax NNX model with the library's call signature
``model(x, *, train=False, rng=None) -> logits [B, C]``: the logits are the
output spike counts over the presentation (times ``readout_scale``). With
``surrogate='fast_sigmoid'`` the spike nonlinearity has a fast-sigmoid
derivative, so the gradient rules of :mod:`mpl_jax.rules` (EWC, SI, the
metaplastic gate, ...) can train it with the ordinary trainer by
backpropagation through time.

**Deviation from TACOS**: TACOS learns with a local three-factor rule
(eRBP), never with backpropagated or surrogate gradients. This model exists
so that the regularisation baselines run on the same spiking network.

``x`` must be intensities in ``[0, 1]`` (the config's pixel scaling
``1/255``, mean 0, std 1). ``rng`` is required: it draws the input spikes.
"""

from __future__ import annotations

from typing import Sequence

import jax
from flax import nnx

from mpl_jax.snn import coding
from mpl_jax.snn import lif


class SpikingMLP(nnx.Module):
  """LIF layers ``(in, hidden..., out)`` read out by output spike counts.

  Args:
    sizes: layer widths, e.g. ``(784, 200, 2)``.
    num_steps: presentation length ``T`` in steps (reference: 150).
    max_rate: input rate of an intensity of 1, Hz (reference: 250).
    dt: time step in ms (reference: 1).
    init_scale: weights start ``U(-init_scale, init_scale)`` (reference:
      1, the span of its initial memristor levels).
    surrogate: ``'fast_sigmoid'`` (default) or ``'none'``.
    slope: fast-sigmoid steepness.
    readout_scale: logits are ``readout_scale * counts``.
    sampler: Poisson sampler (``'counter'`` or ``'threefry'``).
    rngs: for the weight init.

  References:
    Zenke, Ganguli, "SuperSpike: supervised learning in multilayer spiking
    neural networks", Neural Computation 30(6), 2018.
  """

  def __init__(self, sizes: Sequence[int], *, num_steps: int = 150,
               max_rate: float = 250.0, dt: float = 1.0,
               init_scale: float = 1.0, surrogate: str = 'fast_sigmoid',
               slope: float = 10.0, readout_scale: float = 1.0,
               sampler: str = 'counter', rngs: nnx.Rngs):
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
      raise ValueError(f'sizes must list >= 2 positive widths, got {sizes}.')
    if sampler not in coding.SAMPLERS:
      raise ValueError(f'sampler must be one of {coding.SAMPLERS}, got '
                       f'{sampler!r}.')
    self.sizes = sizes
    self.num_steps = int(num_steps)
    self.max_rate = float(max_rate)
    self.dt = float(dt)
    self.readout_scale = float(readout_scale)
    self.sampler = sampler
    n = len(sizes) - 1
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
      base = lif.OUTPUT if i == n - 1 else lif.HIDDEN
      layers.append(lif.LIFLayer(
          a, b, lif=base._replace(dt=self.dt), init_scale=init_scale,
          surrogate=surrogate, slope=slope, rngs=rngs))
    self.layers = nnx.List(layers)

  def __call__(self, x: jax.Array, *, train: bool = False,
               rng: jax.Array | None = None) -> jax.Array:
    del train
    if rng is None:
      raise ValueError('SpikingMLP needs `rng` (it draws the input spikes).')
    spikes = coding.poisson_encode(
        rng, x, max_rate=self.max_rate, dt=self.dt, num_steps=self.num_steps,
        sampler=self.sampler, dtype=x.dtype)
    for layer in self.layers:
      spikes = layer(spikes)
    return self.readout_scale * spikes.sum(0)
