"""Tests of the TACOS synapse transform (mpl_jax's reconstruction)."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mpl_jax.rules import tacos as tacos_lib
from mpl_jax.train import optimizers

SWITCHES = ('metaplasticity', 'consolidation', 'heterosynaptic',
            'neuromodulation')
HP = dict(meta_rate=3.0, tau_c=7.0, tau_r=3.0, hetero_rate=0.1,
          neuromod_gain=1.5)


def _params(seed=0):
  rng = np.random.default_rng(seed)
  return {'hidden': jnp.asarray(rng.uniform(-1, 1, (6, 5)), jnp.float32),
          'output': jnp.asarray(rng.uniform(-1, 1, (5, 3)), jnp.float32),
          'bias': jnp.asarray(rng.uniform(-1, 1, (3,)), jnp.float32)}


def _proposals(params, num, seed=1):
  """Sparse proposals (event-like: many exact zeros, some whole columns)."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(num):
    def one(p):
      d = rng.choice([-2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 3.0], size=p.shape)
      if d.ndim == 2:
        d[:, rng.integers(d.shape[1])] = 0.0   # a neuron without update
      return jnp.asarray(d, jnp.float32)
    out.append(jax.tree.map(one, params))
  return out


def np_tacos(params, proposals, errors, lr, switches, meta_form='exp',
             meta_rate=3.0, tau_c=7.0, tau_r=3.0, hetero_rate=0.1,
             neuromod_gain=1.5):
  """The module docstring's equations, written plainly (float64).

  Returns the parameters after each step and the final (w_c, m) of the
  kernels.
  """
  meta, cons, hetero, neuro = (switches[k] for k in SWITCHES)
  w = {k: np.asarray(v, np.float64) for k, v in params.items()}
  wc = {k: v.copy() for k, v in w.items() if v.ndim > 1}
  m = {k: np.zeros_like(v) for k, v in wc.items()}
  history = []
  for d, e in zip(proposals, errors):
    nu = min(max(neuromod_gain * e, 0.0), 1.0) if neuro else 1.0
    for k in w:
      delta = np.asarray(d[k], np.float64)
      if k not in wc:
        w[k] = w[k] - lr * nu * delta
        continue
      if meta:
        g = np.exp(-m[k]) if meta_form == 'exp' else 1.0 / (1.0 + m[k])
      else:
        g = 1.0
      step = -lr * nu * g * delta
      if meta:
        m[k] = m[k] + meta_rate * np.abs(step)
      u = step.copy()
      if hetero:
        changed = step != 0
        post = changed.any(axis=0, keepdims=True)
        u = u + np.where(post & ~changed, -hetero_rate * (w[k] - wc[k]), 0.0)
      w1 = w[k] + u
      wc[k] = wc[k] + (w1 - wc[k]) / tau_c  # the trace follows w always
      if cons:
        w1 = w1 + (wc[k] - w1) / tau_r
      w[k] = w1
    history.append({k: v.copy() for k, v in w.items()})
  return history, wc, m


def _run(tx, params, proposals, errors):
  update = jax.jit(tx.update)
  state = tx.init(params)
  history = []
  for d, e in zip(proposals, errors):
    u, state = update(d, state, params, error_rate=jnp.float32(e))
    params = optax.apply_updates(params, u)
    history.append(params)
  return history, state


_INJECTED = optax.inject_hyperparams(tacos_lib.scale_by_tacos,
                                     static_args='meta_form')


@jax.jit
def _run_switches(switch_values, params, proposals, errors):
  """All steps in one program; the switches are traced (no recompile)."""
  tx = _INJECTED(0.05, **dict.fromkeys(SWITCHES, 1.0), **HP)
  state = tx.init(params)
  hp = dict(state.hyperparams, **dict(zip(SWITCHES, switch_values)))
  state = state._replace(hyperparams=hp)

  def body(carry, inp):
    p, s = carry
    d, e = inp
    u, s = tx.update(d, s, p, error_rate=e)
    p = optax.apply_updates(p, u)
    return (p, s), p

  (_, state), history = jax.lax.scan(body, (params, state),
                                     (proposals, errors))
  return history, state.inner_state


