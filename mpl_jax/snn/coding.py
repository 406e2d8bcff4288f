r"""Poisson rate coding of images into spike trains.

Pixel ``x_i`` (in ``[0, 1]`` after the config's scaling) becomes a Bernoulli
spike train with, at each step of length ``dt``, spike probability

.. math::

  p_i = \min(1, \max(0, x_i \cdot f_{max} \cdot dt)),

i.e. a Poisson process of rate ``x_i f_max`` sampled on the time grid, as in
the reference eRBP code (``MaxF = 250`` Hz, ``dt = 1`` ms, 150 steps:
``freqs = im * MaxF * dt``; ``spike = rand <= freq``). Rates are in Hz and
``dt`` in milliseconds.

Two samplers draw the same distribution: ``'threefry'``
(``jax.random.uniform``) and ``'counter'`` (:mod:`mpl_jax.random`'s counter
hash, exact to ``2^-24`` in the probability and several times cheaper on
CPU, where drawing ``150 x 784`` uniforms per sample otherwise costs as much
as the network's matrix products).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from mpl_jax import random as mpl_random

SAMPLERS = ('threefry', 'counter')


def spike_probability(x: jax.Array, max_rate: Any, dt: Any) -> jax.Array:
  """``clip(x * max_rate[Hz] * dt[ms] / 1000, 0, 1)``."""
  return jnp.clip(x * (max_rate * dt * 1e-3), 0.0, 1.0)


def bernoulli_spikes(key: jax.Array, p: jax.Array, num_steps: int, *,
                     sampler: str = 'counter',
                     dtype=jnp.float32) -> jax.Array:
  """Time-major spike trains ``[num_steps, *p.shape]`` with probability ``p``.

  Args:
    key: PRNG key (raw ``uint32[2]`` or typed).
    p: per-neuron spike probability per step.
    num_steps: number of time steps ``T``.
    sampler: ``'counter'`` (default; fast on CPU) or ``'threefry'``.
    dtype: of the returned 0/1 spikes.

  Returns:
    ``[T, *p.shape]`` spikes as 0/1 values of ``dtype``.
  """
  shape = (int(num_steps),) + tuple(p.shape)
  if sampler == 'threefry':
    u = jax.random.uniform(key, shape)
    return (u < p).astype(dtype)
  if sampler == 'counter':
    probs = jnp.broadcast_to(p, shape).reshape(-1)
    return mpl_random.counter_bernoulli(key, probs, shape).astype(dtype)
  raise ValueError(f'sampler must be one of {SAMPLERS}, got {sampler!r}.')


def poisson_encode(key: jax.Array, x: jax.Array, *, max_rate: float = 250.0,
                   dt: float = 1.0, num_steps: int = 150,
                   sampler: str = 'counter', dtype=jnp.float32) -> jax.Array:
  """Encodes intensities ``x`` (``[..., D]`` in ``[0, 1]``) as spike trains.

  Args:
    key: PRNG key.
    x: intensities; values outside ``[0, 1]`` give probabilities clipped to
      ``[0, 1]`` (after scaling by ``max_rate * dt``).
    max_rate: the rate of an intensity of 1, in Hz (reference: 250).
    dt: time step in ms (reference: 1).
    num_steps: presentation length in steps (reference: 150, i.e. 150 ms).
    sampler: see :func:`bernoulli_spikes`.
    dtype: of the spikes.

  Returns:
    ``[num_steps, ..., D]`` 0/1 spikes.
  """
  return bernoulli_spikes(key, spike_probability(x, max_rate, dt), num_steps,
                          sampler=sampler, dtype=dtype)
