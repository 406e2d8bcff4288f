"""Tests of the EWC and SI baselines (mpl_jax.rules.baselines)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mpl_jax.rules import baselines

TASKS = (0, 0, 0, 1, 1, 2, 2, 2, 3)  # task id at each step


def _params(key=0):
  rng = np.random.default_rng(key)
  f32 = lambda a: jnp.asarray(a, jnp.float32)
  return {'w': f32(rng.normal(size=(5, 3))), 'b': f32(rng.normal(size=3)),
          'v': f32(rng.normal(size=(3, 2)))}


def _grads(step, params, scale=1.0):
  rng = np.random.default_rng(1000 + step)
  return jax.tree.map(
      lambda l: jnp.asarray(scale * rng.normal(size=l.shape), jnp.float32),
      params)


def _np(tree):
  return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def _run_chain(tx, params, steps, tasks=TASKS):
  """Runs ``chain(tx, sgd)``; returns the (params, grads, emitted) per step."""
  chain = optax.chain(tx, optax.sgd(0.1))
  state = chain.init(params)
  update = jax.jit(chain.update)
  penalised = jax.jit(tx.update)
  sub_state = tx.init(params)
  history = []
  for t in range(steps):
    grads = _grads(t, params)
    emitted, sub_state = penalised(grads, sub_state, params, task_id=tasks[t])
    history.append((_np(params), _np(grads), _np(emitted)))
    u, state = update(grads, state, params, task_id=tasks[t])
    chex.assert_trees_all_close(u, jax.tree.map(lambda e: -0.1 * e, emitted),
                                rtol=1e-6, atol=1e-7)
    params = optax.apply_updates(params, u)
  return history, sub_state


def np_ewc_online(history, tasks, importance, decay):
  last, count = -1, 0
  p0 = history[0][0]
  ft = {k: np.zeros_like(v) for k, v in p0.items()}
  fisher = {k: np.zeros_like(v) for k, v in p0.items()}
  anchor = dict(p0)
  outs = []
  for (p, g, _), task in zip(history, tasks):
    if task != last:
      fisher = {k: decay * fisher[k] + ft[k] for k in p}
      anchor = dict(p)
      count, ft = 0, {k: np.zeros_like(v) for k, v in p.items()}
    count += 1
    ft = {k: ft[k] + (g[k]**2 - ft[k]) / count for k in p}
    outs.append({k: g[k] + importance * fisher[k] * (p[k] - anchor[k])
                 for k in p})
    last = task
  return outs, fisher


def np_ewc_stream(history, importance, decay):
  p0 = history[0][0]
  fisher = {k: np.zeros_like(v) for k, v in p0.items()}
  anchor = dict(p0)
  outs = []
  for p, g, _ in history:
    outs.append({k: g[k] + importance * fisher[k] * (p[k] - anchor[k])
                 for k in p})
    fisher = {k: decay * fisher[k] + g[k]**2 for k in p}
    anchor = dict(p)
  return outs, fisher


def np_si(history, tasks, c, xi, nonnegative=False):
  p0 = history[0][0]
  zeros = {k: np.zeros_like(v) for k, v in p0.items()}
  last, omega, big, anchor = -1, dict(zeros), dict(zeros), dict(p0)
  prev_p, prev_g = dict(p0), dict(zeros)
  outs = []
  for (p, g, _), task in zip(history, tasks):
    omega = {k: omega[k] - prev_g[k] * (p[k] - prev_p[k]) for k in p}
    if task != last:
      contrib = {k: omega[k] / ((p[k] - anchor[k])**2 + xi) for k in p}
      if nonnegative:
        contrib = {k: np.maximum(v, 0) for k, v in contrib.items()}
      big = {k: big[k] + contrib[k] for k in p}
      omega, anchor = dict(zeros), dict(p)
    out = {k: g[k] + 2 * c * big[k] * (p[k] - anchor[k]) for k in p}
    outs.append(out)
    prev_p, prev_g, last = dict(p), out, task
  return outs, big


def _assert_close(history, outs):
  for (_, _, emitted), ref in zip(history, outs):
    for k in ref:
      np.testing.assert_allclose(emitted[k], ref[k], rtol=2e-5, atol=1e-6)


def test_ewc_online_matches_numpy_reference():
  history, state = _run_chain(
      baselines.add_ewc_penalty(2.0, decay=0.2), _params(), len(TASKS))
  outs, fisher = np_ewc_online(history, TASKS, 2.0, 0.2)
  _assert_close(history, outs)
  for k in fisher:
    np.testing.assert_allclose(state.fisher[k], fisher[k], rtol=1e-5)
  # The penalty was active after the first task.
  assert any(np.abs(e['w'] - g['w']).max() > 1e-3 for _, g, e in history[4:])
  assert int(state.last_task) == TASKS[-1]


def test_ewc_stream_matches_numpy_reference():
  history, _ = _run_chain(
      baselines.add_ewc_penalty(5.0, decay=0.2, mode='stream'), _params(),
      len(TASKS))
  outs, _ = np_ewc_stream(history, 5.0, 0.2)
  _assert_close(history, outs)
  assert np.abs(history[2][2]['w'] - history[2][1]['w']).max() > 1e-3


@pytest.mark.parametrize('nonnegative', [False, True])
def test_si_matches_numpy_reference(nonnegative):
  tx = baselines.add_synaptic_intelligence(0.5, xi=0.1,
                                           nonnegative=nonnegative)
  history, state = _run_chain(tx, _params(), len(TASKS))
  outs, big = np_si(history, TASKS, 0.5, 0.1, nonnegative)
  _assert_close(history, outs)
  for k in big:
    np.testing.assert_allclose(state.big_omega[k], big[k], rtol=1e-4,
                               atol=1e-6)
  assert float(jnp.abs(state.big_omega['w']).max()) > 0


def test_si_damping_alias_and_sgd_path_integral():
  # With plain SGD on the loss, omega = sum_t lr * g_t^2 exactly.
  params = {'w': jnp.array([1.0, -2.0, 0.5])}
  grads = [jnp.array([0.5, -1.0, 2.0]), jnp.array([1.5, 0.25, -1.0])]
  tx = optax.chain(baselines.add_synaptic_intelligence(0.0, damping=1.0),
                   optax.sgd(0.1))
  state = tx.init(params)
  p = params
  for t, g in enumerate(grads):
    u, state = tx.update({'w': g}, state, p, task_id=0)
    p = optax.apply_updates(p, u)
  _, state = tx.update({'w': jnp.zeros(3)}, state, p, task_id=1)
  si_state = state[0]
  delta = p['w'] - params['w']
  omega = 0.1 * (grads[0]**2 + grads[1]**2)
  np.testing.assert_allclose(si_state.big_omega['w'],
                             omega / (delta**2 + 1.0), rtol=1e-5)
  chex.assert_trees_all_close(si_state.anchor, p)
  chex.assert_trees_all_equal(si_state.omega, {'w': jnp.zeros(3)})


def test_sgd_aliases_are_the_penalty_then_sgd():
  params = _params()
  for alias, penalty in (
      (baselines.ewc_sgd(0.1, importance=2.0, decay=0.2),
       baselines.add_ewc_penalty(2.0, decay=0.2)),
      (baselines.si_sgd(0.1, c=0.3, xi=0.5),
       baselines.add_synaptic_intelligence(0.3, xi=0.5))):
    chain = optax.chain(penalty, optax.sgd(0.1))
    got, want = params, params
    s_got, s_want = alias.init(params), chain.init(params)
    for step, task in enumerate((0, 0, 1, 1)):
      g = _grads(step, params)
      u, s_got = alias.update(g, s_got, got, task_id=task)
      got = optax.apply_updates(got, u)
      u, s_want = chain.update(g, s_want, want, task_id=task)
      want = optax.apply_updates(want, u)
    chex.assert_trees_all_equal(got, want)
    assert not np.allclose(got['w'], params['w'])


def test_bad_mode_raises():
  with pytest.raises(ValueError, match='mode'):
    baselines.add_ewc_penalty(1.0, mode='offline')
