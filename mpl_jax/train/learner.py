"""The functional core of training: pure functions over a per-run state.

A :class:`Learner` ties a Flax NNX model (split into a graph definition and
pure array states) to an optax transformation. Its functions take and return
a :class:`TrainState` of arrays and are written for one run; the trainer
``jax.vmap``s them over runs (seeds, swept values) and ``jax.jit``s them, so
a whole epoch (a ``lax.scan`` over minibatches, data resident on the device,
pixel permutation applied on the fly) is one compiled call for all runs.

The optimizer sees the task index as the keyword extra argument ``task_id``
of ``update``: rules that need task boundaries read it, others ignore it.

Every key comes from :mod:`mpl_jax.train.keys` (named streams): the model
from ``'init'``, the optimizer state's keys from ``'rule'``, an epoch's
shuffle and step keys from the epoch key of stream ``'epoch'`` that the
trainer passes (shuffle ``fold_in(k, 0)``, step ``i`` ``fold_in(fold_in(k,
1), i)``).

**The learner interface** is :class:`mpl_jax.train.interfaces.Learner`:
pure, single-run functions the trainer maps over runs and compiles, every
one taking the run's ``seed`` (never a key). :class:`Learner` is the
gradient learner (a Flax model and an optax transform), registered as
``config.learner='gradient'`` (:data:`PLUGIN`); it also provides
``predict`` and ``uncertainty_scores`` for evaluators. Local-learning
spiking networks provide their own (:mod:`mpl_jax.train.spiking`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from mpl_jax import reseed
from mpl_jax.models import bayesian
from mpl_jax.rules import metaplasticity
from mpl_jax.train import checks
from mpl_jax.train import interfaces
from mpl_jax.train import keys as keys_lib
from mpl_jax.train import learner_utils
from mpl_jax.train.models import build_model

PyTree = Any

Preprocess = learner_utils.Preprocess

# Optimizer-state nodes that `reset_optimizer='moments'` re-initialises.
MOMENT_STATES = (optax.ScaleByAdamState, metaplasticity.ScaleByAdamPytorchState)


class TrainState(NamedTuple):
  """Everything a run carries from step to step (all arrays).

  Attributes:
    params: the model's ``nnx.Param`` state.
    batch_stats: the model's ``nnx.BatchStat`` state.
    opt_state: the optimizer state (keys included).
    bn_bank: per-task snapshots of BatchNorm parameters and statistics,
      leaves with a leading task axis (``()`` when the protocol is off).
  """
  params: PyTree
  batch_stats: PyTree
  opt_state: PyTree
  bn_bank: PyTree


def cross_entropy(logits: jax.Array, labels: jax.Array,
                  reduction: str) -> jax.Array:
  """Softmax cross-entropy; for ``[K, B, C]`` logits, mean over the K samples.

  With ``reduction='sum'`` and K Monte-Carlo samples this is the MESU loss
  ``-sum_batch mean_samples log p(y|x, w_s)``.
  """
  logp = jax.nn.log_softmax(logits, axis=-1)
  nll = -jnp.take_along_axis(
      logp, jnp.broadcast_to(labels[..., None], logp.shape[:-1] + (1,)),
      axis=-1)[..., 0]
  if nll.ndim == 2:  # [K, B]: average the samples first
    nll = nll.mean(0)
  return nll.sum() if reduction == 'sum' else nll.mean()


def mask_logits(logits: jax.Array, class_mask: jax.Array) -> jax.Array:
  """Sets the logits of classes outside ``class_mask`` to a large negative."""
  return jnp.where(class_mask, logits, jnp.asarray(-1e9, logits.dtype))


def predict_class(logits: jax.Array) -> jax.Array:
  """Argmax class; Monte-Carlo logits ``[K, B, C]`` average probabilities."""
  if logits.ndim == 3:
    return jnp.argmax(jax.nn.softmax(logits, -1).mean(0), -1)
  return jnp.argmax(logits, -1)


@dataclasses.dataclass(frozen=True)
class Learner:
  """A model, an optimizer and the protocol options, as pure functions.

  Attributes:
    graphdef: the model's ``nnx.GraphDef``.
    make_model: ``rngs -> nnx.Module`` (builds a fresh model for a seed).
    tx: the optax transformation (called with ``task_id=``).
    preprocess: pixel scaling.
    batch_size: training minibatch size.
    eval_batch_size: evaluation batch size (with BatchNorm in batch mode, the
      statistics of each evaluation batch are used).
    loss_reduction: ``'mean'`` or ``'sum'`` over the minibatch.
    reset_optimizer: ``'none'``, ``'moments'`` (Adam moments and counts set
      back to zero at each task boundary, as in the reference pMNIST runs) or
      ``'all'`` (the whole optimizer state re-initialised, keys re-derived).
    per_task_bn: keep a BatchNorm snapshot per task and use task j's snapshot
      to evaluate task j. This gives the evaluator the task identity: a
      protocol option of the reference, off by default.
    num_tasks: number of tasks (size of the BatchNorm bank).
    bn_param_mask: pytree of bools over params: which leaves belong to
      BatchNorm layers.
    sweep: name of an injected hyperparameter whose value differs per run.
    steps_per_epoch: 0: an epoch is one pass over the task's examples (the
      last incomplete minibatch dropped); > 0: an epoch is this many steps,
      drawn from consecutive shuffled passes (a task of N iterations).
  """
  graphdef: Any
  make_model: Callable[[nnx.Rngs], nnx.Module]
  tx: optax.GradientTransformationExtraArgs
  preprocess: Preprocess
  batch_size: int
  eval_batch_size: int
  loss_reduction: str = 'mean'
  reset_optimizer: str = 'none'
  per_task_bn: bool = False
  num_tasks: int = 1
  bn_param_mask: Optional[PyTree] = None
  sweep: Optional[str] = None
  steps_per_epoch: int = 0

  # ---------------------------------------------------------------- state
  def init(self, seed: Any, sweep_value: Any = None) -> TrainState:
    """A fresh state for one run (``seed`` an int32 scalar, may be traced)."""
    model = self.make_model(nnx.Rngs(keys_lib.stream_key(seed, 'init')))
    _, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    params, batch_stats = nnx.as_pure(params), nnx.as_pure(batch_stats)
    opt_state = self._init_opt(params, seed, 0, sweep_value)
    bank = ()
    if self.per_task_bn:
      snap = self._bn_snapshot(params, batch_stats)
      bank = jax.tree.map(
          lambda a: jnp.broadcast_to(a, (self.num_tasks,) + a.shape), snap)
    return TrainState(params, batch_stats, opt_state, bank)

  def _init_opt(self, params, seed, task, sweep_value):
    opt_state = self.tx.init(params)
    opt_state = reseed(opt_state, keys_lib.stream_key(seed, 'rule', task))
    return learner_utils.inject_sweep(opt_state, self.sweep, sweep_value)

  def start_task(self, state: TrainState, seed: Any, task: Any,
                 sweep_value: Any = None) -> TrainState:
    """Applies the protocol's optimizer reset before training ``task``."""
    if self.reset_optimizer == 'none':
      return state
    fresh = self._init_opt(state.params, seed, task, sweep_value)
    if self.reset_optimizer == 'all':
      return state._replace(opt_state=fresh)
    is_moment = lambda x: isinstance(x, MOMENT_STATES)
    opt_state = jax.tree.map(
        lambda old, new: new if is_moment(old) else old,
        state.opt_state, fresh, is_leaf=is_moment)
    return state._replace(opt_state=opt_state)

  def _bn_snapshot(self, params, batch_stats):
    bn_params = jax.tree.map(lambda p, m: p if m else None, params,
                             self.bn_param_mask)
    return (bn_params, batch_stats)

  def end_task(self, state: TrainState, task: Any) -> TrainState:
    """Saves the BatchNorm snapshot of ``task`` (per-task BN protocol)."""
    if not self.per_task_bn:
      return state
    snap = self._bn_snapshot(state.params, state.batch_stats)
    bank = jax.tree.map(lambda b, s: b.at[task].set(s), state.bn_bank, snap)
    return state._replace(bn_bank=bank)

  # ------------------------------------------------------------- compute
  def _inputs(self, images, idx, perm):
    return learner_utils.inputs(self.preprocess, images, idx, perm)

  def apply(self, params, batch_stats, x, *, train, rng=None):
    """Runs the model; returns logits and the new BatchNorm statistics."""
    model = nnx.merge(self.graphdef, params, batch_stats)
    logits = model(x, train=train, rng=rng)
    new_stats = nnx.as_pure(nnx.state(model, nnx.BatchStat))
    return logits, new_stats

  def loss(self, params, batch_stats, x, y, rng, class_mask):
    logits, new_stats = self.apply(params, batch_stats, x, train=True,
                                   rng=rng)
    logits = mask_logits(logits, class_mask)
    loss = cross_entropy(logits, y, self.loss_reduction)
    return loss, (new_stats, logits)

  def train_step(self, state: TrainState, x, y, rng, task_id, class_mask):
    (loss, (stats, logits)), grads = jax.value_and_grad(
        self.loss, has_aux=True)(state.params, state.batch_stats, x, y, rng,
                                 class_mask)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params,
                                        task_id=task_id)
    params = optax.apply_updates(state.params, updates)
    acc = jnp.mean(predict_class(logits) == y)
    return state._replace(params=params, batch_stats=stats,
                          opt_state=opt_state), loss, acc

  def train_epoch(self, state: TrainState, images, idx, labels, perm,
                  class_mask, epoch_key, task_id):
    """One epoch of one run: shuffle, then ``lax.scan`` over minibatches.

    Args:
      state: the run's state.
      images: ``uint8[N, D]`` base images (shared by all runs).
      idx: ``int32[n]`` the task's example indices for this run.
      labels: ``int32[n]`` their labels.
      perm: ``int32[D]`` the task's pixel permutation for this run.
      class_mask: ``bool[C]`` outputs that take part (task-incremental
        masking; all True otherwise).
      epoch_key: the epoch's key (stream ``'epoch'``): the shuffle uses
        ``fold_in(epoch_key, 0)`` (pass ``p``: ``fold_in(.., p)``), step
        ``i`` uses ``fold_in(fold_in(epoch_key, 1), i)``.
      task_id: the task index passed to the optimizer (the trainer passes 0
        throughout when the protocol hides task boundaries).

    Returns:
      ``(state, mean loss, mean training accuracy)``. The last incomplete
      minibatch of each pass is dropped.
    """
    n = idx.shape[0]
    per_pass = n // self.batch_size
    nb = self.steps_per_epoch or per_pass
    passes = -(-nb // per_pass)
    shuffle_key = jax.random.fold_in(epoch_key, 0)
    order = jax.vmap(lambda p: jax.random.permutation(
        jax.random.fold_in(shuffle_key, p), n)[:per_pass * self.batch_size])(
            jnp.arange(passes))
    order = order.reshape(passes * per_pass, self.batch_size)[:nb]
    step_keys = jax.random.split(jax.random.fold_in(epoch_key, 1), nb)

    def body(st, inp):
      b, key = inp
      x = self._inputs(images, idx[b], perm)
      st, loss, acc = self.train_step(st, x, labels[b], key, task_id,
                                      class_mask)
      return st, (loss, acc)

    state, (losses, accs) = jax.lax.scan(body, state, (order, step_keys))
    return state, losses.mean(), accs.mean()

  def _eval_params(self, state, bn_task):
    """Live parameters, or task ``bn_task``'s BatchNorm snapshot if >= 0."""
    if not self.per_task_bn:
      return state.params, state.batch_stats
    use_bank = bn_task >= 0
    bn_params, stats = jax.tree.map(lambda b: b[jnp.maximum(bn_task, 0)],
                                    state.bn_bank)
    params = jax.tree.map(
        lambda p, b, m: jnp.where(use_bank, b, p) if m else p,
        state.params, bn_params, self.bn_param_mask,
        is_leaf=lambda x: x is None)
    stats = jax.tree.map(lambda s, b: jnp.where(use_bank, b, s),
                         state.batch_stats, stats)
    return params, stats

  def evaluate(self, state: TrainState, images, idx, labels, perm,
               class_mask, key, bn_task):
    """Accuracy of one run on one task's test examples.

    Evaluated in batches of ``eval_batch_size`` (plus one remainder batch);
    with ``per_task_bn`` and ``bn_task >= 0`` the BatchNorm snapshot saved
    after task ``bn_task`` is used; ``bn_task = -1`` uses the live state.
    """
    params, stats = self._eval_params(state, bn_task)

    def correct(b_idx, k):
      x = self._inputs(images, idx[b_idx], perm)
      logits, _ = self.apply(params, stats, x, train=False, rng=k)
      logits = mask_logits(logits, class_mask)
      return jnp.sum(predict_class(logits) == labels[b_idx])

    counts = self._over_eval_batches(correct, idx.shape[0], key)
    return sum(c.sum() for c in counts) / idx.shape[0]

  def predict(self, state: TrainState, images, idx, perm, class_mask, key,
              bn_task):
    """Predicted classes ``int32[m]`` of one run on ``idx``."""
    params, stats = self._eval_params(state, bn_task)

    def pred(b_idx, k):
      x = self._inputs(images, idx[b_idx], perm)
      logits, _ = self.apply(params, stats, x, train=False, rng=k)
      return predict_class(mask_logits(logits, class_mask)).astype(jnp.int32)

    parts = self._over_eval_batches(pred, idx.shape[0], key)
    return jnp.concatenate([p.reshape(-1) for p in parts])

  def uncertainty_scores(self, state: TrainState, images, idx, perm, key,
                         bn_task):
    """Per-example uncertainty (see :func:`uncertainty`) of one run."""
    params, stats = self._eval_params(state, bn_task)

    def scores(b_idx, k):
      x = self._inputs(images, idx[b_idx], perm)
      logits, _ = self.apply(params, stats, x, train=False, rng=k)
      return uncertainty(logits)

    parts = self._over_eval_batches(scores, idx.shape[0], key)
    return jnp.concatenate([p.reshape(-1) for p in parts])

  def _over_eval_batches(self, fn, m, key):
    return learner_utils.over_eval_batches(fn, m, key, self.eval_batch_size)


def uncertainty(logits: jax.Array) -> jax.Array:
  """Per-example OOD score: mutual information over MC samples ``[K, B, C]``
  (epistemic uncertainty), or the predictive entropy of a deterministic
  model's ``[B, C]`` logits."""
  if logits.ndim == 3:
    return bayesian.mutual_information(logits)
  logp = jax.nn.log_softmax(logits, -1)
  return -jnp.sum(jnp.exp(logp) * logp, -1)


def bn_param_mask(model: nnx.Module, params: PyTree) -> PyTree:
  """Pytree of bools over ``params``: True under a ``nnx.BatchNorm`` module."""
  prefixes = [tuple(path) for path, node in nnx.iter_graph(model)
              if isinstance(node, nnx.BatchNorm)]

  def is_bn(path, _):
    keys = tuple(getattr(k, 'key', getattr(k, 'idx', None)) for k in path)
    return any(keys[:len(p)] == p for p in prefixes)

  return jax.tree_util.tree_map_with_path(is_bn, params)


def make_learner(config, stream: Any, sweep_name: Optional[str]) -> Learner:
  """The gradient learner of ``config`` for ``stream`` (a ``TaskStream``)."""
  sizes = (stream.input_dim, *config.model.hidden, stream.num_classes)
  make_model = lambda rngs: build_model(config.model, sizes, rngs)
  model = make_model(nnx.Rngs(0))
  graphdef, params, _ = nnx.split(model, nnx.Param, nnx.BatchStat)
  p = config.protocol
  return Learner(
      graphdef=graphdef, make_model=make_model,
      tx=learner_utils.build_tx(config, sweep_name),
      preprocess=Preprocess.from_config(config),
      batch_size=p.batch_size, eval_batch_size=p.eval_batch_size,
      loss_reduction=p.loss_reduction, reset_optimizer=p.reset_optimizer,
      per_task_bn=p.per_task_bn, num_tasks=stream.num_tasks,
      bn_param_mask=bn_param_mask(model, nnx.as_pure(params)),
      sweep=sweep_name, steps_per_epoch=p.steps_per_task)


def _validate(config) -> None:
  """Nothing beyond the model and optimizer checks every run has."""
  checks.require(config, 'model')


PLUGIN = interfaces.LearnerPlugin(
    build=make_learner, validate=_validate,
    provides=('predict', 'uncertainty_scores'))
