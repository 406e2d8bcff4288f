"""Contracts every public transform of mpl_jax keeps (one parametrized suite).

Each entry of ``CASES`` is one configured transform; every test below runs on
every entry:

* jit: the jitted step is traced once for all steps (task ids change values,
  not the program), and the state keeps the shapes and dtypes of ``init``,
  also when the update sits in a branch of ``lax.cond``;
* ``optax.inject_hyperparams`` gives the same updates as the plain factory;
* ``jax.vmap`` over seeds (``reseed`` with per-seed keys after a vmapped
  ``init``) gives what single runs give, and per-seed keys differ;
* it composes in ``optax.chain`` and ``optax.masked`` (one program), and in
  ``optax.partition`` around ``optax.MultiSteps`` (another);
* extra keyword arguments: ``task_id`` is accepted (and required where the
  rule needs task boundaries), unknown ones are ignored; ``params`` are
  required where the rule needs them.

A new transform is one line in ``CASES``; ``test_every_public_transform_has
_a_case`` fails for a factory exported from ``mpl_jax`` without one (and
prints how many factories and cases the suite covers). The compiled
programs are few and tiny (two seeds, three steps) to keep the suite fast on
two CPU cores. These generic checks live here only: the per-rule test files
keep what is specific to a rule (its equations against a numpy reference,
its own options and errors).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import mpl_jax
from _transform_checks import random_grads
from _transform_checks import small_mlp_params

TASKS = (0, 0, 1)        # task id at each step: one boundary
NUM_SEEDS = 2
TIERS = ((0.1, 0.5), (1.0, 0.5))
ADAM = ('b1', 'b2', 'eps')  # Python floats kept static under injection
LEVELS = (-1.0, -0.5, 0.5, 1.0)
MIXED = (mpl_jax.scale_by_engram_gate(key=0, p=0.5),   # the one that runs
         mpl_jax.scale_by_engram_gate(key=0, p=0.9))


class Case(NamedTuple):
  """One configured public transform.

  Attributes:
    factory: the name of the factory in ``mpl_jax``.
    kwargs: the arguments of the factory.
    variant: a label telling apart cases of one factory.
    static: arguments ``optax.inject_hyperparams`` must not turn into arrays.
    params: ``'mlp'`` (kernels and biases) or ``'gaussian'`` (a
      ``{'mu', 'sigma'}`` node and a bias).
    needs_params: ``update`` without ``params`` raises.
    needs_task: ``update`` without ``task_id`` raises.
    extra: extra keyword arguments every ``update`` gets (``error_rate``).
  """
  factory: str
  kwargs: dict
  variant: str = ''
  static: tuple = ()
  params: str = 'mlp'
  needs_params: bool = True
  needs_task: bool = False
  extra: dict = {}

  @property
  def id(self) -> str:
    return self.factory + (f'[{self.variant}]' if self.variant else '')


CASES = (
    Case('scale_by_metaplasticity', dict(meta=1.35)),
    Case('metaplastic_adam', dict(learning_rate=0.01, meta=1.35), static=ADAM),
    Case('scale_by_adam_pytorch', dict(), static=ADAM, needs_params=False),
    Case('scale_by_engram_gate', dict(key=0, p=0.5), 'step',
         needs_params=False),
    Case('scale_by_engram_gate', dict(key=0, p=0.5, granularity='unit',
                                      resample='task', sampler='counter'),
         'unit-task-counter', needs_params=False, needs_task=True),
    Case('engram_metaplastic_adam', dict(learning_rate=0.05, meta=1.3, key=0,
                                         p=0.5, granularity='unit',
                                         resample='task'),
         'unit-task', ADAM, needs_task=True),
    Case('scale_by_flexibility', dict(key=0, tiers=TIERS, strength=2.0),
         'task', needs_task=True),
    Case('scale_by_flexibility', dict(key=0, distribution='uniform',
                                      strength=2.0, refresh='step'), 'step'),
    Case('flexible_sgd', dict(learning_rate=0.1, key=0, tiers=TIERS,
                              strength=2.0), needs_task=True),
    Case('scale_by_mesu', dict(sigma_prior=0.2, memory_window=30.0),
         params='gaussian'),
    Case('mesu', dict(learning_rate_mu=0.5, learning_rate_sigma=0.8,
                      sigma_prior=0.2, memory_window=30.0, clamp_grad=0.2,
                      non_bayesian=optax.sgd(0.1)), params='gaussian'),
    Case('scale_by_bgd', dict(eta=0.7), params='gaussian'),
    Case('bgd', dict(eta=0.7, clamp_grad=0.5), params='gaussian'),
    Case('add_ewc_penalty', dict(importance=2.0, decay=0.2), 'online',
         needs_task=True),
    Case('add_ewc_penalty', dict(importance=5.0, decay=0.2, mode='stream'),
         'stream'),
    Case('add_synaptic_intelligence', dict(c=0.3, xi=0.5), needs_task=True),
    Case('ewc_sgd', dict(learning_rate=0.1, importance=2.0, decay=0.2),
         needs_task=True),
    Case('si_sgd', dict(learning_rate=0.1, c=0.3, xi=0.5), needs_task=True),
    Case('scale_by_benna_fusi', dict(beakers=4, learning_rate=0.1),
         static=('beakers',)),
    Case('benna_fusi_sgd', dict(learning_rate=0.1, beakers=4),
         static=('beakers',)),
    Case('benna_fusi_adam', dict(learning_rate=0.01, beakers=4),
         static=ADAM + ('beakers',)),
    Case('scale_by_beaker_metaplasticity', dict(meta=1.0),
         static=('beakers',)),
    Case('beaker_metaplastic_adam', dict(learning_rate=0.01, meta=1.0),
         static=ADAM + ('beakers',)),
    Case('scale_by_multilevel_metaplasticity',
         dict(meta=1.35, levels=LEVELS, form='interval'), 'interval'),
    Case('multilevel_metaplastic_adam',
         dict(learning_rate=0.01, meta=1.35, levels=LEVELS), static=ADAM),
    Case('scale_by_tacos', dict(learning_rate=0.1, meta_rate=5.0, tau_c=20.0,
                                tau_r=50.0, hetero_rate=0.01),
         extra=dict(error_rate=jnp.float32(0.25))),
    Case('tacos', dict(learning_rate=0.1, mechanisms=11.0, tau_c=20.0),
         extra=dict(error_rate=jnp.float32(0.25))),
    # Two random rules with one state layout: the chosen branch runs.
    Case('mixture', dict(txs=MIXED), needs_params=False),
)


# --------------------------------------------------------------- helpers


def _tx(case: Case, inject: bool = False) -> optax.GradientTransformation:
  factory = getattr(mpl_jax, case.factory, None)
  assert factory is not None, f'mpl_jax does not export {case.factory}'
  if inject:
    factory = optax.inject_hyperparams(factory, static_args=case.static)
  return factory(**case.kwargs)


def _params(case: Case, seed: int = 0) -> Any:
  """The case's parameters; ``seed`` scales them, so seeds differ."""
  if case.params == 'mlp':
    params = small_mlp_params(scale=0.5)
  else:
    rng = np.random.default_rng(0)
    params = {'layer': {'kernel': {
        'mu': jnp.asarray(rng.normal(size=(4, 3)), jnp.float32),
        'sigma': jnp.asarray(rng.uniform(0.05, 0.5, (4, 3)), jnp.float32)}},
              'bias': jnp.asarray(rng.normal(size=3), jnp.float32)}
  return jax.tree.map(lambda p: p * (1.0 + 0.5 * seed), params)


