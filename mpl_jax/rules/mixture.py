"""One of several transforms per run, chosen by an index in the state."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax


class MixtureState(NamedTuple):
  """State of :func:`mixture`.

  Attributes:
    index: int32 scalar, which transform's update this run keeps (set it
      after ``init``, e.g. per vmapped run: ``state._replace(index=k)``).
    inner: the shared state (every transform must have the same layout).
  """
  index: jax.Array
  inner: Any


def mixture(txs: Sequence[optax.GradientTransformation]
            ) -> optax.GradientTransformationExtraArgs:
  r"""Transforms with one state layout; each run keeps the ``index``-th.

  Every transform must have the same state structure (e.g.
  ``flexible_sgd`` with different flexibility distributions, or any rule
  with different non-numeric settings). ``update`` runs the
  ``state.index``-th transform with ``lax.switch`` (an index out of range is
  clamped); ``index`` may be traced and batched, so under ``vmap`` or
  ``lax.map`` each run keeps its own. This sweeps settings that
  ``optax.inject_hyperparams`` cannot inject (strings, tuples, anything that
  changes the computation) inside one compiled program, as
  ``optax.partition`` combines transforms over parameters.

  Cost: with an unbatched index (one run, or runs under ``lax.map``) only
  the chosen transform runs. Under ``vmap`` with a batched index JAX turns
  the switch into a select, and every transform's element-wise work runs
  each step, usually small beside the forward and backward passes
  (``benchmarks/bench_mixture.py`` measures both).

  Args:
    txs: the transforms (at least one), all with the same state layout.

  Returns:
    A transform whose ``init`` gives ``MixtureState(index=0, inner=txs[0]
    .init(params))``. Extra keyword arguments of ``update`` (``task_id``,
    ...) are passed to every transform.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> from mpl_jax.rules.mixture import mixture
    >>> tx = mixture([optax.sgd(0.1), optax.sgd(1.0)])
    >>> params = {'w': jnp.ones(2)}
    >>> state = tx.init(params)._replace(index=jnp.int32(1))
    >>> u, _ = tx.update({'w': jnp.ones(2)}, state, params)
    >>> print(u['w'])
    [-1. -1.]
  """
  txs = tuple(optax.with_extra_args_support(t) for t in txs)
  if not txs:
    raise ValueError('mixture needs at least one transform.')

  def init_fn(params):
    inner = txs[0].init(params)
    for t in txs[1:]:
      other = t.init(params)
      if (jax.tree.structure(other) != jax.tree.structure(inner) or
          jax.tree.map(jnp.shape, other) != jax.tree.map(jnp.shape, inner)):
        raise ValueError('mixture: the transforms must have the same state '
                         'layout.')
    return MixtureState(jnp.zeros((), jnp.int32), inner)

  def update_fn(updates, state, params=None, **extra_args):
    if len(txs) == 1:
      u, inner = txs[0].update(updates, state.inner, params, **extra_args)
      return u, MixtureState(state.index, inner)
    branches = [
        lambda u, s, p, t=t: t.update(u, s, p, **extra_args) for t in txs]
    u, inner = jax.lax.switch(state.index, branches, updates, state.inner,
                              params)
    return u, MixtureState(state.index, inner)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
