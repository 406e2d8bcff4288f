"""Checks every mpl_jax transform must pass (as optax's _common_test.py)."""

import chex
import jax
import optax


def assert_steps_compile_once(tx, params, grads_seq, task_ids):
  """Runs jitted ``update`` + ``apply_updates`` steps and checks the program.

  Asserts that the step is traced once for all the steps (task ids change
  values, not the program) and that the optimizer state keeps the shapes and
  dtypes of ``tx.init``.

  Returns:
    The final ``(params, state)``.
  """
  traces = []

  @jax.jit
  def step(p, s, g, t):
    traces.append(1)
    u, s = tx.update(g, s, p, task_id=t)
    return optax.apply_updates(p, u), s

  init_state = tx.init(params)
  state = init_state
  for g, t in zip(grads_seq, task_ids):
    params, state = step(params, state, g, t)
  assert len(traces) == 1, f'traced {len(traces)} times'
  chex.assert_trees_all_equal_shapes_and_dtypes(state, init_state)
  return params, state