def test_matches_numpy_reference_for_every_switch_combination():
  params = _params()
  proposals = _proposals(params, 6)
  errors = [0.9, 0.3, 0.5, 0.05, 0.7, 0.2]
  stacked = jax.tree.map(lambda *a: jnp.stack(a), *proposals)
  plain, _, _ = np_tacos(params, proposals, errors, 0.05,
                         dict.fromkeys(SWITCHES, 0))
  for combo in itertools.product((0, 1), repeat=4):
    switches = dict(zip(SWITCHES, combo))
    got, state = _run_switches(jnp.asarray(combo, jnp.float32), params,
                               stacked, jnp.asarray(errors, jnp.float32))
    want, wc, m = np_tacos(params, proposals, errors, 0.05, switches)
    for i, w in enumerate(want):
      for k in w:
        np.testing.assert_allclose(got[k][i], w[k], rtol=1e-5, atol=1e-6,
                                   err_msg=f'{switches} step {i} {k}')
    for k in wc:
      np.testing.assert_allclose(state.consolidated[k], wc[k], rtol=1e-5,
                                 atol=1e-6)
      np.testing.assert_allclose(state.meta[k], m[k], rtol=1e-5, atol=1e-6)
    # The mechanisms act: with a switch on, the result differs from SGD.
    if any(combo):
      assert not np.allclose(want[-1]['hidden'], plain[-1]['hidden'])
  assert _run_switches._cache_size() == 1


def test_all_switches_off_is_sgd_bit_for_bit():
  params = _params()
  proposals = _proposals(params, 5)
  off = tacos_lib.scale_by_tacos(0.05, **dict.fromkeys(SWITCHES, 0.0), **HP)
  sgd = optax.sgd(0.05)
  p1, p2 = params, params
  s1, s2 = off.init(params), sgd.init(params)
  for d in proposals:
    u1, s1 = off.update(d, s1, p1, error_rate=0.3)
    u2, s2 = sgd.update(d, s2, p2)
    chex.assert_trees_all_equal(u1, u2)
    p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
  # The metaplastic state stays at zero; the consolidated trace follows w
  # (unread).
  chex.assert_trees_all_equal(s1.meta['hidden'], jnp.zeros((6, 5)))
  assert not np.allclose(s1.consolidated['hidden'], params['hidden'])


@pytest.mark.parametrize('off', SWITCHES)
def test_each_switch_off_removes_exactly_its_term(off):
  """One switch off equals the reference without that term, bit for bit
  between two jax runs (the off-term adds exact zeros)."""
  params = _params()
  proposals = _proposals(params, 5)
  errors = [0.4, 0.6, 0.1, 0.8, 0.5]
  on = {k: 1.0 for k in SWITCHES}
  tx = tacos_lib.scale_by_tacos(0.05, **{**on, off: 0.0}, **HP)
  got, state = _run(tx, params, proposals, errors)
  want, _, _ = np_tacos(params, proposals, errors, 0.05,
                        {**on, off: 0})
  for k in params:
    np.testing.assert_allclose(got[-1][k], want[-1][k], rtol=1e-5, atol=1e-6)
  if off == 'metaplasticity':
    chex.assert_trees_all_equal(state.meta['hidden'], jnp.zeros((6, 5)))
  if off == 'consolidation':
    # The trace still follows w (the heterosynaptic decay's target).
    assert not np.allclose(state.consolidated['hidden'], params['hidden'])


def test_neuromodulation_gain_scales_the_step():
  params = _params()
  d = _proposals(params, 1)[0]
  only = tacos_lib.scale_by_tacos(0.1, metaplasticity=0.0, consolidation=0.0,
                         heterosynaptic=0.0, neuromodulation=1.0,
                         neuromod_gain=2.0)
  state = only.init(params)
  for e, nu in ((0.0, 0.0), (0.2, 0.4), (0.9, 1.0), (-1.0, 0.0)):
    u, _ = only.update(d, state, params, error_rate=e)
    for k in params:
      np.testing.assert_allclose(u[k], -0.1 * nu * np.asarray(d[k]),
                                 rtol=1e-6)
  with pytest.raises(ValueError, match='error_rate'):
    only.update(d, state, params)
  # Without neuromodulation (a static 0) the error signal is optional.
  no_nm = tacos_lib.scale_by_tacos(0.1, neuromodulation=0)
  no_nm.update(d, no_nm.init(params), params)