def _grads(case: Case) -> Any:
  """One gradient tree per step, stacked on a leading axis (numpy)."""
  scale = 1.0 if case.params == 'mlp' else 0.1
  grads = random_grads(_params(case), len(TASKS))
  return jax.tree.map(lambda *g: scale * np.stack(g), *grads)


def _keys() -> jax.Array:
  return jax.random.split(jax.random.PRNGKey(7), NUM_SEEDS)


def _scan_run(tx, *, step_scale=1.0, **extra_args):
  """``run(key, params, grads) -> (params, state, updates, initial state)``.

  ``init``, ``reseed(state, key)``, then one ``lax.scan`` step per task id
  of ``TASKS`` (``grads`` stacked per step); the parameters move by
  ``step_scale`` times the updates; ``extra_args`` go to every update.
  """

  def run(key, params, grads):
    initial = mpl_jax.reseed(tx.init(params), key)

    def body(carry, inputs):
      p, state = carry
      g, t = inputs
      u, state = tx.update(g, state, p, task_id=t, **extra_args)
      step = jax.tree.map(lambda x: step_scale * x, u)
      return (optax.apply_updates(p, step), state), u

    (params, state), updates = jax.lax.scan(
        body, (params, initial), (grads, np.asarray(TASKS, np.int32)))
    return params, state, updates, initial

  return run


