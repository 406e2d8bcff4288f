"""Tests of the calcium-dependent plasticity model, protocols and neuron."""

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mpl_jax.neuro import calcium as ca_lib
from mpl_jax.neuro import neuron as neuron_lib
from mpl_jax.neuro import protocols as proto

P = ca_lib.SHOUVAL2002


# ------------------------------------------------ equations vs numpy (spec)


def test_omega_eta_mg_match_the_spec():
  ca = np.linspace(0.0, 1.2, 61)
  sig = lambda x, b: np.exp(b * x) / (1.0 + np.exp(b * x))
  omega = 0.25 + sig(ca - 0.55, 80) - 0.25 * sig(ca - 0.35, 80)
  tau_s = 0.1 / (0.1 * 1e-4 + ca ** 3) + 1.0           # seconds
  v = np.linspace(-80.0, 40.0, 61)
  mg = 1.0 / (1.0 + np.exp(-0.062 * v) * 1.0 / 3.57)
  np.testing.assert_allclose(ca_lib.omega(ca, P), omega, atol=1e-6)
  np.testing.assert_allclose(ca_lib.eta(ca, P), 1.0 / tau_s / 1000.0,
                             rtol=1e-5)
  np.testing.assert_allclose(ca_lib.mg_block(v, P), mg, rtol=1e-5)
  # tau(0) ~ 2.8 h, Omega's LTD dip and LTP plateau.
  assert abs(1.0 / float(ca_lib.eta(0.0, P)) / 3.6e6 - 2.78) < 0.01
  assert float(ca_lib.omega(0.45, P)) < 0.05 < 0.95 < float(
      ca_lib.omega(1.0, P))
  # Plasticnet: sig(Ca-0.4, 20) - 0.5 sig(Ca-0.25, 60), eta = 0.02 Ca.
  q = ca_lib.PLASTICNET
  np.testing.assert_allclose(
      ca_lib.omega(ca, q), sig(ca - 0.4, 20) - 0.5 * sig(ca - 0.25, 60),
      atol=1e-6)
  np.testing.assert_allclose(ca_lib.eta(ca, q), 0.02 * ca, rtol=1e-5)


def test_nmda_current_and_euler_steps():
  v, frac, g, ca, w = -30.0, 0.4, -0.002, 0.3, 0.4
  b = 1.0 / (1.0 + np.exp(0.062 * 30.0) / 3.57)
  np.testing.assert_allclose(ca_lib.nmda_current(frac, v, g, P),
                             g * frac * b * (v - 130.0), rtol=1e-6)
  np.testing.assert_allclose(ca_lib.ca_step(ca, 0.01, P),
                             ca + 0.1 * (0.01 - ca / 50.0), rtol=1e-6)
  ref_w = w + 0.1 * ca_lib.eta(ca, P) * (ca_lib.omega(ca, P) - w)
  np.testing.assert_allclose(ca_lib.w_step(w, ca, P), ref_w, rtol=1e-6)
  p = P._replace(k_plus=1e-3, k_minus=1e-6, g_target=-0.003)
  ref_g = g + 0.1 * (1e-3 * (-0.003 - g) - 1e-6 * (v + 65.0) ** 2 * g)
  np.testing.assert_allclose(ca_lib.gn_step(g, v, p), ref_g, rtol=1e-6)
  np.testing.assert_allclose(ca_lib.gn_step(g, v, P), g)   # off by default


