r"""Event-driven random backpropagation (eRBP) in a spiking network.

The local learning rule of the spiking backbone that mpl_jax uses for TACOS
(SPEC-more §2): the eRBP network of the Nu-AI code of Kudithipudi's group
(``Supplementary Table6/FMNIST_error_threshold_training.py``), the only
public code of that lab's spiking continual learners. A network ``D -> H ->
C`` of LIF neurons (:mod:`mpl_jax.snn.lif`) sees a Poisson-coded image for
``T`` steps; at each step, after the forward pass:

* **Error neurons.** Two per output neuron, integrating the difference
  between the output spikes and a Poisson target train (rate ``f_L`` for the
  label's neuron, 0 for the others), ``I_err = s_out - s_target``:

  .. math::

    V_{fp} \mathrel{+}= \tfrac{dt}{\tau_E} R_E I_{err}, \qquad
    V_{fn} \mathrel{-}= \tfrac{dt}{\tau_E} R_E I_{err},

  each clipped below at ``-V_th,E / 10``, firing at ``V_th,E`` with
  subtractive reset. ``tau_E = 10, R_E = 25, V_th,E = 2.5``.
* **Dendritic error compartments** (``e = s_fp - s_fn``, ``B`` a fixed
  random ``H x C`` feedback matrix, ``U(-0.15, 0.15)`` in the reference):

  .. math::

    U_h \mathrel{+}= \tfrac{dt}{\tau_U}\big(-\lambda U_h + R_U B e\big),
    \qquad U_o \mathrel{+}= \tfrac{dt}{\tau_U}\big(-\lambda U_o + R_U e\big),

  ``tau_U = 15, R_U = 5``; ``lambda = 0`` in the error-threshold script (the
  default), 1 in the same repository's gradient-accumulation script.
* **Thresholded three-factor update.** A neuron ``j`` with
  ``|U_j| > theta`` (0.45 hidden, 2.25 output) whose synaptic current lies
  in the boxcar ``I_min < I_j < I_max`` (``-3, 3``), at a step where at
  least one of its presynaptic neurons spiked, has an *event*: every
  synapse ``(i, j)`` whose presynaptic neuron ``i`` spiked at that step gets
  the step ``-eta sign(U_j)`` (``error_mode='sign'``; or ``-eta U_j`` with
  ``'value'``), and ``U_j`` is reset to 0.

**Proposal, not update.** :func:`present` returns, per layer, the sum over
the presentation of the events ``a_j(t) s_i(t)`` (``a = sign U`` or
``U``), in the *gradient* convention: plain eRBP is ``W <- W - eta *
proposal``, i.e. ``optax.sgd(eta)``; TACOS hands it to
:func:`mpl_jax.rules.tacos.tacos`. The weights are held fixed during one
presentation and the proposal is applied after it. This is a deviation
[P] from the reference, which programs each event's synapses at once (in
the middle of the presentation): with fixed weights the hidden drive of all
``T`` steps is one matrix product and the proposal another
(``S_in^T A_h``), instead of ``T`` matrix-vector products and ``T``
rank-one updates. To first order in ``eta`` the two agree.

The reference's ``FPF`` (sparing the target neuron's false positives) is 1,
i.e. off, and is not reproduced. Times are in units of ``dt`` (ms).

References:
  Neftci, Augustine, Paul, Detorakis, "Event-driven random back-propagation:
  enabling neuromorphic deep learning machines", Frontiers in Neuroscience
  11:324, 2017. https://doi.org/10.3389/fnins.2017.00324
  Zohora, Karia, Soures, Kudithipudi, "Probabilistic metaplasticity for
  continual learning with memristors in spiking networks", 2024.
  https://arxiv.org/abs/2403.08718
  Soures, Helfer, Daram, Pandit, Kudithipudi, "TACOS: task agnostic
  continual learning in spiking neural networks", 2024.
  https://arxiv.org/abs/2409.00021
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence, Union

import jax
import jax.numpy as jnp

from mpl_jax.snn import lif

ERROR_MODES = ('sign', 'value')


class ErbpParams(NamedTuple):
  """Constants of the eRBP network (reference values as defaults).

  Attributes:
    hidden: constants of the hidden LIF neurons.
    output: constants of the output LIF neurons.
    tau_err: error-neuron time constant ``tau_E``.
    r_err: error-neuron resistance ``R_E``.
    threshold_err: error-neuron threshold ``V_th,E = R_E * 1 / tau_E``.
    floor_err: error potentials are clipped below at
      ``-floor_err * threshold_err``.
    tau_dendrite: dendritic compartment time constant ``tau_U``.
    r_dendrite: dendritic resistance ``R_U``.
    dendrite_leak: ``lambda``: 0 (error-threshold script, default) or 1
      (leaky compartments of the gradient-accumulation script).
    threshold_hidden: ``|U|`` threshold of a hidden event.
    threshold_output: ``|U|`` threshold of an output event.
    i_min: lower edge of the boxcar on the postsynaptic current.
    i_max: upper edge.
    dt: time step.
  """
  hidden: lif.LIFParams = lif.HIDDEN
  output: lif.LIFParams = lif.OUTPUT
  tau_err: float = 10.0
  r_err: float = 25.0
  threshold_err: float = 2.5
  floor_err: float = 0.1
  tau_dendrite: float = 15.0
  r_dendrite: float = 5.0
  dendrite_leak: float = 0.0
  threshold_hidden: float = 0.45
  threshold_output: float = 2.25
  i_min: float = -3.0
  i_max: float = 3.0
  dt: float = 1.0


class Trace(NamedTuple):
  """The per-step record of one presentation (see :func:`simulate`).

  Attributes:
    hidden_events: ``[T, H]`` event amplitudes ``a_j(t)`` of the hidden
      neurons (0 without event).
    output_events: ``[T, C]`` those of the output neurons.
    hidden_spikes: ``[T, H]`` hidden spikes (the output layer's input).
    counts: ``[C]`` output spike counts (the read-out).
    error_spikes: total spikes of the ``2C`` error neurons.
  """
  hidden_events: jax.Array
  output_events: jax.Array
  hidden_spikes: jax.Array
  counts: jax.Array
  error_spikes: jax.Array


class Presentation(NamedTuple):
  """What one presentation of a sample produced.

  Attributes:
    proposal: ``{'hidden': [D, H], 'output': [H, C]}``, the summed events
      ``sum_t a_j(t) s_i(t)`` (gradient convention: plain eRBP subtracts
      ``eta`` times it).
    counts: ``[C]`` output spike counts (the read-out).
    error_spikes: total spikes of the ``2C`` error neurons.
    events: ``[2]`` number of (hidden, output) neuron events.
  """
  proposal: dict[str, jax.Array]
  counts: jax.Array
  error_spikes: jax.Array
  events: jax.Array


def _error_neuron(params: ErbpParams, v: jax.Array, current: jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
  """Integrate, clip below, fire, subtract the threshold."""
  v = v + (params.dt / params.tau_err) * (params.r_err * current)
  v = jnp.maximum(v, -params.floor_err * params.threshold_err)
  fired = v >= params.threshold_err
  v = jnp.where(fired, v - params.threshold_err, v)
  return v, fired.astype(v.dtype)


def _events(u: jax.Array, current: jax.Array, any_pre: jax.Array,
            threshold: float, params: ErbpParams, error_mode: str
            ) -> tuple[jax.Array, jax.Array]:
  """Event amplitudes ``a_j`` (0 without event) and ``U`` after resets."""
  event = ((jnp.abs(u) > threshold) & (current > params.i_min) &
           (current < params.i_max) & any_pre)
  amplitude = jnp.sign(u) if error_mode == 'sign' else u
  return jnp.where(event, amplitude, 0.0), jnp.where(event, 0.0, u)


def simulate(weights: dict[str, jax.Array], feedback: jax.Array,
             in_spikes: jax.Array, target_spikes: jax.Array, *,
             params: ErbpParams = ErbpParams(),
             error_mode: str = 'sign') -> Trace:
  """Presents one sample: forward pass, error neurons, eRBP events.

  Args:
    weights: ``{'hidden': [D, H], 'output': [H, C]}`` (held fixed).
    feedback: ``B``, ``[H, C]`` fixed random feedback weights.
    in_spikes: ``[T, D]`` input spikes (0/1).
    target_spikes: ``[T, C]`` target output spikes (0/1).
    params: network constants.
    error_mode: ``'sign'`` (reference: ``a = sign U``) or ``'value'``
      (``a = U``).

  Returns:
    The :class:`Trace` of the presentation.
  """
  if error_mode not in ERROR_MODES:
    raise ValueError(f'error_mode must be one of {ERROR_MODES}, got '
                     f'{error_mode!r}.')
  w_h, w_o = weights['hidden'], weights['output']
  num_hidden, num_out = w_o.shape
  dtype = w_h.dtype
  p = params
  # Weights are fixed during the presentation: the hidden drive of every
  # step is one matrix product.
  drive_h = in_spikes.astype(dtype) @ w_h
  any_in = jnp.any(in_spikes > 0, axis=-1)
  times = jnp.arange(in_spikes.shape[0], dtype=dtype) * p.dt
  k_u = p.dt / p.tau_dendrite
  zeros_h = jnp.zeros((num_hidden,), dtype)
  zeros_o = jnp.zeros((num_out,), dtype)
  carry = (lif.initial_state((num_hidden,), p.hidden, dtype),
           lif.initial_state((num_out,), p.output, dtype),
           zeros_o, zeros_o, zeros_h, zeros_o)

  def body(carry, inp):
    hid, out, v_fp, v_fn, u_h, u_o = carry
    d_h, a_in, target, time = inp
    hid, s_h = lif.step(p.hidden, hid, d_h, time)
    # Tiny products as elementwise sums: they fuse with the neuron updates
    # (a dot per step is a separate kernel; measured 2.4x slower on CPU).
    out, s_o = lif.step(p.output, out, jnp.sum(s_h[:, None] * w_o, 0), time)
    i_err = s_o - target
    v_fp, e_fp = _error_neuron(p, v_fp, i_err)
    v_fn, e_fn = _error_neuron(p, v_fn, -i_err)
    e = e_fp - e_fn
    u_h = u_h + k_u * (-p.dendrite_leak * u_h +
                       p.r_dendrite * jnp.sum(feedback * e, -1))
    u_o = u_o + k_u * (-p.dendrite_leak * u_o + p.r_dendrite * e)
    a_h, u_h = _events(u_h, hid.current, a_in, p.threshold_hidden, p,
                       error_mode)
    a_o, u_o = _events(u_o, out.current, jnp.any(s_h > 0), p.threshold_output,
                       p, error_mode)
    return ((hid, out, v_fp, v_fn, u_h, u_o),
            (a_h, a_o, s_h, s_o, jnp.sum(e_fp + e_fn)))

  _, (a_h, a_o, s_h, s_o, err) = jax.lax.scan(
      body, carry, (drive_h, any_in, target_spikes.astype(dtype), times))
  return Trace(a_h, a_o, s_h, s_o.sum(0), err.sum())


def outer_sum(pre: jax.Array, amplitudes: jax.Array, *,
              rows: Union[int, Sequence[int]] = 0) -> jax.Array:
  r"""``sum_t pre_t (x) a_t = pre^T a`` (``[N, D], [N, H] -> [D, H]``).

  Events are rare: most steps have none. With ``rows`` (an int or
  increasing ints, e.g. ``(16, 48)``) the steps with an event are gathered
  first, into the smallest of the sizes that holds them all (the full
  product when none does; ``lax.switch``), so the product costs
  ``rows / N`` of the full one; the result is the same sum either way.
  ``rows = 0`` always computes the full product. Under ``vmap`` a switch
  computes every branch: use ``rows = 0`` there.
  """
  dense = lambda: pre.T @ amplitudes.astype(pre.dtype)
  n = pre.shape[0]
  tiers = tuple(int(r) for r in (rows if isinstance(rows, (tuple, list))
                                 else (rows,)))
  tiers = tuple(r for r in tiers if 0 < r < n)
  if not tiers:
    return dense()
  if list(tiers) != sorted(set(tiers)):
    raise ValueError(f'rows must increase, got {rows!r}.')
  active = jnp.any(amplitudes != 0, axis=-1)
  count = jnp.sum(active)

  def gathered(size):
    def product():
      (steps,) = jnp.nonzero(active, size=size, fill_value=0)
      valid = jnp.arange(size) < count
      a = jnp.where(valid[:, None], amplitudes[steps], 0).astype(pre.dtype)
      return pre[steps].T @ a
    return product

  branch = jnp.searchsorted(jnp.asarray(tiers), count, side='left')
  return jax.lax.switch(branch, [gathered(r) for r in tiers] + [dense])


def present(weights: dict[str, jax.Array], feedback: jax.Array,
            in_spikes: jax.Array, target_spikes: jax.Array, *,
            params: ErbpParams = ErbpParams(), error_mode: str = 'sign',
            rows: Union[int, Sequence[int]] = 0) -> Presentation:
  """Presents one sample and returns its eRBP weight proposal.

  :func:`simulate`, then the proposal ``{'hidden': S_in^T A_h, 'output':
  S_h^T A_o}`` (:func:`outer_sum`; ``rows`` as there). Arguments as
  :func:`simulate`.

  Returns:
    A :class:`Presentation`.
  """
  trace = simulate(weights, feedback, in_spikes, target_spikes,
                   params=params, error_mode=error_mode)
  proposal = {
      'hidden': outer_sum(in_spikes.astype(weights['hidden'].dtype),
                          trace.hidden_events, rows=rows),
      'output': outer_sum(trace.hidden_spikes, trace.output_events,
                          rows=rows)}
  events = jnp.stack([jnp.sum(trace.hidden_events != 0),
                      jnp.sum(trace.output_events != 0)])
  return Presentation(proposal, trace.counts, trace.error_spikes, events)


def forward_counts(weights: dict[str, jax.Array], in_spikes: jax.Array, *,
                   params: ErbpParams = ErbpParams()) -> jax.Array:
  """Output spike counts of the network (no learning), batched.

  Args:
    weights: ``{'hidden': [D, H], 'output': [H, C]}``.
    in_spikes: ``[T, ..., D]`` input spikes.
    params: network constants.

  Returns:
    ``[..., C]`` output spike counts over the presentation.
  """
  drive = in_spikes.astype(weights['hidden'].dtype) @ weights['hidden']
  _, s_h, _ = lif.run(params.hidden, drive)
  _, s_o, _ = lif.run(params.output, s_h @ weights['output'])
  return s_o.sum(0)


def predict(counts: jax.Array, class_mask: Any = None) -> jax.Array:
  """Read-out: the class of the most active output neuron; ``-1`` (never a
  label, so counted wrong, as in the reference) when no output spiked."""
  if class_mask is not None:
    counts = jnp.where(class_mask, counts, -1.0)
  pred = jnp.argmax(counts, -1)
  return jnp.where(jnp.max(counts, -1) > 0, pred, -1)
