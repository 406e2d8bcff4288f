r"""Calcium-dependent plasticity of one synapse: the four induction protocols.

  python -m launch.main --config=configs/calcium_protocols.py --workdir=runs/calcium

Model (``mpl_jax.neuro.calcium``; Shouval, Bear & Cooper 2002, parameter
values of the folmez/CaDP-MatLab replication, SPEC-more §4): NMDA receptor
traces with the fraction of closed channels, magnesium block, BPAP with
after-depolarisation (2 ms delay), calcium (tau 50 ms), Omega / eta and the
weight equation, dt = 0.1 ms, float32. Each protocol sweeps its axis as
lanes of ONE jitted ``lax.scan`` (``mpl_jax.neuro.protocols``):

* ``pairing``: 100 presynaptic pulses at 1 Hz, postsynaptic voltage clamped
  at each of 61 values in [-70, -10] mV (Fig 3A);
* ``rate``: 100 pulses at each of 64 rates in [0.5, 50] Hz, EPSP scale 10,
  w_init 0.26 (Fig 3B);
* ``stdp``: 100 pre-post pairs at 1 Hz, t_post - t_pre in [-100, 100] ms
  by 2 ms (Fig 3C);
* ``sliding``: the metaplastic NMDA conductance (Yeung et al.; Plasticnet's
  equation dg/dt = k+ (g_t - g) - k- (V - V0)^2 g) under three histories
  of regular postsynaptic firing without input: ``control`` (none), ``after
  high`` (20 Hz for 60 s), ``high then low`` (the same, then 60 s of
  silence); then the rate protocol (24 rates in [1, 40] Hz) with g frozen
  at the conditioned value. k+ = 1e-4 /ms, k- = 1.27e-7 /(ms mV^2),
  g_t = g(0) = -1/500 are this library's choice [U] (no published values
  were found): 20 Hz of BPAPs then holds g at ~60 % of g_t. Dotted lines in
  the figure: the same with metaplasticity off (k = 0).

Outputs: ``pairing.png``, ``rate.png``, ``stdp.png``, ``sliding.png``,
``results.npz``, ``summary.json``.

Expected (the 2002 paper's shapes): pairing ~1 at rest, LTD for moderate
and LTP for strong depolarisation; rate: LTD at low, LTP at high rates;
STDP: LTP for small positive intervals, LTD for negative ones and a second
LTD window at larger positive intervals; sliding: the crossover moves up
after high activity and back after low activity, and not at all with the
metaplasticity off.

Measured (2-core shared CPU, jax 0.10.2, float32): see MEASURED below.
"""

import ml_collections

MEASURED = """(filled in after the run)"""


def get_config() -> ml_collections.ConfigDict:
  """All single-synapse protocols of the 2002 model."""
  c = ml_collections.ConfigDict()
  c.program = 'calcium'
  c.name = 'calcium_protocols'
  # 'shouval2002' or 'plasticnet'; c.params overrides CalciumParams fields
  # for every protocol, <protocol>.params for one.
  c.preset = 'shouval2002'
  c.params = ml_collections.ConfigDict()
  c.protocols = ('pairing', 'rate', 'stdp', 'sliding')
  c.pairing = ml_collections.ConfigDict(dict(
      v_min=-70.0, v_max=-10.0, num=61, freq_hz=1.0, num_pulses=100,
      params=ml_collections.ConfigDict()))
  c.rate = ml_collections.ConfigDict(dict(
      f_min=0.5, f_max=50.0, num=64, num_pulses=100,
      params=ml_collections.ConfigDict(dict(epsp_scale=10.0, w_init=0.26))))
  c.stdp = ml_collections.ConfigDict(dict(
      dt_min=-100.0, dt_max=100.0, num=101, freq_hz=1.0, num_pairs=100,
      params=ml_collections.ConfigDict()))
  # Conditioning phases: (postsynaptic rate Hz, duration s); rate 0 is
  # silence. The rate test runs with g_N frozen at the conditioned value.
  c.sliding = ml_collections.ConfigDict(dict(
      f_min=1.0, f_max=40.0, num=24, num_pulses=100,
      condition_names=('control', 'after high', 'high then low'),
      condition_phases=((), ((20.0, 60.0),), ((20.0, 60.0), (0.0, 60.0))),
      compare_off=True,
      params=ml_collections.ConfigDict(dict(
          epsp_scale=10.0, w_init=0.26, k_plus=1e-4, k_minus=1.27e-7,
          g_target=-0.002))))
  c.plot = True
  return c