def _np_synapse(p, pre, post, n_steps, clamp=None):
  """Closed-form reference (sums over past spikes, as the replication)."""
  dt = p.dt
  pre_t = [s * dt for s in pre]
  post_t = [s * dt for s in post]
  c_s = {}
  ca, w, g = 0.0, p.w_init, p.g_nmda
  sig = lambda x, b: 1.0 / (1.0 + np.exp(-b * x))
  out = []
  for n in range(n_steps):
    t = n * dt
    past = [s for s in pre_t if s < t]

    def open_frac(tt, spikes):
      return sum(c_s[s] * p.p0 * (p.nmda_if * np.exp(-(tt - s) / p.tau_nmda_f)
                                  + p.nmda_is * np.exp(-(tt - s) /
                                                       p.tau_nmda_s))
                 for s in spikes)

    if any(abs(s - t) < 1e-9 for s in pre_t):
      c_s[t] = 1.0 - open_frac(t, past)
    now = [s for s in pre_t if s <= t + 1e-9]
    op = open_frac(t, now)
    epsp = p.epsp_scale / p.epsp_norm * sum(
        np.exp(-(t - s) / p.tau_epsp_1) - np.exp(-(t - s) / p.tau_epsp_2)
        for s in now)
    arrived = [s for s in post_t if s <= t + 1e-9]
    bp = 0.0
    if arrived:
      el = t - arrived[-1]
      bp = p.bpap_amp * (p.bpap_if * np.exp(-el / p.tau_bpap_f)
                         + p.bpap_is * np.exp(-el / p.tau_bpap_s))
    v = p.v_rest + epsp + bp if clamp is None else clamp
    b = 1.0 / (1.0 + np.exp(-p.mg_k * v) * p.mg / p.mg_c)
    cur = g * op * b * (v - p.v_rev)
    ca = ca + dt * (cur - ca / p.tau_ca)
    om = (p.omega_base + p.omega_ltp * sig(ca - p.alpha2, p.beta2)
          - p.omega_ltd * sig(ca - p.alpha1, p.beta1))
    et = p.eta_rational / (p.eta_p1 / (p.eta_p2 + max(ca, 0) ** p.eta_p3)
                           + p.eta_p4) + p.eta_linear * ca
    w = w + dt * et * (om - p.lam * w)
    g = g + dt * (p.k_plus * (p.g_target - g)
                  - p.k_minus * abs(v - p.v0) ** p.vp * g)
    out.append((v, ca, w, g))
  return np.array(out)


def _jax_synapse(p, pre, post, n_steps, clamp=jnp.nan):
  pre_a = jnp.zeros(n_steps).at[jnp.array(pre)].set(1.0)
  post_a = jnp.zeros(n_steps).at[jnp.array(post)].set(1.0)

  def step(s, inp):
    s, (v, ca) = ca_lib.synapse_step(s, p, inp[0], inp[1], clamp)
    return s, jnp.stack([v, ca, s.w, s.g_nmda])

  _, tr = jax.jit(lambda: jax.lax.scan(step, ca_lib.init_state(p),
                                       (pre_a, post_a)))()
  return np.asarray(tr)


@pytest.mark.parametrize('clamp', [None, -40.0])
def test_synapse_matches_closed_form_reference(clamp):
  p = P._replace(epsp_scale=5.0, k_plus=2e-4, k_minus=3e-7)
  pre, post, n = [10, 120, 400, 700, 730], [40, 420, 690], 1200
  ref = _np_synapse(p, pre, post, n, clamp)
  got = _jax_synapse(p, pre, post, n, jnp.nan if clamp is None else clamp)
  np.testing.assert_allclose(got[:, 0], ref[:, 0], atol=2e-3)   # V (mV)
  np.testing.assert_allclose(got[:, 1], ref[:, 1], rtol=2e-4, atol=1e-6)
  np.testing.assert_allclose(got[:, 2], ref[:, 2], rtol=1e-5)
  np.testing.assert_allclose(got[:, 3], ref[:, 3], rtol=1e-5)
  assert ref[:, 1].max() > 0.1            # calcium actually rose


def test_plasticnet_variant_recursions():
  """Component saturation I += mu (I_max - I) and additive BPAPs."""
  q = ca_lib.PLASTICNET
  f = s = 0.0
  for _ in range(3):
    f, s = ca_lib.nmda_jump(f, s, 1.0, q)
  nf = ns = 0.0
  for _ in range(3):
    nf, ns = nf + 0.7 * (0.75 - nf), ns + 0.7 * (0.25 - ns)
  np.testing.assert_allclose([f, s], [nf, ns], rtol=1e-6)
  bf, bs = ca_lib.bpap_jump(0.3, 0.1, 1.0, q)
  np.testing.assert_allclose([bf, bs], [1.05, 0.35], rtol=1e-6)
  bf, bs = ca_lib.bpap_jump(0.3, 0.1, 1.0, P)   # 2002: last spike only
  np.testing.assert_allclose([bf, bs], [0.75, 0.25], rtol=1e-6)


def test_make_params_rejects_unknown():
  assert ca_lib.make_params('plasticnet', tau_ca=30).tau_ca == 30.0
  with pytest.raises(ValueError, match='unknown calcium preset'):
    ca_lib.make_params('nope')
  with pytest.raises(ValueError, match='unknown CalciumParams'):
    ca_lib.make_params(tau=3)