_REFERENCE = {}


def _reference(case: Case) -> list:
  """Single runs of the plain transform, one per seed (once per case)."""
  if case.id not in _REFERENCE:
    run = _jit(_scan_run(_tx(case), **case.extra))
    # Device arrays, not numpy: they keep their weak types.
    _REFERENCE[case.id] = [run(key, _params(case, i), _grads(case))
                           for i, key in enumerate(_keys())]
  return _REFERENCE[case.id]


def _jit(fn):
  """``jax.jit`` at XLA's lowest backend optimisation level.

  The contracts are properties of the traced program (types, traces,
  values to float tolerance), not of its optimisation; level 0 halves the
  compile time that dominates this suite on CPU. The per-rule tests run
  the default level.
  """
  return jax.jit(fn, compiler_options={'xla_backend_optimization_level': 0})


def _close(got, want, rtol=1e-5, atol=1e-6):
  chex.assert_trees_all_close(got, want, rtol=rtol, atol=atol)


def _key_fields(state) -> list:
  return [value for _, value in
          optax.tree_utils.tree_get_all_with_path(state, 'key')]


CASE_PARAMS = pytest.mark.parametrize('case', CASES, ids=lambda c: c.id)


# ------------------------------------------------------------------ suite


def _public_factories() -> set:
  """Functions in ``mpl_jax.__all__`` that return a GradientTransformation."""
  return {
      name for name in mpl_jax.__all__
      if inspect.isfunction(getattr(mpl_jax, name)) and 'GradientTransformation'
      in str(inspect.signature(getattr(mpl_jax, name)).return_annotation)}


def test_every_public_transform_has_a_case(capsys):
  covered = {case.factory for case in CASES}
  public = _public_factories()
  missing = sorted(public - covered)
  with capsys.disabled():
    print(f'\n[contracts] {len(public)} exported factories, {len(CASES)} '
          f'cases, {len(public) - len(missing)} factories covered')
  assert not missing, f'add a Case to tests/test_contracts.py for {missing}'
  assert not covered - public, (
      f'cases for names mpl_jax does not export: {sorted(covered - public)}')
  assert len(public) >= 20  # the scan finds the factories (25 when written)


@CASE_PARAMS
def test_jit_traces_once_and_state_is_stable_through_cond(case):
  tx = _tx(case)
  traces = []

  @_jit
  def step(p, s, g, t):
    traces.append(1)
    u, s = tx.update(g, s, p, task_id=t, **case.extra)
    return optax.apply_updates(p, u), s

  # From the state of a jitted init (weak types kept, as jit keeps them):
  # a weak type that turns strong after an update, a dtype or a shape that
  # changes, would trace the step again.
  params = _params(case)
  initial = _reference(case)[0][3]
  state = initial
  grads = _grads(case)
  for i, t in enumerate(TASKS + (2,)):
    g = jax.tree.map(lambda x, i=i: x[i % len(TASKS)], grads)
    params, state = step(params, state, g, np.int32(t))
  assert len(traces) == 1, f'traced {len(traces)} times'
  chex.assert_trees_all_equal_shapes_and_dtypes(state, initial)
  chex.assert_tree_all_finite(params)
  # The update can sit in a branch of lax.cond (traced only, not run): the
  # state keeps its tree structure, shapes and dtypes.
  g = jax.tree.map(lambda x: x[0], grads)
  jax.eval_shape(
      lambda s, take: jax.lax.cond(
          take,
          lambda s: tx.update(g, s, params, task_id=0, **case.extra)[1],
          lambda s: s, s), initial, True)


@CASE_PARAMS
def test_inject_hyperparams_gives_the_same_updates(case):
  run = _jit(_scan_run(_tx(case, inject=True), **case.extra))
  params, _, updates, _ = run(_keys()[0], _params(case), _grads(case))
  want_params, _, want_updates, _ = _reference(case)[0]
  _close(updates, want_updates)
  _close(params, want_params)


