"""EWC and SI penalties inside the eRBP learner (issue 20 item 2).

The penalty's pull is added to the eRBP proposal; ``F`` (EWC) comes from
the squared proposals, ``Omega`` (SI) from the path integral of the emitted
update times the weight change, both consolidated at the given task
boundaries. Checked here: one update of each against a numpy reference
(through the learner's public ``propose`` / ``train_step``), ``lambda = 0``
is plain eRBP bit for bit, and the boundary requirement is validated.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mpl_jax.train import checks
from _configs import tiny_erbp_learner


def _learner(optimizer):
  return tiny_erbp_learner(optimizer, task_boundaries=True, w_max_hidden=0.0,
                           w_max_output=0.0)


def _ewc(lam, lr=1.0):
  return dict(name='ewc_sgd', learning_rate=lr, importance=lam, decay=0.5,
              mode='online')


def _si(c, lr=1.0):
  return dict(name='si_sgd', learning_rate=lr, c=c, xi=0.1)


def _data():
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (12, 100)), jnp.float32) / 255.
  labels = jnp.asarray(rng.integers(0, 2, 12), jnp.int32)
  return images, labels


MASK = jnp.ones(2, bool)
KEY = jax.random.PRNGKey(3)
# Task of each step: a boundary after step 4 and before the checked one.
TASKS = (0, 0, 0, 0, 1, 1, 1, 2)


def _steps(learner, n):
  images, labels = _data()
  step = jax.jit(learner.train_step)
  state = learner.init(0)
  states = [state]
  for i in range(n):
    state, _, _ = step(state, images[i:i + 1], labels[i:i + 1],
                       jax.random.fold_in(KEY, i), jnp.int32(TASKS[i]), MASK)
    states.append(state)
  return states


@pytest.mark.parametrize('penalty', ['ewc', 'si'])
def test_zero_strength_is_plain_erbp_bit_for_bit(penalty):
  opt = _ewc(0.0, 0.7) if penalty == 'ewc' else _si(0.0, 0.7)
  plain = dict(name='tacos', learning_rate=0.7, mechanisms=0.0)
  got = _steps(_learner(opt), len(TASKS))[-1]
  want = _steps(_learner(plain), len(TASKS))[-1]
  for name in ('hidden', 'output'):
    np.testing.assert_array_equal(got.params[name], want.params[name])
  # ...and a strength > 0 changes them (the penalty acts after a boundary).
  opt = _ewc(1e4, 0.7) if penalty == 'ewc' else _si(10.0, 0.7)
  other = _steps(_learner(opt), len(TASKS))[-1]
  assert not np.array_equal(other.params['hidden'], want.params['hidden'])


def _proposal(learner, state, i):
  images, labels = _data()
  d, _, _ = learner.propose(state, images[i:i + 1], labels[i:i + 1],
                            jax.random.fold_in(KEY, i), MASK)
  return {k: np.float64(v) for k, v in d.items()}


def test_ewc_update_matches_the_numpy_reference():
  lam, lr, decay = 3e3, 0.7, 0.5
  learner = _learner(_ewc(lam, lr))
  states = _steps(learner, len(TASKS))
  # Reference: F_task = running mean of delta^2 over the task's steps; at
  # the boundary F <- decay F + F_task, w* <- w; u = delta + lam F (w - w*).
  f = {k: np.zeros_like(v, np.float64) for k, v in states[0].params.items()}
  f_task = {k: np.zeros_like(v) for k, v in f.items()}
  anchor = {k: np.float64(v) for k, v in states[0].params.items()}
  count, pull = 0, 0.0
  for i, task in enumerate(TASKS):
    before, after = states[i], states[i + 1]
    w = {k: np.float64(v) for k, v in before.params.items()}
    if i > 0 and task != TASKS[i - 1]:
      f = {k: decay * f[k] + f_task[k] for k in f}
      anchor = w
      f_task = {k: np.zeros_like(v) for k, v in f.items()}
      count = 0
    d = _proposal(learner, before, i)
    count += 1
    f_task = {k: f_task[k] + (d[k] ** 2 - f_task[k]) / count for k in f}
    for k in w:
      pull = max(pull, np.abs(lam * f[k] * (w[k] - anchor[k])).max())
      want = w[k] - lr * (d[k] + lam * f[k] * (w[k] - anchor[k]))
      np.testing.assert_allclose(after.params[k], want, rtol=1e-5,
                                 atol=1e-6, err_msg=f'step {i} {k}')
  ewc_state = states[-1].opt_state[0]
  for k in f:
    np.testing.assert_allclose(ewc_state.fisher[k], f[k], rtol=1e-5,
                               atol=1e-10)
  # The pull acted (F > 0 and w away from w* within task 1), and at a size
  # the tolerance above resolves.
  assert pull > 1e-3


def test_si_update_matches_the_numpy_reference():
  c, lr, xi = 5.0, 0.7, 0.1
  learner = _learner(_si(c, lr))
  states = _steps(learner, len(TASKS))
  w0 = {k: np.float64(v) for k, v in states[0].params.items()}
  omega = {k: np.zeros_like(v) for k, v in w0.items()}
  big = {k: np.zeros_like(v) for k, v in w0.items()}
  anchor, prev_w = dict(w0), dict(w0)
  prev_u = {k: np.zeros_like(v) for k, v in w0.items()}
  for i, task in enumerate(TASKS):
    before, after = states[i], states[i + 1]
    w = {k: np.float64(v) for k, v in before.params.items()}
    # Path integral of the previous step: -u_{t-1} (w_t - w_{t-1}).
    omega = {k: omega[k] - prev_u[k] * (w[k] - prev_w[k]) for k in w}
    if i > 0 and task != TASKS[i - 1]:
      big = {k: big[k] + omega[k] / ((w[k] - anchor[k]) ** 2 + xi)
             for k in w}
      omega = {k: np.zeros_like(v) for k, v in w.items()}
      anchor = w
    d = _proposal(learner, before, i)
    u = {k: d[k] + 2 * c * big[k] * (w[k] - anchor[k]) for k in w}
    for k in w:
      np.testing.assert_allclose(after.params[k], w[k] - lr * u[k],
                                 rtol=1e-5, atol=1e-6, err_msg=f'{i} {k}')
    prev_u, prev_w = u, w
  si_state = states[-1].opt_state[0]
  for k in big:
    np.testing.assert_allclose(si_state.big_omega[k], big[k], rtol=1e-4,
                               atol=1e-9)
    assert big[k].max() > 0


def test_boundary_penalties_need_the_boundaries():
  from configs import split_fmnist_tacos  # pylint: disable=g-import-not-at-top
  from mpl_jax.train import validate  # pylint: disable=g-import-not-at-top
  for arm, name in (('erbp_ewc', 'ewc_sgd'), ('erbp_si', 'si_sgd')):
    c = split_fmnist_tacos.get_config(arm)
    validate.validate_config(c)
    assert c.learner == 'erbp' and c.optimizer.name == name
    assert c.protocol.task_boundaries
    c.protocol.task_boundaries = False
    with pytest.raises(checks.ConfigError, match='task_boundaries=True'):
      validate.validate_config(c)
