r"""Single-synapse induction protocols of the calcium model, vmapped.

Each protocol sweeps one axis (clamp voltage, presynaptic frequency,
pre-post interval, conditioning history) and runs every value as one lane
of ONE jitted loop over time at dt = 0.1 ms (``lax.fori_loop`` with a
dynamic trip count: another sweep length does not recompile; per step as
fast as ``lax.scan``, measured). Spike trains are
regular and computed from the step index (no [T, lanes] arrays): a train
is ``(offset, isi, num)`` in steps, a spike at step ``n`` iff
``n - offset`` is a multiple of ``isi`` in ``[0, num * isi)``. Each lane
stops (its state freezes) at its own end step, ``num * isi`` after its last
train starts, as the 2002 replication (``w_final`` one ISI after the last
pulse). The result is ``w_final / w_init``.

Protocols (Shouval et al. 2002 Figs 3A-C; SPEC-more §4):
  * :func:`pairing`: 1 Hz x 100 presynaptic pulses with the postsynaptic
    voltage clamped at each value (LTD at moderate, LTP at strong
    depolarisation);
  * :func:`rate`: 100 presynaptic pulses at each frequency, no
    postsynaptic spike, EPSP scale 10 (LTD at low, LTP at high rates);
  * :func:`stdp`: 1 Hz x 100 pre-post pairs at each interval
    ``dt_pp = t_post - t_pre`` (the BPAP arrives ``bpap_delay`` later);
  * :func:`sliding_threshold`: conditioning phases of regular postsynaptic
    firing (the NMDA conductance adapts when k > 0), then the rate
    protocol with g_N frozen at the conditioned value.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mpl_jax.neuro import calcium as ca_lib

CalciumParams = ca_lib.CalciumParams


class Train(NamedTuple):
  """A regular spike train in steps (int32 arrays of any common shape)."""
  offset: jax.Array
  isi: jax.Array
  num: jax.Array


def spikes_at(n, train: Train):
  """1.0 where ``train`` has a spike at step ``n``, else 0.0."""
  k = n - train.offset
  on = (k >= 0) & (k < train.isi * train.num) & (k % jnp.maximum(
      train.isi, 1) == 0)
  return on.astype(jnp.float32)


def isi_steps(freq_hz, dt):
  """Inter-spike interval in whole steps (rounded) for a rate in Hz."""
  return np.maximum(np.rint(1000.0 / (np.asarray(freq_hz, np.float64) * dt)),
                    1).astype(np.int32)


def train(offset, isi, num) -> Train:
  """A :class:`Train` of int32 numpy arrays broadcast to one shape."""
  o, i, m = np.broadcast_arrays(np.asarray(offset), np.asarray(isi),
                                np.asarray(num))
  return Train(o.astype(np.int32), i.astype(np.int32), m.astype(np.int32))


def simulate(p: CalciumParams, num_steps, pre: Train, post: Train, clamp,
             end, state: ca_lib.SynapseState | None = None):
  """Runs :func:`calcium.synapse_step` for ``num_steps`` steps (one lane).

  Args:
    p: parameters (scalar fields; vmap to sweep them).
    num_steps: steps to run (may be traced: a ``fori_loop`` with a dynamic
      trip count, so new sweep lengths do not recompile).
    pre, post: presynaptic spike and BPAP-arrival trains of this lane.
    clamp: holding voltage (NaN: none).
    end: the lane's last step + 1; later steps leave the state unchanged.
    state: initial state (default :func:`calcium.init_state`).

  Returns:
    The final :class:`SynapseState` (at step ``end``).
  """
  if state is None:
    state = ca_lib.init_state(p)

  def step(n, s):
    new, _ = ca_lib.synapse_step(s, p, spikes_at(n, pre), spikes_at(n, post),
                                 clamp)
    live = n < end
    return jax.tree.map(lambda a, b: jnp.where(live, a, b), new, s)

  return jax.lax.fori_loop(jnp.int32(0), jnp.asarray(num_steps, jnp.int32),
                           step, state)


@jax.jit
def _run_lanes(p, num_steps, pre, post, clamp, end):
  """Vmaps :func:`simulate` over the leading axis of every lane argument."""
  in_axes = (0 if _batched(p) else None, None, 0, 0, 0, 0)
  return jax.vmap(simulate, in_axes=in_axes)(p, num_steps, pre, post, clamp,
                                            end)


def _batched(p) -> bool:
  return any(np.ndim(x) > 0 for x in p)


def run_lanes(p: CalciumParams, pre: Train, post: Train, clamp, end):
  """Runs lanes (leading axis) to their ends; returns the final states."""
  end = np.asarray(end, np.int32)
  clamp = np.broadcast_to(np.asarray(clamp, np.float32), end.shape)
  return _run_lanes(p, np.int32(end.max()), pre, post, clamp, end)


def _ratio(p, final):
  return final.w / p.w_init


def pairing(p: CalciumParams, voltages: Sequence[float], *, freq_hz=1.0,
            num_pulses=100):
  """w_final / w_init after pairing pulses with each clamp voltage (mV)."""
  v = np.asarray(voltages, np.float32)
  isi = isi_steps(freq_hz, p.dt)
  pre = train(np.zeros(v.shape), isi, num_pulses)
  post = train(np.zeros(v.shape), 1, 0)
  end = pre.offset + pre.isi * pre.num
  return _ratio(p, run_lanes(p, pre, post, v, end))


def rate(p: CalciumParams, freqs_hz: Sequence[float], *, num_pulses=100):
  """w_final / w_init after ``num_pulses`` presynaptic pulses per rate."""
  f = np.asarray(freqs_hz, np.float64)
  pre = train(np.zeros(f.shape), isi_steps(f, p.dt), num_pulses)
  post = train(np.zeros(f.shape), 1, 0)
  end = pre.offset + pre.isi * pre.num
  return _ratio(p, run_lanes(p, pre, post, np.nan, end))


def stdp_trains(p: CalciumParams, intervals_ms, *, freq_hz=1.0,
                num_pairs=100):
  """Pre and BPAP-arrival trains and ends for the STDP protocol."""
  d = np.rint(np.asarray(intervals_ms, np.float64) / p.dt).astype(np.int64)
  delay = int(round(p.bpap_delay / p.dt))
  isi = isi_steps(freq_hz, p.dt)
  pre = train(np.maximum(0, -d), isi, num_pairs)
  post = train(np.maximum(0, d) + delay, isi, num_pairs)
  end = np.maximum(pre.offset, np.maximum(0, d)) + isi * num_pairs
  return pre, post, end


def stdp(p: CalciumParams, intervals_ms: Sequence[float], *, freq_hz=1.0,
         num_pairs=100):
  """w_final / w_init after pre-post pairs at each interval t_post - t_pre."""
  pre, post, end = stdp_trains(p, intervals_ms, freq_hz=freq_hz,
                               num_pairs=num_pairs)
  return _ratio(p, run_lanes(p, pre, post, np.nan, end))


def _phase_arrays(p: CalciumParams, phases):
  """Per condition and phase: BPAP-arrival trains and lengths in steps."""
  n_ph = max([len(c) for c in phases] + [1])
  rates = np.zeros((len(phases), n_ph))
  steps = np.zeros((len(phases), n_ph), np.int64)
  for i, c in enumerate(phases):
    for j, (r, d) in enumerate(c):
      if r < 0 or d < 0:
        raise ValueError(f'phase (rate, duration) must be >= 0, got {(r, d)}.')
      rates[i, j] = r
      steps[i, j] = int(round(d * 1000.0 / p.dt))
  isi = np.ones(rates.shape, np.int64)
  isi[rates > 0] = isi_steps(rates[rates > 0], p.dt)
  num = np.where(rates > 0, -(-steps // isi), 0)
  delay = int(round(p.bpap_delay / p.dt))
  return train(np.full(rates.shape, delay), isi, num), steps


@functools.partial(jax.jit, static_argnames=('num_f',))
def _sliding_program(p, post, ends, test_pre, test_ends, num_f):
  """Conditioning phases then the frozen-g rate test, one program."""
  no_spike = Train(*(jnp.zeros_like(a[:, 0]) for a in post))
  clamp = jnp.full(ends.shape[:1], jnp.nan, jnp.float32)
  g = jnp.full(ends.shape[:1], p.g_nmda, jnp.float32)
  for j in range(ends.shape[1]):
    state = jax.vmap(lambda gg: ca_lib.init_state(p)._replace(g_nmda=gg))(g)
    trains = Train(*(a[:, j] for a in post))
    run = jax.vmap(lambda *a: simulate(p, jnp.max(ends[:, j]), *a),
                   in_axes=0)
    g = run(no_spike, trains, clamp, ends[:, j], state).g_nmda
  frozen = p._replace(k_plus=0.0, k_minus=0.0)
  state = jax.vmap(lambda gg: ca_lib.init_state(frozen)._replace(g_nmda=gg))(
      jnp.repeat(g, num_f))
  lanes = test_ends.shape[0]
  silent = Train(*(jnp.zeros((lanes,), jnp.int32) for _ in range(3)))
  run = jax.vmap(lambda *a: simulate(frozen, jnp.max(test_ends), *a),
                 in_axes=0)
  final = run(test_pre, silent, jnp.full((lanes,), jnp.nan, jnp.float32),
              test_ends, state)
  return g, final.w / p.w_init


def sliding_threshold(p: CalciumParams, freqs_hz: Sequence[float],
                      phases: Sequence[Sequence[tuple]], *, num_pulses=100):
  """Rate curves after each conditioning history, as one program.

  Each condition is a sequence of phases ``(rate_hz, duration_s)`` of
  regular postsynaptic firing with no presynaptic input (rate 0: silence,
  V at rest); g_N follows its metaplastic equation (``p.k_plus``,
  ``p.k_minus``), from ``p.g_nmda``. The rate protocol then runs with g_N
  frozen (k = 0) at each condition's conditioned value.

  Returns:
    ``(g [C], ratio [C, F])``: conditioned g_N and w_final / w_init.
  """
  post, steps = _phase_arrays(p, phases)
  f = np.asarray(freqs_hz, np.float64)
  c_n, f_n = len(phases), f.size
  isi = np.tile(isi_steps(f, p.dt), c_n)
  pre = train(np.zeros(isi.shape), isi, num_pulses)
  test_ends = (pre.isi * pre.num).astype(np.int32)
  g, ratio = _sliding_program(p, post, steps.astype(np.int32), pre,
                              test_ends, f_n)
  return g, ratio.reshape(c_n, f_n)


def crossover(freqs, ratio, log: bool = True):
  """Where a curve first crosses 1 upward after its minimum.

  Interpolated linearly (in log-x with ``log``); NaN if it never crosses.
  """
  f = np.asarray(freqs, np.float64)
  f = np.log(f) if log else f
  r = np.asarray(ratio, np.float64)
  start = int(np.argmin(r))
  for i in range(start, r.size - 1):
    if r[i] < 1.0 <= r[i + 1]:
      t = (1.0 - r[i]) / (r[i + 1] - r[i])
      x = f[i] + t * (f[i + 1] - f[i])
      return float(np.exp(x) if log else x)
  return float('nan')
