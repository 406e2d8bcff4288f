"""Tests of the spiking layers, Poisson coding, eRBP and the eRBP learner."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from mpl_jax.snn import coding
from mpl_jax.snn import erbp
from mpl_jax.snn import lif
from mpl_jax.snn import spiking_mlp
from mpl_jax.train import models
from mpl_jax.train import spiking


# --------------------------------------------------------------- references
def np_lif(p, drive):
  """SPEC-more §2's LIF equations, literally (float64 numpy)."""
  n = drive.shape[1]
  i = np.zeros(n)
  v = np.zeros(n)
  last = np.full(n, -p.refractory)
  spikes, volts, currents = [], [], []
  for t in range(drive.shape[0]):
    i = i + (p.dt / p.tau_syn) * (drive[t] - i)
    v = v + (p.dt / p.tau_mem) * ((p.v_rest - v) + p.resistance * i)
    v[v < -p.floor * p.threshold] = -p.floor * p.threshold
    v[t * p.dt - last <= p.refractory] = p.v_reset
    fired = v >= p.threshold
    v[fired] = p.v_reset
    last[fired] = t * p.dt
    spikes.append(fired.astype(float))
    volts.append(v.copy())
    currents.append(i.copy())
  return np.array(spikes), np.array(volts), np.array(currents)


def np_erbp(w_in, w_out, b, s_in, target, p, error_mode='sign'):
  """A numpy port of the reference's eRBP loop (Nu-AI code, error-threshold
  script) with the weights held fixed and the events summed (gradient
  convention: the reference's ``c -= sign(U)`` is ``+sign(U)`` here).

  ``w_in`` is ``[D, H]``, ``w_out`` ``[H, C]``, ``b`` ``[H, C]``.
  """
  h, c = w_out.shape
  hp, op = p.hidden, p.output
  i1, v1, ts1 = np.zeros(h), np.zeros(h), np.full(h, -hp.refractory)
  i2, v2, ts2 = np.zeros(c), np.zeros(c), np.full(c, -op.refractory)
  u1, u2 = np.zeros(h), np.zeros(c)
  verr1, verr2 = np.zeros(c), np.zeros(c)
  d_in, d_out = np.zeros_like(w_in), np.zeros_like(w_out)
  counts, err_spikes = np.zeros(c), 0
  v_err_floor = -p.floor_err * p.threshold_err
  for t in range(s_in.shape[0]):
    fired_in = np.nonzero(s_in[t])[0]
    i1 += (hp.dt / hp.tau_syn) * (s_in[t] @ w_in - i1)
    v1 += (hp.dt / hp.tau_mem) * ((hp.v_rest - v1) + i1 * hp.resistance)
    v1[v1 < -hp.threshold * hp.floor] = -hp.threshold * hp.floor
    v1[t * hp.dt - ts1 <= hp.refractory] = 0
    fired = np.nonzero(v1 >= hp.threshold)[0]
    v1[fired] = 0
    ts1[fired] = t
    st1 = np.zeros(h)
    st1[fired] = 1
    i2 += (op.dt / op.tau_syn) * (st1 @ w_out - i2)
    v2 += (op.dt / op.tau_mem) * ((op.v_rest - v2) + i2 * op.resistance)
    v2[v2 < -op.threshold * op.floor] = -op.threshold * op.floor
    v2[t * op.dt - ts2 <= op.refractory] = 0
    fired2 = np.nonzero(v2 >= op.threshold)[0]
    v2[fired2] = 0
    ts2[fired2] = t
    st2 = np.zeros(c)
    st2[fired2] = 1
    counts += st2
    ierr = st2 - target[t]
    verr1 += (p.dt / p.tau_err) * (ierr * p.r_err)
    verr1[verr1 < v_err_floor] = v_err_floor
    f1 = np.nonzero(verr1 >= p.threshold_err)[0]
    verr1[f1] -= p.threshold_err
    serr1 = np.zeros(c)
    serr1[f1] = 1
    verr2 -= (p.dt / p.tau_err) * (ierr * p.r_err)
    verr2[verr2 < v_err_floor] = v_err_floor
    f2 = np.nonzero(verr2 >= p.threshold_err)[0]
    verr2[f2] -= p.threshold_err
    serr2 = np.zeros(c)
    serr2[f2] = 1
    err_spikes += len(f1) + len(f2)
    k = p.dt / p.tau_dendrite
    u1 += k * (-p.dendrite_leak * u1 + (b @ serr1 - b @ serr2) * p.r_dendrite)
    u2 += k * (-p.dendrite_leak * u2 + (serr1 - serr2) * p.r_dendrite)
    up_hid = np.where(np.abs(u1) > p.threshold_hidden)[0]
    up_out = np.where(np.abs(u2) > p.threshold_output)[0]
    if len(up_hid):
      post = up_hid[(i1[up_hid] > p.i_min) & (i1[up_hid] < p.i_max)]
      if len(post) and len(fired_in):
        a = np.sign(u1[post]) if error_mode == 'sign' else u1[post]
        u1[post] = 0
        d_in[np.ix_(fired_in, post)] += a[None, :]
    if len(up_out):
      post = up_out[(i2[up_out] > p.i_min) & (i2[up_out] < p.i_max)]
      if len(post) and len(fired):
        a = np.sign(u2[post]) if error_mode == 'sign' else u2[post]
        u2[post] = 0
        d_out[np.ix_(fired, post)] += a[None, :]
  return d_in, d_out, counts, err_spikes


