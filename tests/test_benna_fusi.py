"""Tests of the Benna-Fusi complex synapse and the BNN beaker optimizer."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import mpl_jax
from _transform_checks import random_grads
from _transform_checks import small_mlp_params


def _run(tx, params, grads, **extra):
  """Jitted steps; returns final params, per-step params and the state."""
  step = jax.jit(lambda g, s, p: tx.update(g, s, p, **extra))
  state = tx.init(params)
  traj = []
  for g in grads:
    u, state = step(g, state, params)
    params = optax.apply_updates(params, u)
    traj.append(params)
  return params, traj, state


def _np(tree):
  return jax.tree.map(lambda x: np.asarray(x, np.float64), tree)


# ---------------------------------------------------------------------------
# numpy ports of the reference code (van de Ven, complex_synapses.py), written
# as the PyTorch loops: one parameter at a time, beakers in a dict.


def _np_constants(n, alpha, beta):
  x = (beta / alpha) ** (1 / (2 * n - 2)) if n > 1 else beta
  caps = {k: x ** (k - 1) for k in range(1, n + 1)}
  g = {k: (1 / alpha) * x ** (1 - k) if n > 1 else 1 / beta
       for k in range(1, n + 1)}
  return caps, g


def np_complex_synapse(params, grads, *, lr, n, alpha, beta, init='same',
                       adam=None, order='gauss_seidel'):
  """ComplexSynapse (adam=None) or AdamComplexSynapse (adam=(b1, b2, eps)).

  Returns the parameter trajectory and the final beakers.
  """
  caps, g = _np_constants(n, alpha, beta)
  params = _np(params)
  names = list(params)
  state = {}
  for name in names:
    p = params[name]
    st = {'m': np.zeros_like(p), 'v': np.zeros_like(p)}
    for k in range(2, n + 1):
      st[k] = p.copy() if init == 'same' else np.zeros_like(p)
    st[n + 1] = np.zeros_like(p)
    state[name] = st
  traj = []
  for t, grad in enumerate(grads, start=1):
    grad = _np(grad)
    for name in names:
      p, st, gr = params[name], state[name], grad[name]
      if adam is None:
        step_lr, proposed = lr, gr
      else:
        b1, b2, eps = adam
        st['m'] = b1 * st['m'] + (1 - b1) * gr
        st['v'] = b2 * st['v'] + (1 - b2) * gr * gr
        proposed = st['m'] / (np.sqrt(st['v']) + eps)
        step_lr = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
      if n == 0:
        p = p - step_lr * proposed
      else:
        old = {k: st[k].copy() for k in range(2, n + 2)}
        old[1] = p.copy()
        p = p + (step_lr / caps[1]) * (-proposed + g[1] * (st[2] - p))
        st[1] = p
        for k in range(2, n + 1):
          src = st if order == 'gauss_seidel' else old
          inflow = g[k - 1] * (src[k - 1] - st[k])
          backflow = g[k] * (st[k + 1] - st[k])
          st[k] = st[k] + (step_lr / caps[k]) * (inflow + backflow)
      params[name] = p
    traj.append(dict(params))
  return traj, state


def _flat_params(seed=0, scale=0.5):
  p = small_mlp_params(seed, scale)
  return {'w0': p['dense0']['kernel'], 'b0': p['dense0']['bias'],
          'w1': p['dense1']['kernel']}


@pytest.mark.parametrize('init', ['same', 'zero'])
@pytest.mark.parametrize('order', ['gauss_seidel', 'jacobi'])
def test_sgd_matches_numpy_port_of_reference(init, order):
  params = _flat_params()
  grads = random_grads(params, 150)
  kw = dict(n=5, alpha=3.0, beta=300.0)
  ref, ref_state = np_complex_synapse(params, grads, lr=0.2, init=init,
                                      order=order, **kw)
  tx = mpl_jax.benna_fusi_sgd(0.2, beakers=5, alpha=3.0, beta=300.0,
                              init=init, order=order)
  _, traj, state = _run(tx, params, grads)
  for t in (0, 9, 149):
    chex.assert_trees_all_close(_np(traj[t]), ref[t], rtol=2e-4, atol=2e-5)
  chain = state[1].beakers
  assert len(chain) == 4
  for k in range(4):
    np.testing.assert_allclose(chain[k]['w0'], ref_state['w0'][k + 2],
                               rtol=2e-4, atol=2e-5)
  # The chain did something: the weights differ from plain SGD's.
  sgd_ref, _ = np_complex_synapse(params, grads, lr=0.2, n=0, alpha=1.0,
                                  beta=1.0)
  assert np.abs(ref[-1]['w0'] - sgd_ref[-1]['w0']).max() > 0.1


def test_adam_matches_numpy_port_of_reference():
  params = _flat_params(1)
  grads = random_grads(params, 150, seed=3)
  ref, ref_state = np_complex_synapse(params, grads, lr=0.05, n=5, alpha=2.0,
                                      beta=400.0, adam=(0.9, 0.999, 1e-8))
  tx = mpl_jax.benna_fusi_adam(0.05, beakers=5, alpha=2.0, beta=400.0)
  _, traj, state = _run(tx, params, grads)
  for t in (0, 1, 9, 149):
    chex.assert_trees_all_close(_np(traj[t]), ref[t], rtol=2e-4, atol=2e-5)
  np.testing.assert_allclose(state[2].beakers[-1]['w1'],
                             ref_state['w1'][5], rtol=2e-4, atol=2e-5)


def test_zero_beakers_is_the_inner_optimizer_exactly():
  params = _flat_params()
  grads = random_grads(params, 20)
  p_bf, _, _ = _run(mpl_jax.benna_fusi_sgd(0.1, beakers=0), params, grads)
  p_sgd, _, _ = _run(optax.sgd(0.1), params, grads)
  chex.assert_trees_all_equal(p_bf, p_sgd)
  p_bf, _, _ = _run(mpl_jax.benna_fusi_adam(1e-2, beakers=0), params, grads)
  adam = optax.chain(mpl_jax.scale_by_adam_pytorch(),
                     optax.scale_by_learning_rate(1e-2))
  p_adam, _, _ = _run(adam, params, grads)
  chex.assert_trees_all_equal(p_bf, p_adam)
  # coupling = 0 (injectable) freezes a chain of any length: Adam exactly.
  inj = optax.inject_hyperparams(mpl_jax.benna_fusi_adam,
                                 static_args=('beakers', 'b1', 'b2', 'eps'))(
                                     1e-2, beakers=5, alpha=1.0, beta=10.0,
                                     coupling=0.0)
  chex.assert_trees_all_equal(_run(inj, params, grads)[0], p_adam)
  # Composed after any optimizer, zero beakers change nothing.
  tx = optax.chain(optax.adam(1e-2), mpl_jax.scale_by_benna_fusi(beakers=0))
  chex.assert_trees_all_equal(_run(tx, params, grads)[0],
                              _run(optax.adam(1e-2), params, grads)[0])


def test_one_beaker_is_a_pure_decay():
  params = _flat_params()
  zeros = [jax.tree.map(jnp.zeros_like, params)] * 200
  lr, beta = 0.5, 40.0
  p, _, state = _run(mpl_jax.benna_fusi_sgd(lr, beakers=1, beta=beta),
                     params, zeros)
  assert state[1].beakers == ()  # no hidden beaker stored
  chex.assert_trees_all_close(
      p, jax.tree.map(lambda w: w * (1 - lr / beta) ** 200, params),
      rtol=1e-4)
  # With gradients: w <- w - lr g - lr w / beta, at every step.
  grads = random_grads(params, 3)
  tx = mpl_jax.benna_fusi_sgd(lr, beakers=1, beta=beta)
  u, _ = tx.update(grads[0], tx.init(params), params)
  chex.assert_trees_all_close(
      u, jax.tree.map(lambda g, w: -lr * g - lr * w / beta, grads[0], params),
      rtol=1e-6, atol=1e-7)


def _pulse_trace(beakers, alpha, beta, steps):
  """w(t) after w = 1 with empty beakers, in free evolution (steps unit)."""
  tx = mpl_jax.scale_by_benna_fusi(beakers=beakers, alpha=alpha, beta=beta,
                                   init='zero', time_unit='step')
  params = {'w': jnp.ones((1,))}

  def body(carry, _):
    p, s = carry
    u, s = tx.update({'w': jnp.zeros((1,))}, s, p)
    p = optax.apply_updates(p, u)
    return (p, s), p['w'][0]

  _, ws = jax.jit(lambda p: jax.lax.scan(body, (p, tx.init(p)), None,
                                         length=steps))(params)
  return np.asarray(ws, np.float64)


def test_single_pulse_decays_as_a_power_law_not_exponentially():
  alpha, beta, steps = 4.0, 4.0 * 4 ** 7, 20000
  t = np.arange(1, steps + 1)
  window = (t > 10 * alpha) & (t < steps)
  ws = _pulse_trace(8, alpha, beta, steps)
  assert np.all(ws[window] > 0)
  slope, _ = np.polyfit(np.log(t[window]), np.log(ws[window]), 1)
  assert -0.6 < slope < -0.4, slope
  # Power law: the log-log plot is straight (residuals small) ...
  fit = np.polyval(np.polyfit(np.log(t[window]), np.log(ws[window]), 1),
                   np.log(t[window]))
  assert np.abs(fit - np.log(ws[window])).max() < 0.15
  # ... while one beaker decays exponentially at rate 1/beta (in steps):
  # log w is linear in t, not in log t.
  one = _pulse_trace(1, alpha, 2000.0, steps)
  np.testing.assert_allclose(np.log(one), t * np.log(1 - 1 / 2000.0),
                             rtol=1e-3)
  # On log-log axes the exponential is far from a straight line.
  lw = np.log(one[window])
  fit1 = np.polyval(np.polyfit(np.log(t[window]), lw, 1), np.log(t[window]))
  assert np.abs(fit1 - lw).max() > 1.0


def test_time_unit_step_is_lr_one():
  params = _flat_params()
  grads = random_grads(params, 10)
  kw = dict(beakers=4, alpha=5.0, beta=100.0)
  a = optax.chain(optax.sgd(0.1),
                  mpl_jax.scale_by_benna_fusi(time_unit='step', **kw))
  b = optax.chain(optax.sgd(0.1),
                  mpl_jax.scale_by_benna_fusi(learning_rate=1.0, **kw))
  chex.assert_trees_all_equal(_run(a, params, grads)[0],
                              _run(b, params, grads)[0])


def test_alias_is_the_chain_and_composes():
  params = _flat_params()
  grads = random_grads(params, 10)
  kw = dict(beakers=5, alpha=2.0, beta=100.0)
  alias = mpl_jax.benna_fusi_sgd(0.1, **kw)
  chain = optax.chain(optax.sgd(0.1),
                      mpl_jax.scale_by_benna_fusi(learning_rate=0.1, **kw))
  chex.assert_trees_all_close(_run(alias, params, grads)[0],
                              _run(chain, params, grads)[0], rtol=1e-6)
  # Masked: a leaf outside the mask gets plain SGD and no beakers.
  mask = {'w0': True, 'b0': False, 'w1': True}
  tx = mpl_jax.benna_fusi_sgd(0.1, mask=mask, **kw)
  p, _, state = _run(tx, params, grads)
  p_sgd, _, _ = _run(optax.sgd(0.1), params, grads)
  np.testing.assert_array_equal(p['b0'], p_sgd['b0'])
  assert not np.allclose(p['w0'], p_sgd['w0'])
  assert isinstance(state[1].beakers[0]['b0'], optax.MaskedNode)
  # Gradient clipping before, schedules for the learning rate.
  sched = optax.linear_schedule(0.1, 0.01, 10)
  tx = optax.chain(optax.clip_by_global_norm(1.0),
                   mpl_jax.benna_fusi_adam(sched, **kw))
  p, _, _ = _run(tx, params, grads)
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(p))


def test_memory_is_beakers_minus_one_copies():
  params = _flat_params()
  for n in (0, 1, 2, 6):
    state = mpl_jax.scale_by_benna_fusi(beakers=n).init(params)
    assert len(state.beakers) == max(n - 1, 0)
    for b in state.beakers:
      chex.assert_trees_all_equal(b, params)  # init='same'
  state = mpl_jax.scale_by_beaker_metaplasticity(beakers=4).init(params)
  assert len(state.beakers) == 3
  assert isinstance(state.beakers[0]['b0'], optax.MaskedNode)  # ndim 1


def test_errors():
  params = _flat_params()
  for bad in (dict(init='random'), dict(time_unit='s'), dict(order='x'),
              dict(beakers=-1), dict(alpha=0.0)):
    with pytest.raises(ValueError):
      mpl_jax.scale_by_benna_fusi(**bad)
  with pytest.raises(ValueError, match='static_args'):
    inj = optax.inject_hyperparams(mpl_jax.benna_fusi_sgd)(0.1, beakers=3)
    jax.jit(inj.update)(params, inj.init(params), params)
  with pytest.raises(ValueError, match='per beaker'):
    mpl_jax.scale_by_beaker_metaplasticity(beakers=3)


# ---------------------------------------------------------------------------
# numpy port of Laborieux's Adam_bk (models_utils.py), as the PyTorch loop,
# reading the updated weight at every step (see the transform's docstring).


def np_adam_bk(params, grads, *, lr, n_bk, ratios, areas, meta, feedback,
               b1=0.9, b2=0.999, eps=1e-8):
  params = _np(params)
  state = {}
  for name, p in params.items():
    st = {'m': np.zeros_like(p), 'v': np.zeros_like(p)}
    for k in range(n_bk + 1):
      st[k] = np.zeros_like(p) if k == n_bk else p.copy()
    state[name] = st
  traj, gate_hits = [], 0
  for t, grad in enumerate(grads, start=1):
    grad = _np(grad)
    for name, p in params.items():
      st, gr = state[name], grad[name]
      st['m'] = b1 * st['m'] + (1 - b1) * gr
      st['v'] = b2 * st['v'] + (1 - b2) * gr * gr
      denom = np.sqrt(st['v']) + eps
      step = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
      p = p - step * st['m'] / denom
      if p.ndim > 1:
        p = p + (ratios[0] / areas[0]) * (st[1] - p)
        last = st[n_bk - 1]
        d = last - p
        p = p + np.where(d * np.sign(last) > 0, feedback * d, 0.0)
        new = {}
        old = {k: st[k] for k in range(n_bk + 1)}
        old[0] = p
        for k in range(1, n_bk):
          inflow = (ratios[k - 1] / areas[k]) * (old[k - 1] - old[k])
          if k == n_bk - 1:
            cond = (old[k - 1] - old[k]) * old[k] < 0
            gate_hits += int(cond.sum())
            inflow = np.where(
                cond, inflow * (1 - np.tanh(meta * old[k]) ** 2), inflow)
          new[k] = old[k] + inflow + (ratios[k] / areas[k]) * (
              old[k + 1] - old[k])
        st.update(new)
      params[name] = p
    traj.append(dict(params))
  return traj, state, gate_hits


def test_beaker_adam_matches_numpy_port_of_reference():
  params = _flat_params(2, scale=0.3)
  grads = random_grads(params, 120, seed=5)
  kw = dict(ratios=(0.1, 0.05, 0.02, 0.01), areas=(1.0, 2.0, 4.0, 8.0),
            feedback=0.05)
  ref, ref_state, hits = np_adam_bk(params, grads, lr=0.02, n_bk=4, meta=3.0,
                                    **kw)
  assert hits > 0  # the metaplastic gate was exercised
  tx = mpl_jax.beaker_metaplastic_adam(0.02, 3.0, eps_placement='pytorch',
                                       **kw)
  _, traj, state = _run(tx, params, grads)
  for t in (0, 9, 119):
    chex.assert_trees_all_close(_np(traj[t]), ref[t], rtol=1e-4, atol=1e-5)
  for k in range(3):
    np.testing.assert_allclose(state[3].beakers[k]['w1'],
                               ref_state['w1'][k + 1], rtol=1e-4, atol=1e-5)
  # Biases got plain Adam (PyTorch placement).
  adam = optax.chain(mpl_jax.scale_by_adam_pytorch(),
                     optax.scale_by_learning_rate(0.02))
  np.testing.assert_allclose(traj[-1]['b0'], _run(adam, params, grads)[0]['b0'],
                             rtol=1e-6)
  # meta changes the trajectory (through the last beaker).
  ref0, _, _ = np_adam_bk(params, grads, lr=0.02, n_bk=4, meta=0.0, **kw)
  assert np.abs(ref0[-1]['w1'] - ref[-1]['w1']).max() > 5e-6


def test_beaker_defaults_and_small_chains():
  params = _flat_params()
  grads = random_grads(params, 5)
  # The reference defaults run and differ from plain Adam.
  p, _, _ = _run(mpl_jax.beaker_metaplastic_adam(5e-3, 1.0), params, grads)
  q, _, _ = _run(optax.adam(5e-3), params, grads)
  assert not np.allclose(p['w0'], q['w0'])
  np.testing.assert_allclose(p['b0'], q['b0'], rtol=1e-6)
  # One beaker: the weight decays toward the leak, no feedback, no state.
  tx = mpl_jax.scale_by_beaker_metaplasticity(beakers=1, ratios=(0.1,),
                                              areas=(1.0,))
  zeros = jax.tree.map(jnp.zeros_like, params)
  u, state = tx.update(zeros, tx.init(params), params)
  np.testing.assert_allclose(u['w0'], -0.1 * params['w0'], rtol=1e-6)
  assert state.beakers == ()
