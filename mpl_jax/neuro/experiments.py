"""Entry points of the neuro simulations: ``run_calcium`` and ``run_assoc``.

``launch.main`` calls them as ``program(config)(config, workdir)`` when
``config.program`` is ``'calcium'`` or ``'assoc'``. Each validates the
config first (a :class:`ConfigError` names the field), writes
``config.json``, runs, and writes ``results.npz``, ``summary.json`` and one
PNG per protocol (or storage rule) into ``workdir``, logging progress with
absl. They return the summary dict.
"""

from __future__ import annotations

import functools
import json
import os
import time
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from mpl_jax.neuro import assoc
from mpl_jax.neuro import calcium as ca_lib
from mpl_jax.neuro import neuron as neuron_lib
from mpl_jax.neuro import plots
from mpl_jax.neuro import protocols as proto
from mpl_jax.neuro import recall_sweep
from mpl_jax.neuro import validation

ConfigError = validation.ConfigError
validate_calcium = validation.validate_calcium
validate_assoc = validation.validate_assoc
_params = validation.params

def _write_json(path, obj):
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, sort_keys=True, default=float)
    f.write('\n')
  os.replace(tmp, path)


def _start(config, workdir):
  os.makedirs(workdir, exist_ok=True)
  _write_json(os.path.join(workdir, 'config.json'),
              json.loads(config.to_json_best_effort()))


def _save_npz(path, arrays):
  tmp = path + '.tmp.npz'
  np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
  os.replace(tmp, path)


# ----------------------------------------------------------------- calcium


def _timed(name, fn):
  t0 = time.time()
  out = jax.block_until_ready(fn())
  dt = time.time() - t0
  logging.info('%s: %.1f s (compile + run)', name, dt)
  return out, dt


