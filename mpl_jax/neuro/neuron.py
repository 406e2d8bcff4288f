r"""An integrate-and-fire neuron whose input synapses follow the calcium model.

Yeung, Blais, Cooper & Shouval (NIPS 2003; PNAS 2004): with the 2002
calcium rule alone a neuron's weights are unstable; a slow, activity-driven
down-regulation of the NMDA conductance (the metaplastic g_N of
:mod:`mpl_jax.neuro.calcium`) stabilises the firing rate and lets the
synapses compete, so that the neuron becomes selective to part of its input.
Every detail of the neuron and its input is unconfirmed [U] (SPEC-more §4);
this module's choices, all fields of :class:`NeuronParams`:

* Membrane: ``tau_m dV/dt = -(V - v_rest) + I``, threshold ``v_thresh``,
  reset ``v_reset``, refractory ``t_ref``; synaptic drive (mV)
  ``I <- I e^{-dt/tau_syn} + syn_gain sum_j w_j x_j`` (current-based,
  AMPA-like; the weight is the AMPA strength, the NMDA calcium current does
  not depend on it, as in the 2002 model).
* Each synapse sees the dendritic voltage ``V + BPAP`` (+ its own EPSP
  kernel when the calcium params' ``epsp_scale`` > 0); the BPAP arrives
  ``bpap_delay`` after a spike (a ring buffer of delayed spikes).
* Inputs: ``num_inputs`` Poisson trains in two groups, the first
  ``group_size`` inputs and the rest, each with its own rate (Hz) and
  correlation ``c``: a group's inputs copy a shared Poisson "mother" event
  with probability ``c`` and otherwise fire independently at rate
  ``r (1 - c)`` (so each input keeps rate ~r, pairwise correlation ~c).

The simulation is an outer ``lax.scan`` over record intervals (inputs for
one interval drawn at once) and an inner one over dt steps; it returns the
recorded group-mean weights, firing rate and g_N, plus the final weights.

References:
  Yeung, Shouval, Blais & Cooper, PNAS 101:14943 (2004).
  Yeung, Blais, Cooper & Shouval, "Metaplasticity and the unified calcium
  model lead to input selectivity in spiking neurons", NIPS 2003.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from mpl_jax.neuro import calcium as ca_lib


class NeuronParams(NamedTuple):
  """Integrate-and-fire neuron and input statistics (floats; a pytree)."""
  tau_m: float = 20.0
  v_rest: float = -65.0
  v_thresh: float = -55.0
  v_reset: float = -65.0
  t_ref: float = 2.0
  tau_syn: float = 5.0
  syn_gain: float = 1.0
  rate_1: float = 10.0
  rate_2: float = 10.0
  corr_1: float = 0.0
  corr_2: float = 0.0


class NeuronState(NamedTuple):
  """Neuron state: membrane, drive, refractory and BPAP-delay buffer."""
  v: jax.Array
  drive: jax.Array
  refractory: jax.Array
  delay_buf: jax.Array
  syn: ca_lib.SynapseState


def init(cp: ca_lib.CalciumParams, npar: NeuronParams, num_inputs: int,
         delay_steps: int, w0=None) -> NeuronState:
  """A resting neuron; ``w0`` [num_inputs] overrides ``cp.w_init``."""
  syn = ca_lib.init_state(cp, (num_inputs,))
  if w0 is not None:
    syn = syn._replace(w=jnp.asarray(w0, jnp.float32))
  return NeuronState(jnp.float32(npar.v_rest), jnp.float32(0.0),
                     jnp.int32(0), jnp.zeros((max(delay_steps, 1),)), syn)


def draw_inputs(key, npar: NeuronParams, steps: int, num_inputs: int,
                group_size: int, dt: float):
  """[steps, num_inputs] float 0/1 Poisson spikes of the two groups."""
  k_mother, k_copy, k_own = jax.random.split(key, 3)
  in_1 = jnp.arange(num_inputs) < group_size
  rate = jnp.where(in_1, npar.rate_1, npar.rate_2) * (dt / 1000.0)
  corr = jnp.where(in_1, npar.corr_1, npar.corr_2)
  mothers = jax.random.uniform(k_mother, (steps, 2)) < jnp.stack(
      [npar.rate_1, npar.rate_2]) * (dt / 1000.0)
  mother = jnp.where(in_1, mothers[:, :1], mothers[:, 1:])
  copy = jax.random.uniform(k_copy, (steps, num_inputs)) < corr
  own = jax.random.uniform(k_own, (steps, num_inputs)) < rate * (1.0 - corr)
  return ((mother & copy) | own).astype(jnp.float32)


def neuron_step(state: NeuronState, x, cp: ca_lib.CalciumParams,
                npar: NeuronParams, delay_steps: int, n):
  """One dt: drive, membrane, spike, BPAP arrival, every synapse.

  Returns:
    ``(new_state, spike)``.
  """
  dt = cp.dt
  syn = state.syn
  drive = state.drive * jnp.exp(-dt / npar.tau_syn) + npar.syn_gain * jnp.dot(
      syn.w, x)
  v = state.v + dt / npar.tau_m * (-(state.v - npar.v_rest) + drive)
  v = jnp.where(state.refractory > 0, npar.v_reset, v)
  spike = v >= npar.v_thresh
  v = jnp.where(spike, npar.v_reset, v)
  ref_steps = jnp.round(npar.t_ref / dt).astype(jnp.int32)
  refractory = jnp.where(spike, ref_steps, jnp.maximum(state.refractory - 1,
                                                       0))
  slot = n % state.delay_buf.shape[0]
  if delay_steps > 0:
    arrival = state.delay_buf[slot]
    buf = state.delay_buf.at[slot].set(spike.astype(jnp.float32))
  else:
    arrival, buf = spike.astype(jnp.float32), state.delay_buf
  syn, _ = ca_lib.synapse_step(syn, cp, x, arrival, v_extra=v - npar.v_rest)
  return NeuronState(v, drive, refractory, buf, syn), spike


@functools.partial(jax.jit, static_argnames=(
    'num_records', 'steps_per_record', 'num_inputs', 'group_size',
    'delay_steps'))
def simulate(key, cp: ca_lib.CalciumParams, npar: NeuronParams, w0, *,
             num_records: int, steps_per_record: int, num_inputs: int,
             group_size: int, delay_steps: int):
  """Runs the neuron for ``num_records * steps_per_record`` steps.

  Args:
    key: PRNG key of the input spikes.
    cp: calcium parameters (metaplasticity on iff k_plus / k_minus > 0).
    npar: neuron and input parameters.
    w0: [num_inputs] initial weights.
    num_records, steps_per_record: record intervals and their length.
    num_inputs, group_size: inputs, and how many of them are group 1.
    delay_steps: the BPAP delay in steps (``round(bpap_delay / dt)``).

  Returns:
    A dict: ``w_1``, ``w_2`` [num_records] group-mean weights, ``rate``
    [num_records] firing rate (Hz) in each interval, ``g_nmda``
    [num_records] mean g_N, ``ca_1``, ``ca_2`` [num_records] group-mean
    calcium averaged over the interval, ``w_final`` [num_inputs].
  """
  state = init(cp, npar, num_inputs, delay_steps, w0)
  in_1 = jnp.arange(num_inputs) < group_size
  mean = lambda a, m: jnp.sum(jnp.where(m, a, 0.0)) / jnp.maximum(
      jnp.sum(m), 1)

  def record(carry, r):
    state, key = carry
    key, sub = jax.random.split(key)
    xs = draw_inputs(sub, npar, steps_per_record, num_inputs, group_size,
                     cp.dt)
    ns = r * steps_per_record + jnp.arange(steps_per_record)

    def step(s, inp):
      x, n = inp
      s, spike = neuron_step(s, x, cp, npar, delay_steps, n)
      ca = s.syn.ca
      return s, (spike, mean(ca, in_1), mean(ca, ~in_1))

    state, (spikes, ca_1, ca_2) = jax.lax.scan(step, state, (xs, ns))
    w = state.syn.w
    out = dict(
        w_1=mean(w, in_1), w_2=mean(w, ~in_1),
        rate=jnp.sum(spikes) / (steps_per_record * cp.dt / 1000.0),
        g_nmda=jnp.mean(state.syn.g_nmda),
        ca_1=jnp.mean(ca_1), ca_2=jnp.mean(ca_2))
    return (state, key), out

  (state, _), rec = jax.lax.scan(record, (state, key),
                                 jnp.arange(num_records))
  rec['w_final'] = state.syn.w
  return rec