@CASE_PARAMS
def test_vmap_over_seeds_equals_single_runs_with_own_keys(case):
  run = _jit(jax.vmap(_scan_run(_tx(case), **case.extra),
                      in_axes=(0, 0, None)))
  params = jax.tree.map(lambda *x: np.stack(x),
                        *[_params(case, i) for i in range(NUM_SEEDS)])
  batched = jax.device_get(run(_keys(), params, _grads(case)))
  for i, single in enumerate(_reference(case)):
    _close(jax.tree.map(lambda x: x[i], batched), single)
  # After the vmapped init, reseed gave every seed its own keys, and two
  # random rules in one state never share a stream.
  keys = _key_fields(batched[3])
  for key in keys:
    assert len({tuple(k) for k in np.asarray(key)}) == NUM_SEEDS
  assert len({tuple(np.asarray(key[0])) for key in keys}) == len(keys)


@CASE_PARAMS
def test_composes_in_chain_and_masked_with_extra_args(case):
  # The case's parameters plus a leaf the mask leaves out: the transform
  # sees exactly the case's parameters, so its updates are the single run's;
  # the extra leaf gets its incoming updates (scaled by the chain's end).
  # Stepping by -2 times the chain's updates undoes the trailing scale. The
  # chain forwards task_id and an unknown extra argument, which every
  # element accepts and ignores.
  frozen = np.arange(6, dtype=np.float32).reshape(2, 3)
  params = {**_params(case), 'frozen': frozen}
  grads = {**_grads(case), 'frozen': np.stack([frozen + 1.0] * len(TASKS))}
  mask = {k: k != 'frozen' for k in params}
  tx = optax.chain(optax.identity(), optax.masked(_tx(case), mask),
                   optax.scale(-0.5))
  run = _jit(_scan_run(tx, step_scale=-2.0, loss=jnp.float32(2.5),
                       **case.extra))
  _, _, updates, _ = run(_keys()[0], params, grads)
  updates = jax.tree.map(lambda u: -2.0 * u, updates)
  chex.assert_trees_all_equal(updates.pop('frozen'), grads['frozen'])
  _close(updates, _reference(case)[0][2])


@CASE_PARAMS
def test_extra_args_and_params_requirements(case):
  tx = _tx(case)
  params = _params(case)
  grads = jax.tree.map(lambda g: g[0], _grads(case))
  state = jax.eval_shape(tx.init, params)
  # Traced, not run; every call gets the case's extra arguments.
  update = lambda *a, **k: jax.eval_shape(
      functools.partial(tx.update, **case.extra, **k), *a)
  want = update(grads, state, params, task_id=0)
  # Unknown extra arguments are accepted (that they change nothing is
  # checked in the chain test).
  chex.assert_trees_all_equal_shapes_and_dtypes(
      update(grads, state, params, task_id=0, loss=1.0), want)
  if case.needs_task:
    with pytest.raises(ValueError, match='task'):
      update(grads, state, params)
  else:
    chex.assert_trees_all_equal_shapes_and_dtypes(
        update(grads, state, params), want)
  if case.needs_params:
    with pytest.raises(ValueError, match='params'):
      update(grads, state, task_id=0)
  else:
    chex.assert_trees_all_equal_shapes_and_dtypes(
        update(grads, state, task_id=0), want)


@CASE_PARAMS
def test_composes_in_partition_and_multisteps(case):
  # optax.partition sends the case's parameters to the rule wrapped in
  # optax.MultiSteps (every step applies: the rule's update runs inside
  # MultiSteps' lax.cond, with the extra arguments forwarded) and a leaf
  # outside it to set_to_zero: the rule's updates are the single run's.
  frozen = np.arange(6, dtype=np.float32).reshape(2, 3)
  params = {**_params(case), 'frozen': frozen}
  grads = {**_grads(case), 'frozen': np.stack([frozen + 1.0] * len(TASKS))}
  labels = {k: 'frozen' if k == 'frozen' else 'rule' for k in params}
  multi = optax.MultiSteps(_tx(case), every_k_schedule=1)
  # MultiSteps.update forwards extra arguments; its gradient_transformation()
  # is a plain GradientTransformation, which partition would call without
  # them, so the methods are wrapped as an ExtraArgs transform.
  multi = optax.GradientTransformationExtraArgs(multi.init, multi.update)
  tx = optax.partition({'rule': multi,
                        'frozen': optax.set_to_zero()}, labels)
  run = _jit(_scan_run(tx, **case.extra))
  _, _, updates, _ = run(_keys()[0], params, grads)
  chex.assert_trees_all_equal(updates.pop('frozen'),
                              np.zeros_like(grads['frozen']))
  _close(updates, _reference(case)[0][2])