def _run_neuron(config, base):
  nc = config.neuron
  cp = _params(config, 'neuron.params', base)
  npar = neuron_lib.NeuronParams(
      tau_m=nc.tau_m, v_rest=cp.v_rest, v_thresh=nc.v_thresh,
      v_reset=nc.v_reset, t_ref=nc.t_ref, tau_syn=nc.tau_syn,
      syn_gain=nc.syn_gain, rate_1=nc.rate_1, rate_2=nc.rate_2,
      corr_1=nc.corr_1, corr_2=nc.corr_2)
  flags = tuple(nc.metaplastic)
  steps = int(round(nc.record_ms / cp.dt))
  records = int(round(nc.duration_s * 1000.0 / nc.record_ms))
  kp = jnp.array([cp.k_plus if on else 0.0 for on in flags])
  km = jnp.array([cp.k_minus if on else 0.0 for on in flags])
  w0 = jnp.full((nc.num_inputs,), nc.w0, jnp.float32)
  axes = cp._replace(**{f: None for f in cp._fields})._replace(
      k_plus=0, k_minus=0)
  run = jax.vmap(lambda c: neuron_lib.simulate(
      jax.random.PRNGKey(nc.seed), c, npar, w0, num_records=records,
      steps_per_record=steps, num_inputs=nc.num_inputs,
      group_size=nc.group_size,
      delay_steps=int(round(cp.bpap_delay / cp.dt))), in_axes=(axes,))
  rec, secs = _timed('neuron', lambda: run(cp._replace(k_plus=kp,
                                                        k_minus=km)))
  rec = {k: np.asarray(v) for k, v in rec.items()}
  t_s = (np.arange(records) + 1) * nc.record_ms / 1000.0
  tail = max(1, records // 10)
  summary, runs = {'seconds': secs}, {}
  for i, on in enumerate(flags):
    label = 'metaplastic' if on else 'no metaplasticity'
    w = rec['w_final'][i]
    lo, hi = cp.w_min, cp.w_max
    span = (hi - lo) if np.isfinite(hi - lo) else float(w.max() - w.min())
    summary[label] = dict(
        w_1_final=float(rec['w_1'][i, -1]), w_2_final=float(rec['w_2'][i, -1]),
        rate_last10pct_hz=float(rec['rate'][i, -tail:].mean()),
        rate_first10pct_hz=float(rec['rate'][i, :tail].mean()),
        g_nmda_final=float(rec['g_nmda'][i, -1]),
        frac_near_bounds=float(np.mean((w < lo + 0.1 * span)
                                       | (w > hi - 0.1 * span))),
        w_1_above_w_2=bool(w[:nc.group_size].mean()
                           > w[nc.group_size:].mean()))
    runs[label] = {k: rec[k][i] for k in ('w_1', 'w_2', 'rate', 'g_nmda',
                                           'w_final')}
    runs[label]['group_size'] = nc.group_size
  arrays = {f'neuron_{k}': v for k, v in rec.items()}
  arrays['neuron_t_s'] = t_s
  return summary, arrays, (t_s, runs)


def run_calcium(config, workdir: str) -> dict[str, Any]:
  """Runs the calcium model's protocols listed in ``config.protocols``."""
  validate_calcium(config)
  _start(config, workdir)
  base = _params(config, 'params', ca_lib.PRESETS[config.preset])
  logging.info('calcium: preset %s, protocols %s, backend %s',
               config.preset, tuple(config.protocols), jax.default_backend())
  summary, arrays, figs = {}, {}, {}
  protos = tuple(config.protocols)
  if 'pairing' in protos:
    pc = config.pairing
    p = _params(config, 'pairing.params', base)
    v = np.linspace(pc.v_min, pc.v_max, pc.num)
    r, secs = _timed('pairing', lambda: proto.pairing(
        p, v, freq_hz=pc.freq_hz, num_pulses=pc.num_pulses))
    r = np.asarray(r)
    arrays.update(pairing_v=v, pairing_ratio=r)
    summary['pairing'] = dict(
        seconds=secs, ratio_at_rest=float(r[np.argmin(np.abs(v - p.v_rest))]),
        min_ratio=float(r.min()), v_at_min=float(v[r.argmin()]),
        max_ratio=float(r.max()),
        ltp_onset_mv=proto.crossover(v, r, log=False))
    figs['pairing'] = lambda path, v=v, r=r, pc=pc: plots.curve(
        path, v, r, xlabel='clamp voltage (mV)',
        title=f'pairing: {pc.num_pulses} pulses at {pc.freq_hz} Hz, '
        'voltage clamp')
  if 'rate' in protos:
    rc = config.rate
    p = _params(config, 'rate.params', base)
    f = np.geomspace(rc.f_min, rc.f_max, rc.num)
    r, secs = _timed('rate', lambda: proto.rate(p, f,
                                                num_pulses=rc.num_pulses))
    r = np.asarray(r)
    cross = proto.crossover(f, r)
    arrays.update(rate_f=f, rate_ratio=r)
    summary['rate'] = dict(seconds=secs, min_ratio=float(r.min()),
                           f_at_min=float(f[r.argmin()]),
                           max_ratio=float(r.max()),
                           f_at_max=float(f[r.argmax()]), crossover_hz=cross)
    figs['rate'] = lambda path, f=f, r=r, rc=rc, cross=cross: plots.curve(
        path, f, r, xlabel='presynaptic rate (Hz)', logx=True,
        marks=((cross, f'crossover {cross:.1f} Hz'),),
        title=f'rate dependence: {rc.num_pulses} pulses per rate')
  if 'stdp' in protos:
    sc = config.stdp
    p = _params(config, 'stdp.params', base)
    d = np.linspace(sc.dt_min, sc.dt_max, sc.num)
    r, secs = _timed('stdp', lambda: proto.stdp(
        p, d, freq_hz=sc.freq_hz, num_pairs=sc.num_pairs))
    r = np.asarray(r)
    arrays.update(stdp_dt=d, stdp_ratio=r)
    pos, neg, late = d > 0, d < 0, d > 30
    summary['stdp'] = dict(
        seconds=secs, max_ratio=float(r.max()), dt_at_max=float(d[r.argmax()]),
        min_ratio_negative=float(r[neg].min()) if neg.any() else None,
        dt_at_min_negative=float(d[neg][r[neg].argmin()]) if neg.any()
        else None,
        min_ratio_late_positive=float(r[late].min()) if late.any() else None,
        dt_at_min_late_positive=float(d[late][r[late].argmin()])
        if late.any() else None,
        max_ratio_positive=float(r[pos].max()) if pos.any() else None)
    figs['stdp'] = lambda path, d=d, r=r, sc=sc: plots.curve(
        path, d, r, xlabel='t_post - t_pre (ms)',
        title=f'STDP: {sc.num_pairs} pairs at {sc.freq_hz} Hz, BPAP+ADP')
  if 'sliding' in protos:
    sc = config.sliding
    p = _params(config, 'sliding.params', base)
    f = np.geomspace(sc.f_min, sc.f_max, sc.num)
    names = tuple(sc.condition_names)
    phases = [tuple(tuple(x) for x in ph) for ph in sc.condition_phases]
    (g_on, r_on), secs = _timed('sliding', lambda: proto.sliding_threshold(
        p, f, phases, num_pulses=sc.num_pulses))
    g_on, r_on = np.asarray(g_on), np.asarray(r_on)
    r_off = None
    if sc.compare_off:
      off = p._replace(k_plus=0.0, k_minus=0.0)
      (_, r_off), s2 = _timed('sliding (off)', lambda: proto.sliding_threshold(
          off, f, phases, num_pulses=sc.num_pulses))
      r_off, secs = np.asarray(r_off), secs + s2
      arrays['sliding_ratio_off'] = r_off
    cross = [proto.crossover(f, x) for x in r_on]
    arrays.update(sliding_f=f, sliding_ratio=r_on, sliding_g=g_on)
    summary['sliding'] = dict(
        seconds=secs, conditions=list(names), g_nmda=g_on.tolist(),
        crossover_hz=cross,
        crossover_off_hz=[proto.crossover(f, x) for x in r_off]
        if r_off is not None else None)
    figs['sliding'] = functools.partial(plots.sliding, freqs=f, names=names,
                                        ratio_on=r_on, ratio_off=r_off,
                                        g_on=g_on, cross_on=cross)
  if 'neuron' in protos:
    s, a, (t_s, runs) = _run_neuron(config, base)
    summary['neuron'] = s
    arrays.update(a)
    figs['neuron'] = functools.partial(plots.neuron, t_s=t_s, runs=runs)
  _save_npz(os.path.join(workdir, 'results.npz'), arrays)
  _write_json(os.path.join(workdir, 'summary.json'), summary)
  if config.get('plot', True):
    for name, fn in figs.items():
      logging.info('wrote %s', fn(os.path.join(workdir, f'{name}.png')))
  logging.info('calcium summary: %s', json.dumps(summary, default=float))
  return summary


# ------------------------------------------------------------------- assoc


def _mean_sem(e):
  e = np.asarray(e, np.float64)
  return e.mean(1), e.std(1) / np.sqrt(max(e.shape[1], 1))


def _assoc_block(config, *, n, f, ms, trials, exact, seed, rules):
  cue = assoc.cue_noise(config.cue.r, f, config.cue.kind)
  spec = recall_sweep.CascadeSpec(
      config.cascade.depth, float(config.cascade.x), config.cascade.num_bins,
      config.cascade.get('role', 'pre'))
  decs = tuple(config.decoders)
  out = recall_sweep.recall_errors(
      seed, tuple(rules), n=n, f=f, ms=ms, trials=trials, cue=cue,
      sweeps=config.dynamics.sweeps, burn=config.dynamics.burn,
      mode=config.dynamics.mode, decoders=decs, cascade_spec=spec,
      cascade_rule=config.cascade.rule, exact=exact)
  names = ['cue'] + [x for d in decs
                     for x in ((d, 'exact ' + d) if exact else (d,))]
  res = {r: {nm: _mean_sem(e[..., j]) for j, nm in enumerate(names)}
         for r, e in out.items()}
  return {r: np.asarray(e) for r, e in out.items()}, res, names


def run_assoc(config, workdir: str) -> dict[str, Any]:
  """Recall error vs stored patterns for each rule x decoder (+ exact)."""
  validate_assoc(config)
  _start(config, workdir)
  ms = tuple(config.ms)
  logging.info('assoc: N=%d f=%.3f rules %s decoders %s M %s, %d trials',
               config.n, config.f, tuple(config.rules),
               tuple(config.decoders), ms, config.trials)
  t0 = time.time()
  raw, res, names = _assoc_block(config, n=config.n, f=config.f, ms=ms,
                                 trials=config.trials, exact=False,
                                 seed=config.seed, rules=config.rules)
  secs = time.time() - t0
  logging.info('assoc main sweep: %.1f s', secs)
  arrays = {f'errors_{r}': e for r, e in raw.items()}
  arrays['ms'] = np.asarray(ms)
  summary = dict(seconds=secs, columns=names, ms=list(ms), rules={})
  for r, d in res.items():
    summary['rules'][r] = {nm: [float(x) for x in d[nm][0]] for nm in names}
  figs = {'recall': lambda path: plots.recall_errors(
      path, ms, res, tuple(config.decoders),
      title=f'recall from a noisy cue: N={config.n}, f={config.f}, '
      f'{config.dynamics.mode} ({config.trials} trials, mean +- sem)')}
  if config.exact.enabled:
    ec = config.exact
    t0 = time.time()
    raw_e, res_e, names_e = _assoc_block(
        config, n=ec.n, f=ec.f, ms=tuple(ec.ms), trials=ec.trials,
        exact=True, seed=config.seed + 1, rules=ec.rules)
    summary['exact'] = dict(
        seconds=time.time() - t0, n=ec.n, f=ec.f, ms=list(ec.ms),
        columns=names_e,
        rules={r: {nm: [float(x) for x in d[nm][0]] for nm in names_e}
               for r, d in res_e.items()})
    arrays.update({f'exact_errors_{r}': e for r, e in raw_e.items()})
    arrays['exact_ms'] = np.asarray(ec.ms)
    figs['recall_exact'] = lambda path: plots.recall_errors(
        path, tuple(ec.ms), res_e, tuple(config.decoders),
        title=f'tiny network (N={ec.n}, f={ec.f}): Gibbs from the cue '
        f'(solid) vs thresholded exact marginals of the same posterior '
        f'(dotted, 2^{ec.n} states enumerated); {ec.trials} trials')
  _save_npz(os.path.join(workdir, 'results.npz'), arrays)
  _write_json(os.path.join(workdir, 'summary.json'), summary)
  if config.get('plot', True):
    for name, fn in figs.items():
      logging.info('wrote %s', fn(os.path.join(workdir, f'{name}.png')))
  logging.info('assoc summary written to %s', workdir)
  return summary