def test_metaplastic_forms_and_heterosynaptic_target():
  np.testing.assert_allclose(tacos_lib.metaplastic_gain(jnp.array(2.0)),
                             np.exp(-2.0), rtol=1e-6)
  np.testing.assert_allclose(
      tacos_lib.metaplastic_gain(jnp.array(2.0), 'inverse'), 1 / 3.0)
  with pytest.raises(ValueError, match='meta_form'):
    tacos_lib.scale_by_tacos(meta_form='square')
  # A neuron with one updated synapse: the others decay toward w_c (= the
  # initial weights); another neuron without update is untouched.
  w = {'k': jnp.array([[1.0, 2.0], [3.0, 4.0]])}
  tx = tacos_lib.scale_by_tacos(1.0, metaplasticity=0.0, consolidation=0.0,
                       heterosynaptic=1.0, neuromodulation=0.0,
                       hetero_rate=0.5)
  state = tx.init(w)
  moved = {'k': w['k'] + jnp.array([[1.0, 1.0], [1.0, 1.0]])}
  d = {'k': jnp.array([[1.0, 0.0], [0.0, 0.0]])}
  u, _ = tx.update(d, state, moved)
  np.testing.assert_allclose(u['k'], [[-1.0, 0.0], [-0.5, 0.0]])


def test_state_has_fixed_size_whatever_the_number_of_tasks():
  params = _params()
  tx = tacos_lib.scale_by_tacos(0.05, **HP)
  state0 = tx.init(params)
  sizes = lambda s: sum(int(np.size(x)) for x in jax.tree.leaves(s))
  kernels = sum(int(np.size(p)) for p in jax.tree.leaves(params)
                if np.ndim(p) > 1)
  assert sizes(state0) == 2 * kernels + 1
  state = state0
  # Ten "tasks" of different proposal statistics, with task ids the
  # transform must ignore.
  for task in range(10):
    for d in _proposals(params, 3, seed=100 + task):
      d = jax.tree.map(lambda x, s=task: x * (1 + s), d)
      _, state = tx.update(d, state, params, error_rate=0.5, task_id=task)
  chex.assert_trees_all_equal_shapes_and_dtypes(state, state0)
  assert sizes(state) == sizes(state0)


def test_registry_packs_the_switches_in_one_number():
  params = _params()
  proposals = _proposals(params, 3)
  for code in (0, 5, 10, 15):
    bits = {k: float((code >> i) & 1) for i, k in enumerate(SWITCHES)}
    packed = optimizers.build_optimizer(
        dict(name='tacos', learning_rate=0.05, mechanisms=float(code), **HP))
    named = tacos_lib.scale_by_tacos(0.05, **bits, **HP)
    s1, s2 = packed.init(params), named.init(params)
    for d in proposals:
      u1, s1 = packed.update(d, s1, params, error_rate=0.3)
      u2, s2 = named.update(d, s2, params, error_rate=0.3)
      chex.assert_trees_all_equal(u1, u2)
  # One sweep over the packed value (the ablation in one program).
  assert optimizers.OPTIMIZERS['tacos'] is tacos_lib.tacos
  tx = optimizers.build_optimizer(
      dict(name='tacos', learning_rate=0.05, mechanisms=15.0, **HP),
      inject=('mechanisms',))
  state = tx.init(params)
  assert 'mechanisms' in state.hyperparams


def test_registry_defaults_are_the_transform_defaults():
  import inspect  # pylint: disable=g-import-not-at-top
  registry = inspect.signature(optimizers.OPTIMIZERS['tacos']).parameters
  transform = inspect.signature(tacos_lib.scale_by_tacos).parameters
  for name, p in transform.items():
    if name in registry:
      assert registry[name].default == p.default, name