def _tiny_net(seed=0, d=16, h=8, c=2, steps=120):
  rng = np.random.default_rng(seed)
  w_in = rng.uniform(-1.0, 1.5, (d, h))
  w_out = rng.uniform(-1.0, 2.0, (h, c))
  b = rng.uniform(-0.15, 0.15, (h, c))
  s_in = (rng.random((steps, d)) < 0.3).astype(float)
  target = np.zeros((steps, c))
  target[:, 1] = rng.random(steps) < 0.1
  return w_in, w_out, b, s_in, target


# ---------------------------------------------------------------------- LIF
@pytest.mark.parametrize('p', [lif.HIDDEN, lif.OUTPUT])
def test_lif_matches_numpy_over_many_steps(p):
  rng = np.random.default_rng(0)
  steps, n = 400, 40
  # Bursts of strong drive, silences and inhibition: spikes, refractory
  # holds, the voltage floor and resets all occur.
  mean = np.linspace(0.0, 3.0, n)
  drive = rng.normal(mean, 2.0, (steps, n)) * (rng.random((steps, 1)) < 0.7)
  drive[100:130] = -5.0
  want_s, want_v, want_i = np_lif(p, drive)
  with jax.enable_x64(True):
    final, s, i = lif.run(p, jnp.asarray(drive))
  np.testing.assert_array_equal(np.asarray(s), want_s)
  np.testing.assert_allclose(np.asarray(i), want_i, rtol=1e-12, atol=1e-12)
  np.testing.assert_allclose(np.asarray(final.voltage), want_v[-1],
                             rtol=1e-12, atol=1e-12)
  assert want_s.sum() > 100
  assert np.any(want_v == -p.floor * p.threshold)
  # Refractory: no neuron fires within t_ref steps of its last spike.
  for j in range(n):
    times = np.flatnonzero(want_s[:, j])
    assert np.all(np.diff(times) > p.refractory)
  # float32 agrees with float64 on all but borderline crossings.
  _, s32, _ = lif.run(p, jnp.asarray(drive, jnp.float32))
  assert np.mean(np.asarray(s32) != want_s) < 0.01


def test_surrogate_gradient():
  x = jnp.array([-1.0, 0.0, 0.5])
  g = jax.grad(lambda v: lif.spike_fn(v, 'fast_sigmoid', 2.0).sum())(x)
  np.testing.assert_allclose(g, 1.0 / (1.0 + 2.0 * np.abs(x)) ** 2)
  np.testing.assert_array_equal(lif.spike_fn(x, 'fast_sigmoid'), [0, 1, 1])
  g0 = jax.grad(lambda v: lif.spike_fn(v, 'none').sum())(x)
  np.testing.assert_array_equal(g0, 0.0)
  with pytest.raises(ValueError, match='surrogate'):
    lif.spike_fn(x, 'tanh')


