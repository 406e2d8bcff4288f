"""Helpers shared by the plasticity rules (no Flax, no trainer).

Conventions every rule in :mod:`mpl_jax.rules` follows:

* **Masks.** A ``mask`` argument is ``None`` (the rule's documented default
  selection), a pytree of Python bools with the structure of ``params``, or a
  callable ``params -> pytree of bools``. It is resolved once per call at trace
  time with :func:`resolve_mask`; it selects leaves, never values.
* **Randomness.** A rule that draws random numbers keeps a raw ``uint32[2]`` key
  in a NamedTuple field called ``key`` and splits it at every step. The factory
  takes the initial key; because ``jax.vmap(tx.init)`` would give every seed the
  same key, :func:`reseed` replaces every ``key`` field of an optimizer state
  with a key derived from a per-seed key. The trainer always calls it.
* **Task boundaries.** A rule that needs to know where a task starts reads the
  keyword extra argument ``task_id`` (an integer scalar, traced) of ``update``
  and compares it with the ``task_id`` it stored in its state. Rules that do not
  need it accept and ignore it (``**extra_args``), as optax's
  ``GradientTransformationExtraArgs`` convention asks.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, NamedTuple, Optional, Tuple, Union

import jax
from jax import custom_batching
from jax.extend import core as jax_core
import jax.numpy as jnp
import numpy as np
import optax

PyTree = Any
MaskOrFn = Optional[Union[PyTree, Callable[[PyTree], PyTree]]]

# What a transform that needs ``params`` raises when ``update`` gets none: the
# text of optax's own message (which optax does not export).
NO_PARAMS_MSG = (
    'You are using a transformation that requires the current value of '
    'parameters, but you are not passing `params` when calling `update`.')


def check_meta(meta: Any, params: Optional[PyTree] = None) -> None:
  """Validates a metaplastic strength ``meta`` where it is concrete.

  Without ``params`` (at construction): a Python number must be ``>= 0`` (a
  traced, injected value is not checked). With ``params`` (in ``init``): a
  per-leaf ``meta`` (a pytree or a callable) must match the tree.

  Raises:
    ValueError: for a negative number or a tree that does not match.
  """
  if params is None:
    if isinstance(meta, (int, float)) and not meta >= 0:
      raise ValueError(f'meta must be >= 0, got {meta}.')
  elif not isinstance(meta, (int, float, jax.Array)):
    broadcast_hparam(meta, params, name='meta')


def deprecated_aliases(module_name: str, aliases: dict[str, str],
                       namespace: dict[str, Any]) -> Callable[[str], Any]:
  """A module ``__getattr__`` serving old names for one release.

  ``aliases`` maps an old name to the new name in ``namespace`` (the
  module's ``globals()``; a dotted new name is a full path, a key of
  ``namespace`` too); looking an old name up warns with a
  ``DeprecationWarning`` and returns the new object itself.
  """

  def module_getattr(name: str) -> Any:
    if name in aliases:
      new = aliases[name]
      new = new if '.' in new else f'{module_name}.{new}'
      warnings.warn(
          f'{module_name}.{name} is deprecated and will be removed in the next '
          f'release; use {new} (docs/MIGRATION.md).',
          DeprecationWarning, stacklevel=2)
      return namespace[aliases[name]]
    raise AttributeError(f'module {module_name!r} has no attribute {name!r}')

  return module_getattr


def static_count(value: Any, name: str, minimum: int) -> int:
  """``value`` as a Python int >= ``minimum`` (it sets the state's size)."""
  try:
    ok = int(value) == value and value >= minimum
  except jax.errors.ConcretizationTypeError as e:
    raise ValueError(
        f'`{name}` sets the size of the state and must be a Python int; with '
        f'optax.inject_hyperparams pass static_args=({name!r},).') from e
  if not ok:
    raise ValueError(f'{name} must be an integer >= {minimum}, got '
                     f'{value!r}.')
  return int(value)


def default_kernel_mask(params: PyTree) -> PyTree:
  """Selects the weight tensors: leaves with ``ndim > 1`` (not biases, not BN)."""
  return jax.tree.map(lambda p: jnp.ndim(p) > 1, params)


def resolve_mask(mask: MaskOrFn, params: PyTree, *, name: str = 'mask',
                 default: Callable[[PyTree], PyTree] = default_kernel_mask
                 ) -> PyTree:
  """Returns a pytree of Python bools with the structure of ``params``.

  Raises:
    ValueError: if the mask's tree structure does not match ``params``, or a
      leaf is not a boolean.
  """
  if mask is None:
    mask = default
  if callable(mask):
    mask = mask(params)
  params_def = jax.tree.structure(params)
  try:
    leaves = params_def.flatten_up_to(mask)
  except (ValueError, TypeError) as e:
    raise ValueError(
        f'`{name}` must have the tree structure of params; got '
        f'{jax.tree.structure(mask)} for params {params_def}.') from e
  out = []
  for leaf in leaves:
    if isinstance(leaf, (bool, np.bool_)):
      out.append(bool(leaf))
    elif isinstance(leaf, (jax.Array, np.ndarray)) and jnp.shape(leaf) == ():
      try:
        out.append(bool(leaf))
      except jax.errors.ConcretizationTypeError as e:
        raise ValueError(f'`{name}` leaves must be static Python bools.') from e
    else:
      raise ValueError(
          f'`{name}` leaves must be Python bools, got {type(leaf).__name__}.')
  return params_def.unflatten(out)


def broadcast_hparam(value: Any, params: PyTree, *, name: str) -> PyTree:
  """Expands a scalar hyperparameter to a tree like ``params``.

  ``value`` may be a scalar (float, int or 0-d array: broadcast to every leaf),
  a pytree with the structure of ``params`` (one value per leaf, scalar or of
  the leaf's shape), or a callable ``params -> such a pytree``.
  """
  if callable(value):
    value = value(params)
  params_def = jax.tree.structure(params)
  if jax.tree.structure(value) == jax.tree.structure(0) and jnp.ndim(
      value) == 0:
    return jax.tree.map(lambda _: value, params)
  try:
    leaves = params_def.flatten_up_to(value)
  except (ValueError, TypeError) as e:
    raise ValueError(
        f'`{name}` must be a scalar, a callable, or a tree with the structure '
        f'of params; got {jax.tree.structure(value)} for params '
        f'{params_def}.') from e
  for leaf, p in zip(leaves, params_def.flatten_up_to(params)):
    if jnp.ndim(leaf) != 0 and jnp.shape(leaf) != jnp.shape(p):
      raise ValueError(
          f'`{name}` leaf of shape {jnp.shape(leaf)} does not match the '
          f'parameter of shape {jnp.shape(p)}.')
  return params_def.unflatten(leaves)


def as_key(key: Any) -> jax.Array:
  """Returns a raw ``uint32[2]`` PRNG key from an int seed or a key.

  Also takes the 0-d integer array (possibly traced) that
  ``optax.inject_hyperparams`` makes of an int seed.
  """
  if isinstance(key, (int, np.integer)):
    return jax.random.PRNGKey(int(key))
  if (isinstance(key, (jax.Array, np.ndarray)) and jnp.ndim(key) == 0
      and jnp.issubdtype(jnp.result_type(key), jnp.integer)):
    return jax.random.PRNGKey(key)
  key = jnp.asarray(key)
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    return jax.random.key_data(key)
  if key.shape != (2,) or key.dtype != jnp.uint32:
    raise ValueError(
        f'`key` must be an int seed or a raw uint32[2] PRNG key, got '
        f'{key.dtype}{list(key.shape)}.')
  return key


def _is_keyed_state(x: Any) -> bool:
  return isinstance(x, tuple) and hasattr(x, '_fields') and 'key' in x._fields


def reseed(opt_state: PyTree, key: Any) -> PyTree:
  """Gives every random rule in ``opt_state`` a key derived from ``key``.

  Every NamedTuple in the state with a field named ``key`` gets
  ``fold_in(key, i)``, ``i`` counting such states in traversal order, so two
  random rules in one chain never share a stream. Use it after
  ``jax.vmap(tx.init)`` with one key per seed::

    keys = jax.random.split(jax.random.PRNGKey(0), num_seeds)
    states = jax.vmap(lambda k, p: reseed(tx.init(p), k))(keys, params)

  Args:
    opt_state: an optimizer state (any nesting of NamedTuples, tuples, dicts).
    key: an int seed or a PRNG key.

  Returns:
    The state with fresh keys; all other leaves unchanged.
  """
  key = as_key(key)
  counter = [0]

  def visit(node):
    if _is_keyed_state(node):
      fields = {f: visit(getattr(node, f)) for f in node._fields if f != 'key'}
      fields['key'] = jax.random.fold_in(key, counter[0])
      counter[0] += 1
      return type(node)(**fields)
    if isinstance(node, tuple) and hasattr(node, '_fields'):
      return type(node)(*(visit(c) for c in node))
    if isinstance(node, (tuple, list)):
      return type(node)(visit(c) for c in node)
    if isinstance(node, dict):
      return type(node)((k, visit(v)) for k, v in node.items())
    return node

  return visit(opt_state)


def unzip_leaves(tree: PyTree, like: PyTree, num: int) -> tuple[PyTree, ...]:
  """Splits the output of a ``jax.tree.map`` whose function returns ``num``
  values per leaf into ``num`` trees with the structure of ``like``."""
  treedef = jax.tree.structure(like)
  flat = treedef.flatten_up_to(tree)
  return tuple(treedef.unflatten([out[i] for out in flat])
               for i in range(num))


class TaskBoundary(NamedTuple):
  """Result of :func:`task_boundary`: whether a new task starts, its id."""
  is_new: jax.Array
  task_id: jax.Array


def task_boundary(last_task_id: jax.Array, task_id: Any,
                  *, rule: str) -> TaskBoundary:
  """Compares the ``task_id`` extra argument with the one a rule stored.

  Raises:
    ValueError: if ``task_id`` was not passed to ``update``.
  """
  if task_id is None:
    raise ValueError(
        f'{rule} needs the task id: call `update(..., task_id=t)` (an integer '
        'scalar) so it can tell where a task starts.')
  task_id = jnp.asarray(task_id, jnp.int32)
  return TaskBoundary(is_new=task_id != last_task_id, task_id=task_id)


def leaf_shapes(tree: PyTree) -> PyTree:
  """``ShapeDtypeStruct`` leaves: static, so branch functions may close over
  them (see :func:`cond_any`)."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)), tree)


def draw_selected(sample: Callable[[jax.Array, Tuple[int, ...]], jax.Array],
                   key: jax.Array, params: PyTree, selected: PyTree,
                   shape_fn: Callable[[Tuple[int, ...]], Tuple[int, ...]] = (
                       lambda shape: shape)) -> PyTree:
  """One ``sample(key, [n])`` call cut into the selected leaves' shapes.

  A single draw (rather than one per leaf) keeps the number of PRNG kernels,
  hence the compile time, independent of the number of layers. Unselected
  leaves get ``MaskedNode``.
  """
  leaves, treedef = jax.tree.flatten(params)
  flags = treedef.flatten_up_to(selected)
  shapes = [tuple(shape_fn(tuple(np.shape(p))))
            for p, flag in zip(leaves, flags) if flag]
  sizes = [math.prod(shape) for shape in shapes]
  pieces = iter([])
  if shapes:
    flat = sample(key, (sum(sizes),))
    offsets = np.cumsum([0] + sizes)
    pieces = iter([flat[a:b].reshape(shape) for a, b, shape in
                   zip(offsets[:-1], offsets[1:], shapes)])
  return treedef.unflatten([next(pieces) if flag else optax.MaskedNode()
                            for flag in flags])


def cond_any(pred: jax.Array, true_fn: Callable[..., Any],
              false_fn: Callable[..., Any], *operands: Any) -> Any:
  """``lax.cond(pred, true_fn, false_fn, *operands)`` that stays a branch
  under ``vmap``.

  ``jax.vmap`` turns a ``lax.cond`` with a batched predicate into a select
  that evaluates both branches. Here, under ``vmap``, ``true_fn`` runs (for
  the whole batch, each element then picking its own branch's result) only
  when ``any(pred)``; otherwise only ``false_fn`` runs. A rule that redraws a
  large random tree once per task thus costs nothing on the other steps even
  when seeds are vmapped (seeds run in lockstep). Nested ``vmap`` recurses.

  The branches are traced first and every array they close over (constants
  and outer traced values alike) is passed to the ``custom_vmap`` as an
  explicit operand, so the conditional also works where an enclosing
  transformation batches those arrays (e.g. inside ``lax.switch`` with a
  batched index). Not differentiable (an optimizer update is not
  differentiated).
  """
  flat_ops, ops_tree = jax.tree.flatten(operands)
  out_trees = []

  def flat(fn):
    def call(*leaves):
      out = fn(*jax.tree.unflatten(ops_tree, leaves))
      leaves_out, tree = jax.tree.flatten(out)
      out_trees.append(tree)
      return leaves_out
    return call

  true_jaxpr = jax.make_jaxpr(flat(true_fn))(*flat_ops)
  false_jaxpr = jax.make_jaxpr(flat(false_fn))(*flat_ops)
  if out_trees[0] != out_trees[1]:
    raise TypeError('cond_any: true_fn and false_fn must return the same tree '
                    f'structure, got {out_trees[0]} and {out_trees[1]}.')
  n_true, n_false = len(true_jaxpr.consts), len(false_jaxpr.consts)

  def run(jaxpr, lo, hi):
    def branch(*args):
      consts, ops = args[lo:hi], args[n_true + n_false:]
      return jax_core.jaxpr_as_fun(jax_core.ClosedJaxpr(jaxpr.jaxpr, consts))(
          *ops)
    return branch

  run_true = run(true_jaxpr, 0, n_true)
  run_false = run(false_jaxpr, n_true, n_true + n_false)

  @custom_batching.custom_vmap
  def cond(pred, *args):
    return jax.lax.cond(pred, run_true, run_false, *args)

  @cond.def_vmap
  def _vmap_rule(axis_size, in_batched, pred, *args):
    def full(x, batched):
      return x if batched else jnp.broadcast_to(
          x, (axis_size,) + jnp.shape(x))
    pred = full(pred, in_batched[0])
    args = [full(a, b) for a, b in zip(args, in_batched[1:])]

    def all_selected(pred, *args):
      return jax.vmap(lambda p, *a: jax.lax.cond(p, run_true, run_false, *a))(
          pred, *args)

    def none_selected(pred, *args):
      del pred
      return jax.vmap(run_false)(*args)

    out = cond_any(jnp.any(pred), all_selected, none_selected, pred, *args)
    return out, [True] * len(out)

  out = cond(pred, *true_jaxpr.consts, *false_jaxpr.consts, *flat_ops)
  return jax.tree.unflatten(out_trees[0], out)