# ------------------------------------------------------------- protocols


def test_trains_and_stdp_offsets():
  t = proto.train(5, 10, 3)
  got = [int(n) for n in range(50) if proto.spikes_at(n, t)]
  assert got == [5, 15, 25]
  pre, post, end = proto.stdp_trains(P, [-10.0, 10.0], freq_hz=1.0,
                                     num_pairs=2)
  np.testing.assert_array_equal(pre.offset, [100, 0])
  np.testing.assert_array_equal(post.offset, [20, 120])   # + 2 ms delay
  np.testing.assert_array_equal(end, [100 + 20000, 100 + 20000])


def test_lanes_equal_single_runs_and_no_recompile():
  p = P._replace(epsp_scale=10.0)
  both = np.asarray(proto.rate(p, [20.0, 50.0], num_pulses=5))
  size = proto._run_lanes._cache_size()
  again = np.asarray(proto.rate(p, [25.0, 40.0], num_pulses=5))
  assert proto._run_lanes._cache_size() == size   # same shapes: no compile
  one = np.asarray(proto.rate(p, [50.0], num_pulses=5))
  np.testing.assert_allclose(both[1], one[0], rtol=1e-6)
  assert not np.allclose(both, again)


def test_curve_shapes_short_protocols():
  """Signs per regime with 25 pulses (the full curves: the config)."""
  pair = np.asarray(proto.pairing(P, [-65.0, -55.0, -20.0], num_pulses=25))
  assert abs(pair[0] - 1.0) < 0.02 and pair[1] < 0.9 and pair[2] > 1.5
  p10 = P._replace(epsp_scale=10.0, w_init=0.26)
  rate = np.asarray(proto.rate(p10, [2.0, 30.0], num_pulses=25))
  assert rate[0] < 0.9 and rate[1] > 1.5
  st = np.asarray(proto.stdp(P, [-20.0, 10.0, 60.0], num_pairs=25))
  assert st[0] < 0.95 and st[1] > 1.3 and st[2] < 0.95


def test_sliding_threshold_moves_up_and_back():
  p = P._replace(epsp_scale=10.0, w_init=0.26, k_plus=1e-3, k_minus=1.27e-6)
  f = [3.0, 5.0, 8.0, 12.0, 20.0]
  phases = [[], [(20.0, 8.0)], [(20.0, 8.0), (0.0, 8.0)]]
  g, r = proto.sliding_threshold(p, f, phases, num_pulses=25)
  g, r = np.asarray(g), np.asarray(r)
  assert abs(g[1]) < 0.8 * abs(g[0])        # high activity: g_N down
  assert abs(g[2] - g[0]) < 0.05 * abs(g[0])  # and back after silence
  cross = [proto.crossover(f, x) for x in r]
  assert cross[1] > 1.3 * cross[0]
  assert abs(cross[2] - cross[0]) < 0.1 * cross[0]
  off = p._replace(k_plus=0.0, k_minus=0.0)
  g_off, r_off = proto.sliding_threshold(off, f, phases, num_pulses=25)
  np.testing.assert_allclose(np.asarray(g_off), P.g_nmda, rtol=1e-6)
  np.testing.assert_allclose(r_off[1], r_off[0], rtol=1e-6)


# ---------------------------------------------------------------- neuron


def _np_sig(x, b):
  return 1.0 / (1.0 + np.exp(-b * x))


def _np_omega(ca, preset):
  """Omega(Ca) with SPEC-more §4's numbers (not the library's fields)."""
  if preset == 'shouval2002':
    return 0.25 + _np_sig(ca - 0.55, 80.0) - 0.25 * _np_sig(ca - 0.35, 80.0)
  return _np_sig(ca - 0.4, 20.0) - 0.5 * _np_sig(ca - 0.25, 60.0)


def _np_eta(ca, preset, eta_linear=2e-3):
  """eta(Ca) in 1/ms: SPEC-more §4 (2002: tau in s; Plasticnet: 0.02 Ca,
  slowed here to 2e-3 Ca so that the weights stay inside their bounds)."""
  if preset == 'shouval2002':
    tau_s = 0.1 / (0.1 * 1e-4 + max(ca, 0.0) ** 3) + 1.0
    return 1.0 / tau_s / 1000.0
  return eta_linear * ca