# ------------------------------------------------------------------- coding
@pytest.mark.parametrize('sampler', coding.SAMPLERS)
def test_poisson_rate_within_statistical_tolerance(sampler):
  x = jnp.array([0.0, 0.1, 0.5, 1.0, 8.0])
  spikes = coding.poisson_encode(jax.random.PRNGKey(3), jnp.tile(x, (400, 1)),
                                 max_rate=250.0, dt=1.0, num_steps=150,
                                 sampler=sampler)
  assert spikes.shape == (150, 400, 5)
  rate = np.asarray(spikes.mean((0, 1)))
  p = np.clip(np.asarray(x) * 0.25, 0, 1)
  n = 150 * 400
  tol = 5 * np.sqrt(p * (1 - p) / n) + 1e-12
  np.testing.assert_array_less(np.abs(rate - p), tol + 1e-9)
  assert rate[0] == 0.0 and rate[-1] == 1.0
  # Different keys, different trains; steps are not all alike.
  other = coding.poisson_encode(jax.random.PRNGKey(4), jnp.tile(x, (400, 1)),
                                sampler=sampler)
  assert not np.array_equal(np.asarray(spikes), np.asarray(other))
  per_step = np.asarray(spikes[:, :, 2].mean(1))
  assert per_step.std() > 0


# --------------------------------------------------------------------- eRBP
@pytest.mark.parametrize('error_mode,leak', [('sign', 0.0), ('value', 0.0),
                                             ('sign', 1.0)])
def test_erbp_proposal_matches_numpy_port(error_mode, leak):
  # Leaky compartments stay small: lower thresholds so that events occur.
  p = erbp.ErbpParams(dendrite_leak=leak,
                      threshold_hidden=0.45 if leak == 0 else 0.03,
                      threshold_output=2.25 if leak == 0 else 0.5)
  w_in, w_out, b, s_in, target = _tiny_net()
  d_in, d_out, counts, err = np_erbp(w_in, w_out, b, s_in, target, p,
                                     error_mode)
  with jax.enable_x64(True):
    out = erbp.present({'hidden': jnp.asarray(w_in),
                        'output': jnp.asarray(w_out)}, jnp.asarray(b),
                       jnp.asarray(s_in), jnp.asarray(target), params=p,
                       error_mode=error_mode, rows=(4, 16))
  np.testing.assert_allclose(out.proposal['hidden'], d_in, atol=1e-12)
  np.testing.assert_allclose(out.proposal['output'], d_out, atol=1e-12)
  np.testing.assert_array_equal(out.counts, counts)
  assert float(out.error_spikes) == err
  # The test exercises both layers' events.
  assert np.abs(d_in).sum() > 0 and np.abs(d_out).sum() > 0
  assert int(out.events[0]) > 0 and int(out.events[1]) > 0


def test_outer_sum_tiers_equal_the_dense_product():
  rng = np.random.default_rng(0)
  f = jax.jit(lambda p, a: erbp.outer_sum(p, a, rows=(8, 24)))
  for k in (0, 3, 8, 9, 24, 25, 60):
    pre = jnp.asarray(rng.random((60, 20)) < 0.3, jnp.float32)
    a = np.zeros((60, 7), np.float32)
    a[rng.choice(60, k, replace=False), 0] = 1.0
    a = jnp.asarray(a * rng.choice([-1.0, 1.0], size=(60, 7)))
    np.testing.assert_allclose(f(pre, a), np.asarray(pre).T @ np.asarray(a),
                               atol=1e-6)
  assert f._cache_size() == 1
  with pytest.raises(ValueError, match='increase'):
    erbp.outer_sum(pre, a, rows=(24, 8))


def test_forward_counts_equal_simulation_counts_and_predict():
  w_in, w_out, b, s_in, target = _tiny_net(seed=1)
  w = {'hidden': jnp.asarray(w_in, jnp.float32),
       'output': jnp.asarray(w_out, jnp.float32)}
  trace = erbp.simulate(w, jnp.asarray(b, jnp.float32),
                        jnp.asarray(s_in, jnp.float32),
                        jnp.asarray(target, jnp.float32))
  batch = jnp.stack([jnp.asarray(s_in, jnp.float32)] * 3, 1)
  counts = erbp.forward_counts(w, batch)
  for k in range(3):
    np.testing.assert_array_equal(counts[k], trace.counts)
  np.testing.assert_array_equal(
      erbp.predict(jnp.array([[0.0, 0.0], [3.0, 1.0], [1.0, 3.0]])),
      [-1, 0, 1])
  np.testing.assert_array_equal(
      erbp.predict(jnp.array([[3.0, 1.0]]), jnp.array([False, True])), [1])


