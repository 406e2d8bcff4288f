r"""Calcium-dependent plasticity of one synapse (Shouval, Bear & Cooper 2002).

The unified calcium model: presynaptic spikes open NMDA receptors, whose
calcium current depends on the postsynaptic voltage through the magnesium
block; the calcium level sets both the direction of plasticity
(:func:`omega`) and its speed (:func:`eta`):

.. math::

  \Omega(c) &= a_0 + a_2\,\mathrm{sig}(\beta_2 (c - \alpha_2))
               - a_1\,\mathrm{sig}(\beta_1 (c - \alpha_1)),\\
  \eta(c) &= \eta_r / (P_1 / (P_2 + c^{P_3}) + P_4) + \eta_l\,c,\\
  B(V) &= 1 / (1 + e^{-k_{Mg} V}\,[Mg] / c_{Mg}),\\
  I_{NMDA} &= g_N\,(F + S)\,B(V)\,(V - V_r),\\
  dc/dt &= I_{NMDA} - c / \tau_{Ca},\\
  dw/dt &= \eta(c)\,(\Omega(c) - \lambda w),\\
  dg_N/dt &= k_+ (g_t - g_N) - k_- |V - V_0|^{v_p}\,g_N.

``F`` and ``S`` are the open fractions of the fast and slow NMDA components:
each presynaptic spike opens ``P0`` of the closed channels (fraction
``1 - F - S`` with ``nmda_total_saturation = 1``, the 2002 model; each
component's own ``I_max - I`` with 0, the Plasticnet variant), then they
decay with ``tau_nmda_f`` / ``tau_nmda_s``. ``V = v_rest + EPSP + BPAP``:
the EPSP is ``(s / norm) sum_spikes (e^{-t/tau_1} - e^{-t/tau_2})`` and the
back-propagating action potential with after-depolarisation
``A (I_f e^{-t/tau_f} + I_s e^{-t/tau_s})`` arrives ``bpap_delay`` ms after
a postsynaptic spike (``bpap_reset = 1``: only the last spike counts, as
the 2002 replication; 0: spikes add, as Plasticnet). The last equation is
the metaplasticity (Yeung et al.): postsynaptic depolarisation
down-regulates the NMDA conductance, which lowers calcium for the same
input and so moves the LTD/LTP crossover up (a sliding threshold); it is off
when ``k_plus = k_minus = 0`` (then ``g_N`` stays at its initial value).

Units: ms, mV, uM; ``eta`` in 1/ms. Every field of :class:`CalciumParams` is
a float, so parameter sets can be stacked and vmapped; the model variants
are numeric switches, not Python branches.

Discrete step (dt = 0.1 ms; Euler as both source codes, traces decay
exactly): (1) spikes at this step make the traces jump, (2) voltage,
(3) NMDA current, (4) calcium, (5) weight from the new calcium, (6) g_N,
(7) traces decay by ``exp(-dt / tau)``. A spike at step n therefore counts
with elapsed time 0 at step n.

References:
  Shouval, Bear & Cooper, "A unified model of NMDA receptor-dependent
  bidirectional synaptic plasticity", PNAS 99:10831 (2002).
  Yeung, Shouval, Blais & Cooper, "Synaptic homeostasis and input
  selectivity follow from a calcium-dependent plasticity model", PNAS
  101:14943 (2004); Yeung, Blais, Cooper & Shouval, NIPS 2003.
  Parameter values: the replication folmez/CaDP-MatLab @ d505037 (2002
  preset) and bblais/Plasticnet splikes/connections/calcium.pyx @ 1a1bd7f
  (Plasticnet preset, metaplastic g_N), see SPEC-more §4.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class CalciumParams(NamedTuple):
  """Parameters of the calcium model (all floats; a pytree)."""
  # Omega(Ca): a0 + a2 sig(beta2 (Ca - alpha2)) - a1 sig(beta1 (Ca - alpha1)).
  omega_base: float = 0.25
  omega_ltp: float = 1.0
  omega_ltd: float = 0.25
  alpha1: float = 0.35
  alpha2: float = 0.55
  beta1: float = 80.0
  beta2: float = 80.0
  # eta(Ca) = eta_rational / (P1 / (P2 + Ca^P3) + P4) + eta_linear Ca, 1/ms.
  eta_rational: float = 1e-3   # the 2002 eta is in 1/s: 1e-3 converts.
  eta_p1: float = 0.1
  eta_p2: float = 1e-5
  eta_p3: float = 3.0
  eta_p4: float = 1.0
  eta_linear: float = 0.0
  lam: float = 1.0
  w_init: float = 0.25
  w_min: float = -jnp.inf
  w_max: float = jnp.inf
  # NMDA receptors.
  g_nmda: float = -1.0 / 500.0   # uM / (ms mV); g_N's initial value.
  p0: float = 0.5
  nmda_if: float = 0.5
  nmda_is: float = 0.5
  tau_nmda_f: float = 50.0
  tau_nmda_s: float = 200.0
  nmda_total_saturation: float = 1.0
  v_rev: float = 130.0
  mg: float = 1.0
  mg_k: float = 0.062
  mg_c: float = 3.57
  # Calcium.
  tau_ca: float = 50.0
  # Voltage: EPSP kernel (s / norm)(e^{-t/tau1} - e^{-t/tau2}), BPAP + ADP.
  v_rest: float = -65.0
  epsp_scale: float = 1.0
  epsp_norm: float = 0.6968
  tau_epsp_1: float = 50.0
  tau_epsp_2: float = 5.0
  bpap_amp: float = 100.0
  bpap_if: float = 0.75
  bpap_is: float = 0.25
  tau_bpap_f: float = 3.0
  tau_bpap_s: float = 25.0
  bpap_delay: float = 2.0
  bpap_reset: float = 1.0
  # Metaplasticity: dg/dt = k_plus (g_t - g) - k_minus |V - v0|^vp g.
  k_plus: float = 0.0
  k_minus: float = 0.0
  g_target: float = -1.0 / 500.0
  v0: float = -65.0
  vp: float = 2.0
  dt: float = 0.1


# Shouval, Bear & Cooper 2002 (values of the folmez replication); the
# metaplasticity is off (k = 0). Rate protocol: epsp_scale 10 (Fig 3B).
SHOUVAL2002 = CalciumParams()

# The Plasticnet (splikes) calcium synapse: NMDA traces jump by
# mu (I_max - I), BPAP 60 mV (0.75 / 0.25, 3 / 30 ms, spikes add),
# tau_Ca 20 ms, Omega = sig(Ca-0.4, 20) - 0.5 sig(Ca-0.25, 60),
# eta = 0.02 Ca, lambda = 0, g_t = -0.0045, g_N(0) = -0.0025, k = 0.
PLASTICNET = CalciumParams(
    omega_base=0.0, omega_ltp=1.0, omega_ltd=0.5, alpha1=0.25, alpha2=0.4,
    beta1=60.0, beta2=20.0, eta_rational=0.0, eta_linear=0.02, lam=0.0,
    g_nmda=-0.0025, p0=0.7, nmda_if=0.75, nmda_is=0.25,
    nmda_total_saturation=0.0, tau_ca=20.0, bpap_amp=60.0, tau_bpap_s=30.0,
    bpap_delay=0.0, bpap_reset=0.0, g_target=-0.0045)

PRESETS = {'shouval2002': SHOUVAL2002, 'plasticnet': PLASTICNET}


def make_params(preset: str = 'shouval2002', **overrides) -> CalciumParams:
  """A preset with some fields replaced (unknown names raise ValueError)."""
  if preset not in PRESETS:
    raise ValueError(f'unknown calcium preset {preset!r}; known: '
                     f'{sorted(PRESETS)}.')
  unknown = set(overrides) - set(CalciumParams._fields)
  if unknown:
    raise ValueError(f'unknown CalciumParams fields {sorted(unknown)}.')
  return PRESETS[preset]._replace(
      **{k: float(v) for k, v in overrides.items()})


class SynapseState(NamedTuple):
  """Per-synapse state (NMDA, EPSP and BPAP traces; calcium; w; g_N)."""
  nmda_f: jax.Array
  nmda_s: jax.Array
  epsp_1: jax.Array
  epsp_2: jax.Array
  bpap_f: jax.Array
  bpap_s: jax.Array
  ca: jax.Array
  w: jax.Array
  g_nmda: jax.Array


def init_state(p: CalciumParams, shape=(), dtype=jnp.float32) -> SynapseState:
  """A resting synapse: closed channels, no calcium, ``w = w_init``."""
  z = jnp.zeros(shape, dtype)
  return SynapseState(z, z, z, z, z, z, z, z + p.w_init, z + p.g_nmda)


def sig(x, beta):
  """Logistic ``1 / (1 + exp(-beta x))``."""
  return jax.nn.sigmoid(beta * x)


def omega(ca, p: CalciumParams):
  """Omega(Ca): the weight's calcium-dependent target (LTD dip, LTP rise)."""
  return (p.omega_base + p.omega_ltp * sig(ca - p.alpha2, p.beta2)
          - p.omega_ltd * sig(ca - p.alpha1, p.beta1))