def _np_neuron(cp, npar, xs, w0, delay, preset):
  """Plain loop: IF membrane, delayed BPAP, every synapse.

  Omega, eta and lambda come from the spec's numbers for ``preset``
  (:func:`_np_omega`, :func:`_np_eta`), not from the library.
  """
  lam = 1.0 if preset == 'shouval2002' else 0.0
  n_in = xs.shape[1]
  v, drive, ref = npar.v_rest, 0.0, 0
  buf = [0.0] * max(delay, 1)
  syn = [dict(f=0.0, s=0.0, bf=0.0, bs=0.0, ca=0.0, w=w0[j], g=cp.g_nmda)
         for j in range(n_in)]
  vs, spikes, ws = [], [], []
  for n, x in enumerate(xs):
    drive = drive * np.exp(-cp.dt / npar.tau_syn) + npar.syn_gain * sum(
        syn[j]['w'] * x[j] for j in range(n_in))
    v = v + cp.dt / npar.tau_m * (-(v - npar.v_rest) + drive)
    if ref > 0:
      v = npar.v_reset
    spike = v >= npar.v_thresh
    if spike:
      v = npar.v_reset
    ref = round(npar.t_ref / cp.dt) if spike else max(ref - 1, 0)
    arrival = buf[n % delay]
    buf[n % delay] = float(spike)
    for j in range(n_in):
      s = syn[j]
      if preset == 'shouval2002':   # half of the closed channels open
        c = 1.0 - (s['f'] + s['s'])
        s['f'] += x[j] * 0.5 * 0.5 * c
        s['s'] += x[j] * 0.5 * 0.5 * c
        if arrival:                  # the last BPAP replaces the earlier
          s['bf'], s['bs'] = 0.75, 0.25
      else:                          # I += mu (I_max - I); BPAPs add
        s['f'] += x[j] * 0.7 * (0.75 - s['f'])
        s['s'] += x[j] * 0.7 * (0.25 - s['s'])
        if arrival:
          s['bf'], s['bs'] = s['bf'] + 0.75, s['bs'] + 0.25
      vd = v + cp.bpap_amp * (s['bf'] + s['bs'])
      b = 1.0 / (1.0 + np.exp(-cp.mg_k * vd) * cp.mg / cp.mg_c)
      cur = s['g'] * (s['f'] + s['s']) * b * (vd - cp.v_rev)
      s['ca'] += cp.dt * (cur - s['ca'] / cp.tau_ca)
      s['w'] = min(max(s['w'] + cp.dt * _np_eta(s['ca'], preset) * (
          _np_omega(s['ca'], preset) - lam * s['w']), cp.w_min), cp.w_max)
      s['g'] += cp.dt * (cp.k_plus * (cp.g_target - s['g'])
                         - cp.k_minus * (vd - cp.v0) ** 2 * s['g'])
      for k, tau in (('f', cp.tau_nmda_f), ('s', cp.tau_nmda_s),
                     ('bf', cp.tau_bpap_f), ('bs', cp.tau_bpap_s)):
        s[k] *= np.exp(-cp.dt / tau)
    vs.append(v)
    spikes.append(spike)
    ws.append([s['w'] for s in syn])
  return np.array(vs), np.array(spikes), np.array(ws)


@pytest.mark.parametrize('preset', ['shouval2002', 'plasticnet'])
def test_neuron_step_matches_numpy_loop(preset):
  cp = ca_lib.PRESETS[preset]._replace(
      epsp_scale=0.0, k_plus=1e-3, k_minus=1e-6, w_min=0.0, w_max=1.0,
      bpap_delay=2.0)
  if preset == 'plasticnet':
    cp = cp._replace(eta_linear=2e-3)
  npar = neuron_lib.NeuronParams(syn_gain=60.0)
  rng = np.random.default_rng(0)
  xs = (rng.random((400, 3)) < 0.03).astype(np.float32)
  w0 = np.array([0.3, 0.5, 0.7], np.float32)
  delay = 20
  state = neuron_lib.init(cp, npar, 3, delay, w0)

  def step(s, inp):
    x, n = inp
    s, spike = neuron_lib.neuron_step(s, x, cp, npar, delay, n)
    return s, (s.v, spike, s.syn.w)

  _, (v, sp, w) = jax.jit(lambda: jax.lax.scan(
      step, state, (jnp.asarray(xs), jnp.arange(400))))()
  rv, rsp, rw = _np_neuron(cp, npar, xs, w0, delay, preset)
  assert rsp.sum() >= 2                      # it fired: BPAPs were tested
  assert np.all(np.abs(rw[-1] - w0) > 1e-3)   # every weight moved
  assert np.all((rw > 0.0) & (rw < 1.0))      # inside the clip bounds
  np.testing.assert_array_equal(np.asarray(sp), rsp)
  np.testing.assert_allclose(np.asarray(v), rv, atol=1e-3)
  np.testing.assert_allclose(np.asarray(w), rw, rtol=1e-5)