# -------------------------------------------------------------- SpikingMLP
def test_spiking_mlp_surrogate_gradients_and_registry():
  assert models.MODELS['spiking_mlp'] is spiking_mlp.SpikingMLP
  model = spiking_mlp.SpikingMLP((100, 16, 2), num_steps=30,
                                 init_scale=2.0, rngs=nnx.Rngs(0))
  x = jax.random.uniform(jax.random.PRNGKey(0), (5, 100), minval=0.5)
  logits = model(x, rng=jax.random.PRNGKey(1))
  assert logits.shape == (5, 2)
  np.testing.assert_array_equal(logits, jnp.round(logits))  # spike counts
  with pytest.raises(ValueError, match='rng'):
    model(x)
  graphdef, params = nnx.split(model, nnx.Param)

  def loss(params, surrogate_model=graphdef):
    m = nnx.merge(surrogate_model, params)
    out = m(x, rng=jax.random.PRNGKey(1))
    return -jax.nn.log_softmax(out)[:, 0].mean()

  grads = jax.grad(loss)(params)
  norms = [float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads)]
  assert all(np.isfinite(norms)) and all(n > 0 for n in norms)
  frozen = spiking_mlp.SpikingMLP((100, 16, 2), num_steps=30,
                                  init_scale=2.0, surrogate='none',
                                  rngs=nnx.Rngs(0))
  g2, p2 = nnx.split(frozen, nnx.Param)
  grads = jax.grad(lambda p: loss(p, g2))(p2)
  assert all(float(jnp.abs(g).sum()) == 0 for g in jax.tree.leaves(grads))


# ----------------------------------------------------------------- learner
def _learner(stream, **snn):
  c = ml_collections.ConfigDict()
  c.model = dict(hidden=(32,))
  c.snn = spiking.snn_config(num_steps=60, **snn)
  c.optimizer = dict(name='tacos', learning_rate=1.0, mechanisms=15.0,
                     neuromod_gain=2.0)
  c.data = dict(scale=1 / 255.0, mean=0.0, std=1.0)
  c.protocol = _protocol(batch_size=1, eval_batch_size=16)
  return spiking.make_erbp_learner(c, stream, None)


def _protocol(**overrides):
  from configs import default  # pylint: disable=g-import-not-at-top
  p = default.get_config().protocol
  p.update(dict(reset_optimizer='none', **overrides))
  return p


def test_learner_rejects_a_missing_or_unknown_snn_field():
  c = ml_collections.ConfigDict()
  c.model = dict(hidden=(32,))
  c.optimizer = dict(name='tacos', learning_rate=1.0)
  c.data = dict(scale=1 / 255.0, mean=0.0, std=1.0)
  c.protocol = _protocol()
  with pytest.raises(ValueError, match='needs config.snn'):
    spiking.make_erbp_learner(c, _Stream(), None)
  c.snn = spiking.snn_config()
  del c.snn['tau_err']
  with pytest.raises(ValueError, match=r"missing fields \['tau_err'\]"):
    spiking.make_erbp_learner(c, _Stream(), None)
  c.snn = spiking.snn_config()
  c.snn.tau_error = 3.0
  with pytest.raises(ValueError, match=r"unknown fields \['tau_error'\]"):
    spiking.make_erbp_learner(c, _Stream(), None)


class _Stream:
  input_dim, num_classes, num_tasks = 20, 2, 2


def test_learner_jit_vmap_over_seeds_equals_single_runs():
  learner = _learner(_Stream())
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (40, 20)), jnp.uint8)
  labels = jnp.asarray(rng.integers(0, 2, 40), jnp.int32)
  idx = jnp.arange(40, dtype=jnp.int32)
  perm, mask = jnp.arange(20), jnp.ones(2, bool)
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  seeds = jnp.arange(3, dtype=jnp.int32)
  train = jax.jit(learner.train_epoch)
  single = []
  for seed, k in zip(seeds, keys):
    s = learner.init(seed)
    s, _, _ = train(s, images, idx, labels, perm, mask, k, jnp.int32(0))
    single.append(s)
  assert train._cache_size() == 1
  states = jax.vmap(learner.init)(seeds)
  states, rate, acc = jax.jit(jax.vmap(
      learner.train_epoch, in_axes=(0, None, None, None, None, None, 0,
                                    None)))(states, images, idx, labels, perm,
                                            mask, keys, jnp.int32(0))
  for r, s in enumerate(single):
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[r], states), s,
                                rtol=1e-5, atol=1e-5)
  assert rate.shape == acc.shape == (3,)
  # Seeds differ (weights, feedback), learning changed the weights.
  assert not np.allclose(single[0].params['hidden'],
                         single[1].params['hidden'])
  assert not np.allclose(single[0].params['hidden'],
                         learner.init(seeds[0]).params['hidden'])
  # Fixed-size state, task boundaries ignored.
  s0 = learner.init(seeds[0])
  chex.assert_trees_all_equal_shapes_and_dtypes(single[0], s0)
  assert learner.start_task(s0, seeds[0], 3) is s0