def eta(ca, p: CalciumParams):
  """eta(Ca), the calcium-dependent learning rate in 1/ms."""
  c = jnp.maximum(ca, 0.0)
  rational = 1.0 / (p.eta_p1 / (p.eta_p2 + c ** p.eta_p3) + p.eta_p4)
  return p.eta_rational * rational + p.eta_linear * ca


def mg_block(v, p: CalciumParams = SHOUVAL2002):
  """Magnesium block B(V) = 1 / (1 + exp(-k V) [Mg] / c)."""
  return 1.0 / (1.0 + jnp.exp(-p.mg_k * v) * (p.mg / p.mg_c))


def nmda_current(open_frac, v, g, p: CalciumParams):
  """Calcium current through NMDA receptors, uM / ms (g < 0, V < V_r)."""
  return g * open_frac * mg_block(v, p) * (v - p.v_rev)


def nmda_jump(f, s, pre, p: CalciumParams):
  """Opens channels at a presynaptic spike (``pre`` in {0, 1})."""
  total = p.nmda_total_saturation
  f_closed = p.nmda_if * (1.0 - total * (f + s)) - (1.0 - total) * f
  s_closed = p.nmda_is * (1.0 - total * (f + s)) - (1.0 - total) * s
  return f + pre * p.p0 * f_closed, s + pre * p.p0 * s_closed