def test_inputs_rates_and_correlation():
  npar = neuron_lib.NeuronParams(rate_1=20.0, rate_2=5.0, corr_1=0.5)
  x = np.asarray(neuron_lib.draw_inputs(jax.random.PRNGKey(1), npar, 100_000,
                                        20, 10, 0.1))
  rate = x.mean(0) / 1e-4                    # Hz (dt = 0.1 ms)
  np.testing.assert_allclose(rate[:10].mean(), 20.0, rtol=0.1)
  np.testing.assert_allclose(rate[10:].mean(), 5.0, rtol=0.1)
  c = np.corrcoef(x.T)
  within_1 = c[:10, :10][~np.eye(10, dtype=bool)].mean()
  within_2 = c[10:, 10:][~np.eye(10, dtype=bool)].mean()
  assert within_1 > 0.15 and abs(within_2) < 0.02


def test_simulate_vmaps_over_metaplasticity_switch():
  cp = ca_lib.PLASTICNET._replace(epsp_scale=0.0, w_min=0.0, w_max=1.0,
                                  bpap_delay=2.0, k_plus=2e-4, k_minus=2e-6)
  npar = neuron_lib.NeuronParams(syn_gain=8.0)
  kw = dict(num_records=3, steps_per_record=500, num_inputs=8, group_size=4,
            delay_steps=20)
  w0 = jnp.full((8,), 0.8)
  axes = cp._replace(**{f: None for f in cp._fields})._replace(k_plus=0,
                                                               k_minus=0)
  both = jax.vmap(lambda c: neuron_lib.simulate(
      jax.random.PRNGKey(0), c, npar, w0, **kw), in_axes=(axes,))(
          cp._replace(k_plus=jnp.array([2e-4, 0.0]),
                      k_minus=jnp.array([2e-6, 0.0])))
  off = neuron_lib.simulate(jax.random.PRNGKey(0),
                            cp._replace(k_plus=0.0, k_minus=0.0), npar, w0,
                            **kw)
  chex.assert_trees_all_close(jax.tree.map(lambda a: a[1], both), off,
                              rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(off['g_nmda'], cp.g_nmda, rtol=1e-6)
  assert float(both['g_nmda'][0, -1]) != pytest.approx(cp.g_nmda)


def _neuron_arms(seconds, w_max, seeds=5, n_in=20):
  """The neuron of configs/calcium_neuron.py, shrunk: ``n_in`` inputs (half
  correlated, c = 0.5, all 10 Hz), syn_gain x 100 / n_in, eta_linear 6e-3;
  metaplasticity on and off (lanes) x ``seeds`` input seeds, one program."""
  cp = ca_lib.PLASTICNET._replace(
      eta_linear=6e-3, epsp_scale=0.0, w_min=0.0, w_max=w_max,
      bpap_delay=2.0, k_plus=2e-4, k_minus=2e-6)
  npar = neuron_lib.NeuronParams(syn_gain=4.0 * 100 / n_in, corr_1=0.5)
  w0 = jnp.full((n_in,), 0.5)
  records = int(seconds * 2)                 # 500 ms records

  def one(key, kp, km):
    return neuron_lib.simulate(
        key, cp._replace(k_plus=kp, k_minus=km), npar, w0,
        num_records=records, steps_per_record=5000, num_inputs=n_in,
        group_size=n_in // 2, delay_steps=20)

  keys = jax.random.split(jax.random.PRNGKey(0), seeds)
  run = jax.jit(jax.vmap(jax.vmap(one, (None, 0, 0)), (0, None, None)))
  rec = run(keys, jnp.array([2e-4, 0.0]), jnp.array([2e-6, 0.0]))
  return {k: np.asarray(v) for k, v in rec.items()}   # [seed, on/off, ...]


def test_neuron_selective_with_metaplasticity_saturates_without():
  """BUILD.md's neuron claim, 5 input seeds, 30 s simulated, w in [0, 1].

  On: the correlated group ends near the upper bound, the other near 0.
  Off: both groups run to the upper bound (no selectivity), rate higher.
  """
  rec = _neuron_arms(30.0, 1.0)
  w1, w2 = rec['w_1'][:, :, -1], rec['w_2'][:, :, -1]
  rate = rec['rate'][:, :, -6:].mean(-1)     # the last 3 s
  print('\nselectivity w1 on', w1[:, 0].round(3), 'w2 on', w2[:, 0].round(3),
        '\nw1 off', w1[:, 1].round(3), 'w2 off', w2[:, 1].round(3),
        '\nrate on', rate[:, 0], 'rate off', rate[:, 1])
  assert np.all(w1[:, 0] > 0.8) and np.all(w2[:, 0] < 0.3)
  assert np.all(w1[:, 0] - w2[:, 0] > 0.6)
  w_off = rec['w_final'][:, 1]
  assert np.all(w_off.min(-1) > 0.8)           # no synapse depressed
  assert np.all(w_off.mean(-1) > 0.95)         # saturated on average
  assert np.all(np.abs(w1[:, 1] - w2[:, 1]) < 0.05)   # no selectivity
  assert np.all(rate[:, 1] > 1.5 * rate[:, 0])


def test_neuron_runs_away_without_metaplasticity_unbounded():
  """Without the clip at 1: off, the weights and the rate run away; on,
  g_N's down-regulation keeps them bounded (5 seeds, 10 s simulated)."""
  rec = _neuron_arms(10.0, float('inf'))
  w = rec['w_final']                           # [seed, on/off, input]
  rate = rec['rate'][:, :, -4:].mean(-1)
  print('\nrunaway mean w on', w[:, 0].mean(-1).round(2), 'off',
        w[:, 1].mean(-1).round(2), '\nrate on', rate[:, 0], 'off',
        rate[:, 1])
  assert np.all(w[:, 1].mean(-1) > 10 * 0.5)   # off: 10x the start
  w_mid = np.stack([rec['w_1'], rec['w_2']])[:, :, 1]
  assert np.all(w_mid[:, :, -1] > w_mid[:, :, 10])   # and still growing
  assert np.all(rate[:, 1] > 150.0)
  assert np.all(w[:, 0].mean(-1) < 0.2 * w[:, 1].mean(-1))   # on: held
  assert np.all(rate[:, 0] < 0.5 * rate[:, 1])


# ----------------------------------------------------------- end to end


def test_run_calcium_end_to_end(tmp_path):
  from configs import calcium_neuron
  from configs import calcium_protocols
  from launch import main as launch_main
  c = calcium_protocols.get_config()
  c.pairing.update(num=3, num_pulses=3)
  c.rate.update(num=3, f_min=5.0, num_pulses=3)
  c.stdp.update(num=3, num_pairs=3)
  c.sliding.update(num=3, f_min=5.0, num_pulses=3,
                   condition_phases=((), ((20.0, 0.5),),
                                     ((20.0, 0.5), (0.0, 0.5))))
  n = calcium_neuron.get_config()
  c.protocols = c.protocols + ('neuron',)
  c.neuron = n.neuron
  c.neuron.update(num_inputs=6, group_size=3, duration_s=0.2)
  summary = launch_main.program(c)(c, str(tmp_path))
  for name in ('pairing', 'rate', 'stdp', 'sliding', 'neuron'):
    assert name in summary
    assert os.path.getsize(tmp_path / f'{name}.png') > 1000
  with open(tmp_path / 'summary.json') as f:
    assert set(json.load(f)) == set(summary)
  res = np.load(tmp_path / 'results.npz')
  assert res['sliding_ratio'].shape == (3, 3)
  assert res['neuron_w_final'].shape == (2, 6)
  c.rate.num = 1
  with pytest.raises(ValueError, match='config.rate.num'):
    launch_main.program(c)(c, str(tmp_path / 'bad'))
