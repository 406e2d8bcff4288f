"""TACOS ablation switches: each removes one term and nothing else (issue 20).

A numpy reference writes one update of the synapse as separate terms
(plastic step, heterosynaptic decay, consolidation, the state updates); a
switch off removes exactly its term. The transform is checked against it on
its own and inside the eRBP learner (through the learner's public API).
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mpl_jax.rules import tacos as tacos_lib
from _configs import tiny_erbp_learner

SWITCHES = ('metaplasticity', 'consolidation', 'heterosynaptic',
            'neuromodulation')
BIT = dict(zip(SWITCHES, (1, 2, 4, 8)))
HP = dict(meta_rate=3.0, tau_c=7.0, tau_r=3.0, hetero_rate=0.1,
          neuromod_gain=1.5)


def np_terms(w, wc, m, delta, e, lr, off=(), pool=False, meta_rate=3.0,
             tau_c=7.0, tau_r=3.0, hetero_rate=0.1, neuromod_gain=1.5):
  """One TACOS update of a kernel, term by term (float64).

  ``off`` names the removed mechanisms. Returns the terms ``plastic``,
  ``hetero``, ``consolidation`` (their sum is the update), the new
  consolidated trace ``wc`` and metaplastic state ``m``.
  """
  w, wc, m, delta = (np.asarray(a, np.float64) for a in (w, wc, m, delta))
  nu = 1.0 if 'neuromodulation' in off else min(max(neuromod_gain * e, 0), 1)
  g = np.ones_like(m) if 'metaplasticity' in off else np.exp(-m)
  synaptic = -lr * nu * g * delta
  if pool:
    mass = np.abs(delta).sum()
    plastic = -lr * (nu * g * np.abs(delta)).sum() / mass * delta
  else:
    plastic = synaptic
  new_m = m if 'metaplasticity' in off else m + meta_rate * np.abs(synaptic)
  changed = plastic != 0
  decays = changed.any(axis=0, keepdims=True) & ~changed
  hetero = np.zeros_like(w)
  if 'heterosynaptic' not in off:
    hetero = np.where(decays, -hetero_rate * (w - wc), 0.0)
  w1 = w + plastic + hetero
  new_wc = wc + (w1 - wc) / tau_c          # the trace follows w, always
  consolidation = np.zeros_like(w)
  if 'consolidation' not in off:
    consolidation = (new_wc - w1) / tau_r
  return dict(plastic=plastic, hetero=hetero, consolidation=consolidation,
              wc=new_wc, m=new_m)


def _params(seed=0):
  rng = np.random.default_rng(seed)
  return {'hidden': jnp.asarray(rng.uniform(-1, 1, (6, 5)), jnp.float32),
          'output': jnp.asarray(rng.uniform(-1, 1, (5, 3)), jnp.float32)}


def _proposal(params, rng):
  def one(p):
    d = rng.choice([-2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 3.0], size=p.shape)
    d[:, rng.integers(d.shape[1])] = 0.0     # a neuron without update
    return jnp.asarray(d, jnp.float32)
  return jax.tree.map(one, params)


def _named(off=(), pool=0.0):
  switches = {k: float(k not in off) for k in SWITCHES}
  return tacos_lib.scale_by_tacos(0.05, **switches, pool_step=pool, **HP)


def _warm_state():
  """Parameters and a state after 4 all-on updates (m > 0, w_c != w)."""
  params = _params()
  rng = np.random.default_rng(1)
  tx = _named()
  state = tx.init(params)
  for e in (0.9, 0.4, 0.7, 0.3):
    u, state = tx.update(_proposal(params, rng), state, params, error_rate=e)
    params = optax.apply_updates(params, u)
  return params, state, _proposal(params, rng)


def _check(got_u, got_state, params, state, d, e, off=(), pool=False):
  for k in params:
    ref = np_terms(params[k], state.consolidated[k], state.meta[k], d[k], e,
                   0.05, off=off, pool=pool, **HP)
    want = ref['plastic'] + ref['hetero'] + ref['consolidation']
    np.testing.assert_allclose(got_u[k], want, rtol=1e-5, atol=1e-7,
                               err_msg=f'{off} {k}')
    np.testing.assert_allclose(got_state.consolidated[k], ref['wc'],
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got_state.meta[k], ref['m'], rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize('off', SWITCHES)
def test_switch_off_is_the_reference_without_its_term(off):
  params, state, d = _warm_state()
  assert float(jnp.min(state.meta['hidden'])) >= 0
  assert float(jnp.max(state.meta['hidden'])) > 0.1
  assert not np.allclose(state.consolidated['hidden'], params['hidden'])
  e = 0.4
  u_on, s_on = _named().update(d, state, params, error_rate=e)
  u_off, s_off = _named((off,)).update(d, state, params, error_rate=e)
  _check(u_on, s_on, params, state, d, e)
  _check(u_off, s_off, params, state, d, e, off=(off,))
  for k in params:
    args = (params[k], state.consolidated[k], state.meta[k], d[k], e, 0.05)
    on = np_terms(*args, **HP)
    ref = np_terms(*args, off=(off,), **HP)
    # The removed term is gone...
    if off in ('heterosynaptic', 'consolidation'):
      name = 'hetero' if off == 'heterosynaptic' else 'consolidation'
      assert np.all(ref[name] == 0) and np.any(on[name] != 0)
    else:
      assert not np.allclose(ref['plastic'], on['plastic'])
    # ... and the other mechanisms' terms keep their values: the decay and
    # its target whatever the switch; step and m without a step factor off.
    if off != 'heterosynaptic':
      np.testing.assert_array_equal(ref['hetero'], on['hetero'])
    if off in ('heterosynaptic', 'consolidation'):
      np.testing.assert_array_equal(ref['plastic'], on['plastic'])
      # The transform itself: the same metaplastic state.
      chex.assert_trees_all_equal(s_off.meta[k], s_on.meta[k])
  if off == 'consolidation':
    # Same step, same decay: the trace (the decay's target) is the same as
    # with consolidation on; only the coupling of w to it is gone.
    chex.assert_trees_all_close(s_off.consolidated, s_on.consolidated,
                                rtol=1e-6)
    for k in params:
      w1 = params[k] + u_off[k]
      np.testing.assert_allclose(
          u_on[k] - u_off[k], (s_on.consolidated[k] - w1) / HP['tau_r'],
          rtol=1e-4, atol=1e-7)


def test_consolidation_off_decays_toward_the_trace_not_the_initial_weights():
  """The pre-issue-20 bug: consolidation off froze w_c at the initial
  weights. Over several updates the trace moves and the decay follows it."""
  params0 = _params()
  rng = np.random.default_rng(3)
  tx = _named(('consolidation',))
  state, params = tx.init(params0), params0
  w, wc, m = (np.asarray(params0['hidden'], np.float64),) * 2 + (
      np.zeros((6, 5)),)
  for e in (0.9, 0.5, 0.7, 0.2, 0.6):
    d = _proposal(params, rng)
    ref = np_terms(w, wc, m, d['hidden'], e, 0.05, off=('consolidation',),
                   **HP)
    w = w + ref['plastic'] + ref['hetero']
    wc, m = ref['wc'], ref['m']
    u, state = tx.update(d, state, params, error_rate=e)
    params = optax.apply_updates(params, u)
  np.testing.assert_allclose(params['hidden'], w, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(state.consolidated['hidden'], wc, rtol=1e-5,
                             atol=1e-6)
  assert np.abs(wc - np.asarray(params0['hidden'])).max() > 1e-3


def test_pooled_step_control():
  params, state, d = _warm_state()
  e = 0.4
  tx = tacos_lib.scale_by_tacos(0.05, metaplasticity=1.0, consolidation=0.0,
                                heterosynaptic=0.0, neuromodulation=1.0,
                                pool_step=1.0, **HP)
  u, s = tx.update(d, state, params, error_rate=e)
  _check(u, s, params, state, d, e, off=('consolidation', 'heterosynaptic'),
         pool=True)
  for k in params:
    # Plain eRBP's direction, one step size per layer, equal in total
    # magnitude to the synapse-specific TACOS step.
    ratio = np.asarray(u[k])[np.asarray(d[k]) != 0] / np.asarray(
        d[k])[np.asarray(d[k]) != 0]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)
    synaptic = np_terms(params[k], state.consolidated[k], state.meta[k],
                        d[k], e, 0.05, off=('consolidation', 'heterosynaptic'),
                        **HP)['plastic']
    np.testing.assert_allclose(np.abs(u[k]).sum(), np.abs(synaptic).sum(),
                               rtol=1e-5)
  # Packed: 25 = pool + neuromod + meta.
  packed = tacos_lib.tacos(0.05, mechanisms=25.0, **HP)
  u2, _ = packed.update(d, state, params, error_rate=e)
  chex.assert_trees_all_equal(u, u2)


# ------------------------------------------------ inside the eRBP learner
def _learner(code):
  # error_init 0.3: the neuromodulatory gain is below 1 (it acts).
  return tiny_erbp_learner(
      dict(name='tacos', learning_rate=1.0, mechanisms=code,
           **{**HP, 'hetero_rate': 0.3}), error_init=0.3)


def test_learner_update_per_switch_matches_the_reference():
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (8, 100)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 2, 8), jnp.int32)
  mask, task = jnp.ones(2, bool), jnp.int32(0)
  key = jax.random.PRNGKey(0)
  learner = _learner(15.0)
  step = jax.jit(learner.train_step)
  state = learner.init(0)  # learners init from the run's seed
  for i in range(6):   # a warm state: m > 0, w_c != w
    state, _, _ = step(state, images[i:i + 1] / 255.0, labels[i:i + 1],
                       jax.random.fold_in(key, i), task, mask)
  x, y, k = images[6:7] / 255.0, labels[6:7], jax.random.fold_in(key, 99)
  # The eRBP proposal of this sample: the all-off learner is sgd(1).
  plain, _, _ = jax.jit(_learner(0.0).train_step)(state, x, y, k, task, mask)
  proposal = jax.tree.map(lambda a, b: np.float64(a) - np.float64(b),
                          state.params, plain.params)
  assert all(np.count_nonzero(p) > 0 for p in jax.tree.leaves(proposal))
  e = float(plain.error_rate)
  assert HP['neuromod_gain'] * e < 1
  cases = {15.0: (), 25.0: ('consolidation', 'heterosynaptic')}
  cases.update({15.0 - BIT[s]: (s,) for s in SWITCHES})
  hp = {**HP, 'hetero_rate': 0.3}
  results = {}
  for code, off in cases.items():
    new, _, _ = jax.jit(_learner(code).train_step)(state, x, y, k, task,
                                                   mask)
    assert float(new.error_rate) == e
    results[code] = new
    opt = new.opt_state
    for name in ('hidden', 'output'):
      ref = np_terms(state.params[name], state.opt_state.consolidated[name],
                     state.opt_state.meta[name], proposal[name], e, 1.0,
                     off=off, pool=code == 25.0, **hp)
      want = (np.float64(state.params[name]) + ref['plastic'] + ref['hetero']
              + ref['consolidation'])
      np.testing.assert_allclose(new.params[name], want, rtol=1e-5,
                                 atol=2e-6, err_msg=f'{code} {name}')
      np.testing.assert_allclose(opt.consolidated[name], ref['wc'],
                                 rtol=1e-5, atol=2e-6)
      np.testing.assert_allclose(opt.meta[name], ref['m'], rtol=1e-4,
                                 atol=2e-6)
  # Every switch acts in the learner: each arm differs from all on.
  for code in cases:
    if code != 15.0:
      assert not np.allclose(results[code].params['hidden'],
                             results[15.0].params['hidden'], rtol=0,
                             atol=1e-7), code


def test_config_plain_erbp_with_decaying_step():
  from configs import split_fmnist_tacos  # pylint: disable=g-import-not-at-top
  from mpl_jax.train import validate  # pylint: disable=g-import-not-at-top
  c = split_fmnist_tacos.get_config('none_decay')
  validate.validate_config(c)
  assert c.learner == 'erbp' and c.optimizer.mechanisms == 25.0
  assert not c.protocol.task_boundaries
  sweep = split_fmnist_tacos.get_config('ablation_decay').sweep
  assert sweep.name == 'mechanisms'
  assert sorted(sweep['values']) == [0, 7, 11, 13, 14, 15, 25]
  # The arm's transform: plain eRBP direction, TACOS's pooled step.
  bits = [(25 >> i) & 1 for i in range(5)]
  assert bits == [1, 0, 0, 1, 1]


def test_paired_ablation_table(tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  from configs import split_fmnist_tacos  # pylint: disable=g-import-not-at-top
  values = (15.0, 0.0, 25.0)
  rng = np.random.default_rng(0)
  base = rng.uniform(0.6, 0.8, 5)
  acc = np.zeros((15, 2, 2))
  for i, shift in enumerate((0.0, 0.1, 0.0)):
    acc[5 * i:5 * i + 5, -1, :] = (base + shift)[:, None]
  acc[10:15, -1, 0] += rng.normal(0, 0.01, 5)    # 25 ~ 15, not equal
  acc[5:10, -1, :] += rng.normal(0, 1e-5, (5, 1))
  np.save(tmp_path / 'accuracy.npy', acc)
  (tmp_path / 'config.json').write_text(
      json.dumps({'sweep': {'name': 'mechanisms', 'values': values}}))
  text = split_fmnist_tacos.paired_ablation(str(tmp_path))
  lines = text.splitlines()
  assert lines[0].startswith(f'15: {100 * base.mean():.1f} ± ')
  assert lines[1].startswith(f'0: {100 * base.mean() + 10:.1f} ± ')
  assert lines[3].startswith('0 - 15: +10.0 ± 0.0 points, paired t p=')
  assert lines[5].startswith('25 - 0: -')
  assert 'Wilcoxon p=0.0625' in lines[3]


def test_paired_arms_across_workdirs(tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  from configs import split_fmnist_tacos  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  base = rng.uniform(0.6, 0.8, 5)

  def write(name, per_arm, values=None, seeds=(100, 101, 102, 103, 104)):
    d = tmp_path / name
    d.mkdir()
    acc = np.zeros((5 * len(per_arm), 2, 2))
    for i, a in enumerate(per_arm):
      acc[5 * i:5 * i + 5, -1, :] = a[:, None]
    np.save(d / 'accuracy.npy', acc)
    np.savez(d / 'stream.npz', seeds=np.asarray(seeds))
    sweep = {'name': 'importance', 'values': values} if values else {
        'name': '', 'values': ()}
    (d / 'config.json').write_text(json.dumps({'sweep': sweep}))
    return str(d)

  a = write('tacos', [base])
  noise = rng.normal(0, 0.01, 5)
  b = write('ewc', [base + 0.05 + rng.normal(0, 1e-4, 5),
                    base - 0.02 + noise],
            values=(30.0, 300.0))
  lines = split_fmnist_tacos.paired_arms(a, b).splitlines()
  want = f'tacos: {100 * base.mean():.1f} ± {100 * base.std():.1f} %'
  assert lines[0] == want
  assert lines[1].startswith('ewc:30: ')
  assert '- tacos: +5.0 ± 0.0 points' in lines[1]
  assert 'Wilcoxon p=0.0625' in lines[1]
  d = 100 * (noise - 0.02)
  assert lines[2].startswith('ewc:300: ')
  assert f'- tacos: {d.mean():+.1f} ± {d.std(ddof=1):.1f} points' in lines[2]
  c = write('other', [base], seeds=(0, 1, 2, 3, 4))
  with pytest.raises(ValueError, match='not paired'):
    split_fmnist_tacos.paired_arms(a, c)