def test_learner_minibatch_deviation_runs():
  learner = _learner(_Stream())
  learner = dataclasses.replace(learner, batch_size=4)
  rng = np.random.default_rng(1)
  images = jnp.asarray(rng.integers(0, 256, (16, 20)), jnp.uint8)
  labels = jnp.asarray(rng.integers(0, 2, 16), jnp.int32)
  s0 = learner.init(0)
  s, rate, acc = jax.jit(learner.train_epoch)(
      s0, images, jnp.arange(16, dtype=jnp.int32), labels, jnp.arange(20),
      jnp.ones(2, bool), jax.random.PRNGKey(1), jnp.int32(0))
  assert np.isfinite(float(rate)) and 0 <= float(acc) <= 1
  chex.assert_trees_all_equal_shapes_and_dtypes(s, s0)


def test_end_to_end_on_fashion_mnist():
  """Two tasks of split Fashion-MNIST (domain-incremental), small subsets:
  TACOS (all mechanisms) learns the first task well above chance."""
  from mpl_jax.data import datasets  # pylint: disable=g-import-not-at-top
  from mpl_jax.data import streams  # pylint: disable=g-import-not-at-top
  try:
    ds = datasets.load_dataset('fashion_mnist')
  except Exception as e:  # pylint: disable=broad-except
    pytest.skip(f'Fashion-MNIST not available offline: {e}')
  stream = streams.split_stream(ds, [0], classes_per_task=2,
                                scenario='domain', num_tasks=2,
                                train_subset=600, test_subset=300)
  c = ml_collections.ConfigDict()
  c.model = dict(hidden=(200,))
  c.snn = spiking.snn_config()
  c.optimizer = dict(name='tacos', learning_rate=1.0, mechanisms=15.0,
                     neuromod_gain=2.0)
  c.data = dict(scale=1 / 255.0, mean=0.0, std=1.0)
  c.protocol = _protocol(batch_size=1, eval_batch_size=100)
  learner = spiking.make_erbp_learner(c, stream, None)
  images, test_images = jnp.asarray(ds.train_x), jnp.asarray(ds.test_x)
  perm, mask = jnp.arange(784), jnp.ones(2, bool)
  key = jax.random.PRNGKey(0)
  state = learner.init(0)
  train, evaluate = jax.jit(learner.train_epoch), jax.jit(learner.evaluate)
  accs = []
  for t, task in enumerate(stream.tasks):
    state, rate, _ = train(state, images, jnp.asarray(task.train_idx[0]),
                           jnp.asarray(task.train_y[0]), perm, mask,
                           jax.random.fold_in(key, t), jnp.int32(0))
    assert np.isfinite(float(rate))
    accs.append([float(evaluate(state, test_images,
                                jnp.asarray(s.test_idx[0]),
                                jnp.asarray(s.test_y[0]), perm, mask,
                                jax.random.PRNGKey(9), -1))
                 for s in stream.tasks[:t + 1]])
  assert accs[0][0] > 0.75, accs
  assert accs[1][1] > 0.6, accs


def test_config_arguments_and_validation():
  from configs import split_fmnist_tacos  # pylint: disable=g-import-not-at-top
  from mpl_jax.train import validate  # pylint: disable=g-import-not-at-top
  code = lambda a: split_fmnist_tacos.get_config(a).optimizer.mechanisms
  assert code('all') == 15 and code('none') == 0
  assert code('no_meta') == 14 and code('no_neuromod') == 7
  assert code('meta+neuromod') == 9 and code('cons+hetero') == 6
  with pytest.raises(ValueError, match='unknown mechanism'):
    split_fmnist_tacos.get_config('no_sleep')
  ablation = split_fmnist_tacos.get_config('ablation')
  assert ablation.sweep.name == 'mechanisms'
  assert sorted(ablation.sweep['values']) == [0, 7, 11, 13, 14, 15]
  for arg in ('all', 'none', 'ablation', 'ewc', 'si', 'sgd'):
    c = split_fmnist_tacos.get_config(arg)
    validate.validate_config(c)
    assert c.num_seeds >= 5 and c.data.scenario == 'domain'
    assert c.protocol.epochs_per_task == 1
    assert c.learner == ('gradient' if arg in ('ewc', 'si', 'sgd')
                         else 'erbp')
    if c.learner == 'erbp':
      assert not c.protocol.task_boundaries
