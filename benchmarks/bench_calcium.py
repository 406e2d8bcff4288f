r"""Calcium model: one compiled protocol sweep vs a plain numpy loop.

  python -m benchmarks.bench_calcium [--freqs=64] [--pulses=100] \
      [--numpy_steps=100000] [--full_numpy]

Times the rate protocol of ``mpl_jax.neuro.protocols`` (``--freqs``
presynaptic rates log-spaced in [0.5, 50] Hz, ``--pulses`` pulses each,
dt = 0.1 ms, the 2002 preset with EPSP scale 10): every rate is a lane of
one jitted, vmapped ``lax.scan`` (0.5 Hz x 100 pulses = 2e6 steps). The
reference is a straightforward numpy loop over time steps of the same
equations (vectorised over the rates, as the lanes are). A full numpy
sweep takes minutes, so by default it runs ``--numpy_steps`` steps and its
time is scaled linearly to the whole sweep (its cost per step is constant;
``--full_numpy`` runs it all). Both are checked to agree on the state
after those steps. Prints the load average: a shared machine lowers every
figure; the ratio is measured in one run.

Measured (2-core CPU shared with other jobs, load ~10-11, jax 0.10.2), the
default 64 rates x 100 pulses (2.0e6 steps x 64 lanes):
  --full_numpy: jax 17.7 s first call (compile + run), 13.2 s run
  (6.6 us per step for all 64 lanes); numpy loop 274.5 s (137 us per step):
  20.8x (15.6x counting the compile); max |w_jax - w_numpy| 4.5e-4 after
  the whole sweep (float32 vs float64).
  default (100000 numpy steps, scaled): jax 10.6 s run, numpy 155 us per
  step -> 311 s: 29.3x; max |w| difference 8.0e-5.
"""

from __future__ import annotations

import os
import time

from absl import app
from absl import flags
import jax
import numpy as np

from mpl_jax.neuro import calcium as ca_lib
from mpl_jax.neuro import protocols as proto

flags.DEFINE_integer('freqs', 64, 'Number of presynaptic rates (lanes).')
flags.DEFINE_integer('pulses', 100, 'Pulses per rate.')
flags.DEFINE_integer('numpy_steps', 100_000,
                     'Steps the numpy loop runs (scaled to the sweep).')
flags.DEFINE_bool('full_numpy', False, 'Run the whole numpy sweep.')
flags.DEFINE_integer('repeats', 2, 'Timed JAX repetitions (best kept).')
FLAGS = flags.FLAGS


def numpy_sweep(p, isi, num, end, steps):
  """The model's step in plain numpy, all lanes at once, ``steps`` steps."""
  lanes = isi.shape[0]
  z = lambda: np.zeros(lanes)
  nf, ns, e1, e2, bf, bs, ca = z(), z(), z(), z(), z(), z(), z()
  w, g = np.full(lanes, p.w_init), np.full(lanes, p.g_nmda)
  dec = {k: np.exp(-p.dt / getattr(p, k)) for k in (
      'tau_nmda_f', 'tau_nmda_s', 'tau_epsp_1', 'tau_epsp_2', 'tau_bpap_f',
      'tau_bpap_s')}
  sig = lambda x, b: 1.0 / (1.0 + np.exp(-b * x))
  for n in range(steps):
    pre = ((n % isi == 0) & (n < isi * num)).astype(np.float64)
    closed = 1.0 - (nf + ns)
    nf = nf + pre * p.p0 * p.nmda_if * closed
    ns = ns + pre * p.p0 * p.nmda_is * closed
    e1, e2 = e1 + pre, e2 + pre
    v = p.v_rest + p.epsp_scale / p.epsp_norm * (e1 - e2) + p.bpap_amp * (
        bf + bs)
    b = 1.0 / (1.0 + np.exp(-p.mg_k * v) * p.mg / p.mg_c)
    cur = g * (nf + ns) * b * (v - p.v_rev)
    ca_new = ca + p.dt * (cur - ca / p.tau_ca)
    om = (p.omega_base + p.omega_ltp * sig(ca_new - p.alpha2, p.beta2)
          - p.omega_ltd * sig(ca_new - p.alpha1, p.beta1))
    c = np.maximum(ca_new, 0.0)
    et = p.eta_rational / (p.eta_p1 / (p.eta_p2 + c ** p.eta_p3) + p.eta_p4)
    w_new = w + p.dt * et * (om - p.lam * w)
    live = n < end
    ca, w = np.where(live, ca_new, ca), np.where(live, w_new, w)
    nf, ns = nf * dec['tau_nmda_f'], ns * dec['tau_nmda_s']
    e1, e2 = e1 * dec['tau_epsp_1'], e2 * dec['tau_epsp_2']
    bf, bs = bf * dec['tau_bpap_f'], bs * dec['tau_bpap_s']
  return ca, w


def main(argv):
  del argv
  p = ca_lib.SHOUVAL2002._replace(epsp_scale=10.0, w_init=0.26)
  f = np.geomspace(0.5, 50.0, FLAGS.freqs)
  isi = proto.isi_steps(f, p.dt)
  end = isi * FLAGS.pulses
  total = int(end.max())
  print(f'load average {os.getloadavg()}, backend {jax.default_backend()}, '
        f'jax {jax.__version__}')
  print(f'sweep: {FLAGS.freqs} rates x {FLAGS.pulses} pulses, dt={p.dt} ms: '
        f'{total} steps x {FLAGS.freqs} lanes')
  t0 = time.time()
  ratio = np.asarray(proto.rate(p, f, num_pulses=FLAGS.pulses))
  first = time.time() - t0
  best = float('inf')
  for _ in range(FLAGS.repeats):
    t0 = time.time()
    jax.block_until_ready(proto.rate(p, f, num_pulses=FLAGS.pulses))
    best = min(best, time.time() - t0)
  print(f'jax: {first:.2f} s first call (compile + run), {best:.2f} s run '
        f'({best / total * 1e6:.2f} us per step for all lanes)')
  steps = total if FLAGS.full_numpy else min(FLAGS.numpy_steps, total)
  t0 = time.time()
  ca_np, w_np = numpy_sweep(p, isi, FLAGS.pulses, end, steps)
  t_np = time.time() - t0
  per_step = t_np / steps
  np_total = per_step * total
  print(f'numpy loop: {t_np:.2f} s for {steps} steps ({per_step * 1e6:.1f} us'
        f' per step) -> {np_total:.1f} s for the sweep'
        f'{"" if steps == total else " (scaled linearly)"}')
  # Same state after `steps` steps (each lane stopped at min(end, steps)).
  pre = proto.train(np.zeros(f.shape), isi, FLAGS.pulses)
  post = proto.train(np.zeros(f.shape), 1, 0)
  part = proto.run_lanes(p, pre, post, np.nan, np.minimum(end, steps))
  err = float(np.max(np.abs(np.asarray(part.w) - w_np)))
  print(f'max |w_jax - w_numpy| after {steps} steps: {err:.2e} (float32 vs '
        f'float64)')
  print(f'ratio numpy / jax (run): {np_total / best:.1f}x; including the '
        f'compile: {np_total / first:.1f}x')
  print(f'w_final / w_init: min {ratio.min():.2f} at {f[ratio.argmin()]:.2f} '
        f'Hz, max {ratio.max():.2f}, crossover {proto.crossover(f, ratio):.2f}'
        ' Hz')


if __name__ == '__main__':
  app.run(main)
