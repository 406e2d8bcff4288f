r"""Leaky integrate-and-fire neurons with synaptic current (discrete time).

The neuron of the eRBP spiking networks of Kudithipudi's group (the backbone
that mpl_jax uses for TACOS, SPEC-more §2), one step of length ``dt``:

.. math::

  I_t &= I_{t-1} + \frac{dt}{\tau_{syn}} (d_t - I_{t-1})
      \qquad (d_t = W^\top s^{in}_t,\ \text{the synaptic drive}) \\
  V'_t &= \max\Big(V_{t-1} + \frac{dt}{\tau_m}\big((V_{rest} - V_{t-1})
      + R\, I_t\big),\ -\phi\, V_{th}\Big) \\
  V''_t &= V_{reset} \quad \text{if } t\,dt - t_{last} \le t_{ref}
      \quad \text{(refractory: held)}, \text{ else } V'_t \\
  s_t &= [V''_t \ge V_{th}], \qquad V_t = V_{reset} \text{ where } s_t,
      \qquad t_{last} = t\,dt \text{ where } s_t.

``t_last`` starts at ``-t_ref`` (so step 0 is refractory, as in the
reference code, where the last-spike times start at ``-t_refr``). The floor
``-phi V_th`` (``phi = 0.1``) bounds hyperpolarisation. Defaults
(:data:`HIDDEN`, :data:`OUTPUT`) are the reference's: hidden
``tau_syn = 10, tau_m = 15, R = 1, V_th = 1``; output ``tau_syn = 25,
tau_m = 25, R = 5, V_th = 2``; ``V_rest = V_reset = 0``, ``t_ref = 4``,
``dt = 1`` (milliseconds).

The spike nonlinearity is a Heaviside step. ``surrogate='fast_sigmoid'``
gives it the derivative ``1 / (1 + beta |V - V_th|)^2`` (SuperSpike's fast
sigmoid), and the voltage floor a straight-through gradient (a neuron held
at the floor would otherwise pass none and, silent, never recover), so that
a network of these neurons can be trained by backpropagation through time;
this is a *deviation* from TACOS (whose
learning rule is local, see :mod:`mpl_jax.snn.erbp`), offered so that the
gradient rules of the library can train the same spiking network as
baselines. ``surrogate='none'`` blocks gradients through the spikes.

References:
  Neftci, Augustine, Paul, Detorakis, "Event-driven random back-propagation:
  enabling neuromorphic deep learning machines", Frontiers in Neuroscience
  11:324, 2017. https://doi.org/10.3389/fnins.2017.00324
  Zohora, Karia, Soures, Kudithipudi, "Probabilistic metaplasticity for
  continual learning with memristors in spiking networks", 2024 (code:
  github.com/Nu-AI/Probabilistic-metaplasticity-for-continual-learning-with-
  memristors-in-spiking-networks). https://arxiv.org/abs/2403.08718
  Zenke, Ganguli, "SuperSpike: supervised learning in multilayer spiking
  neural networks", Neural Computation 30(6), 2018.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

SURROGATES = ('none', 'fast_sigmoid')


class LIFParams(NamedTuple):
  """Constants of a population of LIF neurons (times in units of ``dt``'s).

  Attributes:
    tau_syn: synaptic current time constant.
    tau_mem: membrane time constant.
    resistance: membrane resistance ``R`` (current -> voltage).
    threshold: firing threshold ``V_th``.
    v_rest: resting potential.
    v_reset: potential after a spike and during the refractory period (the
      reference sets 0 in both places).
    refractory: refractory period ``t_ref``; a neuron whose last spike is at
      most ``t_ref`` ago is held at ``v_reset``.
    floor: the potential is clipped below at ``-floor * threshold``.
    dt: the time step.
  """
  tau_syn: float = 10.0
  tau_mem: float = 15.0
  resistance: float = 1.0
  threshold: float = 1.0
  v_rest: float = 0.0
  v_reset: float = 0.0
  refractory: float = 4.0
  floor: float = 0.1
  dt: float = 1.0


# Reference values (Nu-AI eRBP code): hidden V_th = R * 15 / tau_m = 1,
# output V_th = R * 10 / tau_m = 5 * 10 / 25 = 2.
HIDDEN = LIFParams(tau_syn=10.0, tau_mem=15.0, resistance=1.0, threshold=1.0)
OUTPUT = LIFParams(tau_syn=25.0, tau_mem=25.0, resistance=5.0, threshold=2.0)


class LIFState(NamedTuple):
  """Per-neuron state: synaptic current, potential, time of the last spike."""
  current: jax.Array
  voltage: jax.Array
  last_spike: jax.Array


def initial_state(shape: Sequence[int], params: LIFParams,
                  dtype=jnp.float32) -> LIFState:
  """Neurons at rest (``I = V = 0``), last spike at ``-t_ref``."""
  zeros = jnp.zeros(tuple(shape), dtype)
  return LIFState(zeros, zeros, jnp.full(tuple(shape), -params.refractory,
                                         dtype))


@jax.custom_jvp
def _fast_sigmoid_step(x: jax.Array, slope: jax.Array) -> jax.Array:
  return (x >= 0).astype(x.dtype)


@_fast_sigmoid_step.defjvp
def _fast_sigmoid_step_jvp(primals, tangents):
  x, slope = primals
  dx, _ = tangents
  out = (x >= 0).astype(x.dtype)
  return out, dx / (1.0 + slope * jnp.abs(x)) ** 2


def spike_fn(x: jax.Array, surrogate: str = 'none',
             slope: float = 10.0) -> jax.Array:
  """``[x >= 0]`` as floats; its gradient is the chosen surrogate.

  Args:
    x: ``V - V_th``.
    surrogate: ``'none'`` (zero gradient) or ``'fast_sigmoid'`` (derivative
      ``1 / (1 + slope |x|)^2``).
    slope: steepness of the fast sigmoid.
  """
  if surrogate == 'none':
    return jax.lax.stop_gradient((x >= 0).astype(x.dtype))
  if surrogate == 'fast_sigmoid':
    return _fast_sigmoid_step(x, jnp.asarray(slope, x.dtype))
  raise ValueError(f'surrogate must be one of {SURROGATES}, got '
                   f'{surrogate!r}.')


def step(params: LIFParams, state: LIFState, drive: jax.Array,
         time: jax.Array, *, surrogate: str = 'none',
         slope: float = 10.0) -> tuple[LIFState, jax.Array]:
  """One time step of the LIF equations (see the module docstring).

  Args:
    params: the population's constants.
    state: the state after the previous step.
    drive: the synaptic drive ``W^T s_in`` of this step.
    time: this step's time ``t * dt``.
    surrogate: gradient of the spike nonlinearity (see :func:`spike_fn`).
    slope: fast-sigmoid steepness.

  Returns:
    ``(new state, spikes)``; spikes are 0/1 floats.
  """
  p = params
  current = state.current + (p.dt / p.tau_syn) * (drive - state.current)
  voltage = state.voltage + (p.dt / p.tau_mem) * (
      (p.v_rest - state.voltage) + p.resistance * current)
  floored = jnp.maximum(voltage, -p.floor * p.threshold)
  if surrogate == 'none':
    voltage = floored
  else:
    # Straight-through floor: a neuron held at the floor still passes
    # gradient (else a silent output neuron never recovers).
    voltage = voltage + jax.lax.stop_gradient(floored - voltage)
  refractory = time - state.last_spike <= p.refractory
  voltage = jnp.where(refractory, p.v_reset, voltage)
  spikes = spike_fn(voltage - p.threshold, surrogate, slope)
  fired = jax.lax.stop_gradient(spikes) > 0
  voltage = jnp.where(fired, p.v_reset, voltage)
  last_spike = jnp.where(fired, time, state.last_spike)
  return LIFState(current, voltage, last_spike), spikes


def run(params: LIFParams, drive: jax.Array, *,
        state: Optional[LIFState] = None, surrogate: str = 'none',
        slope: float = 10.0) -> tuple[LIFState, jax.Array, jax.Array]:
  """Runs :func:`step` over a time-major drive ``[T, ...]`` (``lax.scan``).

  Returns:
    ``(final state, spikes [T, ...], currents [T, ...])``.
  """
  if state is None:
    state = initial_state(drive.shape[1:], params, drive.dtype)
  times = jnp.arange(drive.shape[0], dtype=drive.dtype) * params.dt

  def body(st, inp):
    d, t = inp
    st, s = step(params, st, d, t, surrogate=surrogate, slope=slope)
    return st, (s, st.current)

  state, (spikes, currents) = jax.lax.scan(body, state, (drive, times))
  return state, spikes, currents


def uniform_init(scale: float):
  """Initializer ``U(-scale, scale)``."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)

  return init


class LIFLayer(nnx.Module):
  """A bias-free dense projection onto a population of LIF neurons.

  ``layer(spikes_in)`` maps time-major input spikes ``[T, ..., in]`` to
  output spikes ``[T, ..., out]``. The drive ``s_in @ kernel`` of all steps
  is one matrix product (the projection has no recurrence); the neurons then
  run under ``lax.scan``. A presentation starts from rest (the reference
  resets every neuron per sample), so the neuron state lives in the scan
  carry, not in ``nnx.Variable`` s.

  Args:
    in_features: presynaptic neurons.
    out_features: LIF neurons.
    lif: their constants (default :data:`HIDDEN`).
    init_scale: the kernel starts ``U(-init_scale, init_scale)``.
    surrogate: ``'none'`` or ``'fast_sigmoid'`` (a deviation from TACOS: for
      the surrogate-gradient baselines).
    slope: fast-sigmoid steepness.
    rngs: for the kernel init.
  """

  def __init__(self, in_features: int, out_features: int, *,
               lif: LIFParams = HIDDEN, init_scale: float = 1.0,
               surrogate: str = 'none', slope: float = 10.0,
               rngs: nnx.Rngs):
    if surrogate not in SURROGATES:
      raise ValueError(f'surrogate must be one of {SURROGATES}, got '
                       f'{surrogate!r}.')
    self.kernel = nnx.Param(
        uniform_init(init_scale)(rngs.params(), (in_features, out_features)))
    self.lif = LIFParams(*(float(v) for v in lif))
    self.surrogate = surrogate
    self.slope = float(slope)

  def __call__(self, spikes_in: jax.Array) -> jax.Array:
    drive = spikes_in @ self.kernel[...]
    _, spikes, _ = run(self.lif, drive, surrogate=self.surrogate,
                       slope=self.slope)
    return spikes