def epsp_jump(e1, e2, pre):
  """Both EPSP exponentials jump by 1 at a presynaptic spike."""
  return e1 + pre, e2 + pre


def bpap_jump(bf, bs, post, p: CalciumParams):
  """BPAP components at a (delayed) postsynaptic spike arrival."""
  keep = 1.0 - post * p.bpap_reset
  return bf * keep + post * p.bpap_if, bs * keep + post * p.bpap_is


def epsp(e1, e2, p: CalciumParams):
  """EPSP in mV from its two exponential traces."""
  return p.epsp_scale / p.epsp_norm * (e1 - e2)


def bpap(bf, bs, p: CalciumParams):
  """BPAP (with after-depolarisation) in mV from its two traces."""
  return p.bpap_amp * (bf + bs)


def ca_step(ca, current, p: CalciumParams):
  """Euler step of dCa/dt = I_NMDA - Ca / tau_Ca."""
  return ca + p.dt * (current - ca / p.tau_ca)


def w_step(w, ca, p: CalciumParams):
  """Euler step of dw/dt = eta(Ca) (Omega(Ca) - lambda w), clipped."""
  w = w + p.dt * eta(ca, p) * (omega(ca, p) - p.lam * w)
  return jnp.clip(w, p.w_min, p.w_max)


def gn_step(g, v, p: CalciumParams):
  """Euler step of the metaplastic NMDA conductance (no-op when k = 0)."""
  dv = jnp.abs(v - p.v0) ** p.vp
  return g + p.dt * (p.k_plus * (p.g_target - g) - p.k_minus * dv * g)


def decay(state: SynapseState, p: CalciumParams) -> SynapseState:
  """Exact exponential decay of every trace over one step."""
  # Values below 1e-30 are set to 0: denormal floats (a trace decaying
  # for seconds) make every step ~50x slower on CPUs.
  def d(x, tau):
    x = x * jnp.exp(-p.dt / tau)
    return jnp.where(jnp.abs(x) < 1e-30, 0.0, x)
  return state._replace(
      nmda_f=d(state.nmda_f, p.tau_nmda_f),
      nmda_s=d(state.nmda_s, p.tau_nmda_s),
      epsp_1=d(state.epsp_1, p.tau_epsp_1),
      epsp_2=d(state.epsp_2, p.tau_epsp_2),
      bpap_f=d(state.bpap_f, p.tau_bpap_f),
      bpap_s=d(state.bpap_s, p.tau_bpap_s))


def synapse_step(state: SynapseState, p: CalciumParams, pre, post,
                 clamp=jnp.nan, v_extra=0.0):
  """One dt of a single synapse.

  Args:
    state: the synapse's :class:`SynapseState`.
    p: parameters.
    pre: 1.0 where a presynaptic spike occurs at this step, else 0.0.
    post: 1.0 where a BPAP arrives at the synapse at this step (the
      postsynaptic spike delayed by ``bpap_delay``), else 0.0.
    clamp: a holding voltage (mV) that replaces ``v_rest + EPSP + BPAP``
      (voltage clamp); NaN for no clamp.
    v_extra: voltage added to ``V`` (mV), e.g. a neuron's depolarisation.

  Returns:
    ``(new_state, (V, Ca))`` with the step's voltage and calcium.
  """
  nf, ns = nmda_jump(state.nmda_f, state.nmda_s, pre, p)
  e1, e2 = epsp_jump(state.epsp_1, state.epsp_2, pre)
  bf, bs = bpap_jump(state.bpap_f, state.bpap_s, post, p)
  v = p.v_rest + epsp(e1, e2, p) + bpap(bf, bs, p) + v_extra
  v = jnp.where(jnp.isnan(clamp), v, clamp)
  current = nmda_current(nf + ns, v, state.g_nmda, p)
  ca = ca_step(state.ca, current, p)
  w = w_step(state.w, ca, p)
  g = gn_step(state.g_nmda, v, p)
  new = SynapseState(nf, ns, e1, e2, bf, bs, ca, w, g)
  return decay(new, p), (v, ca)
