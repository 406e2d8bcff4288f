"""Item-by-item learning with per-synapse flexibility (Lee et al., SPEC §3).

``run_items(config, workdir)`` runs the protocol of :mod:`mpl_jax.data.items`
(sequential item sessions, Hebb repetition, data poisoning) for every run --
``num_seeds`` seeds times the flexibility *mixes* of ``config.mixes`` -- in
one ``jax.jit`` program: ``vmap`` over seeds (each with its own items, images,
sessions and label shuffles) of ``vmap`` over mixes (the same initial network,
flexibility draw ``u`` and minibatch order for every mix of a seed), of a
``lax.scan`` over sessions, each a ``lax.scan`` over its minibatches. One call
runs one pass over the items; progress is logged after each.

**Network.** :class:`ItemMLP`, a plain ReLU MLP on raw pixels without
BatchNorm (``input -> hidden... -> num_items``), Glorot-normal weights and zero
biases as in the reference; every weight matrix is gated, biases (if any) are
not. The reference instead trains a 4096-4096-C read-out on frozen pretrained
AlexNet conv features of 56x56 two-digit MNIST, unavailable offline here (see
:mod:`mpl_jax.data.items`). ``config.model.use_bias`` (the shipped config sets
False) drops the biases: on raw pixels an ungated output bias moves by up to
``lr * steps / 2`` per session and pulls every prediction toward the current
session's label whatever the gated weights hold, whereas in the reference
(lr 1e-4, large features) bias steps are negligible and all learning is in
gated weights (measured numbers in ``configs/items_flexibility.py``).

**Optimizer.** :func:`mpl_jax.rules.flexibility.flexible_sgd` (plain SGD on
``alpha * g``), with the session index as ``task_id``, so ``alpha`` is
refreshed at the start of every session (``refresh='task'``, as the
reference). The mixes run in one program through :func:`mixture`, which
computes every mix's update and keeps each run's own. Mixes
(``config.mixes.names``):

* ``'hybrid'``: ``f ~ U(0, 1]`` (``distribution='uniform'``);
* ``'conventional'``: all ``f = 1`` (plain SGD);
* ``'stable'``: all ``f = config.mixes.stable_flexibility`` (0.3);
* ``'increasing'`` / ``'decreasing'``: the biased mixes with CDF
  ``(1 - a) x^2 + a x`` and its mirror, ``a = config.mixes.bias``;
* ``'tiers'``: the discrete tiers ``config.mixes.tiers`` (``(f, proportion)``
  pairs); ``'constant:<f>'`` any constant;
* any name may end in ``@<s>`` to give that mix its own strength (e.g.
  ``'hybrid@300'``), so a calibration sweep of ``s`` is one program.

**Memorisation test.** After every session the whole test set of the run's
items (``M`` images) is classified. Item ``i`` is *memorised* when the
fraction of its test images classified as ``i`` beats a label-shuffle null at
``p < p_threshold`` (0.05): with ``N`` shuffles of the test labels across the
whole test set (drawn from the seed once and reused at every evaluation), the
null value of shuffle ``k`` is the fraction of the images *labelled* ``i``
after shuffling that are classified as ``i``, and
``p = (1 + #{k : null_k >= observed}) / (1 + N)``. The same test, with the
target class ``fake_class[i]`` instead of ``i``, says whether a poisoned item's
fake label was *adopted*.

Outputs (atomic writes, :mod:`mpl_jax.train.outputs`): ``config.json``,
``sessions.npz`` (every draw of every seed), ``metrics.jsonl`` (one line per
run and session), ``summary.json`` (per mix, mean and std over seeds) and
``items.png``. Metrics in ``summary.json`` (counts of items, per run then mean
and std over seeds):

* ``memorised_init``: before training (false positives of the test);
* ``memorised_sequential``: after the sequential pass;
* ``memorised_after_pass``: after each pass of the repetition phase (pass 0 is
  the sequential one); ``memorised_repetition``: after the last one;
  ``repeated_memorised_repetition``: the same among the repeated items;
* after the poisoning phase: ``repeated_kept`` (repeated items still
  memorised, true label; ``unrepeated_kept`` the others, when only a subset
  is repeated), ``memorised_after_poisoning`` (all items),
  ``poisoned_kept`` (poisoned items still memorised; ``unpoisoned_kept`` the
  others);
* ``poisoned_rejected``: poisoned items whose fake label was *not adopted* by
  the end of the item's own poisoning session, i.e. the fraction of the
  item's test images classified as ``fake_class[i]`` did not beat the
  label-shuffle null (``p >= p_threshold``) when the poison was freshest;
  ``poisoned_rejected_end``: the same at the end of the poisoning phase.
  Rejection alone can also come from forgetting (a network that learns
  nothing adopts nothing): read it with ``poisoned_kept``;
  ``poisoned_kept_and_rejected``: poisoned items still memorised (true label)
  and not adopting the fake label at the end of their own poisoning session;
  ``poisoned_kept_and_rejected_end``: both at the end of the phase.

References:
  Lee, Paik, Baek, Cho, "Neuromimetic metaplasticity for adaptive continual
  learning", arXiv:2407.07133, 2024 (Neural Networks 190, 2025).
"""

from __future__ import annotations

import os
import time
from typing import Any, Optional, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from mpl_jax.data import datasets as datasets_lib
from mpl_jax.data import items as items_lib
from mpl_jax.rules import _common
from mpl_jax.rules import flexibility as flex_lib
from mpl_jax.train import outputs
from mpl_jax.train import validate

PyTree = Any

ITEM_SOURCES = ('two_digit', 'classes')
NAMED_MIXES = ('hybrid', 'conventional', 'stable', 'increasing', 'decreasing',
               'tiers')
_METRICS = ('memorised_init', 'memorised_sequential', 'memorised_repetition',
            'repeated_memorised_repetition', 'memorised_after_poisoning',
            'repeated_kept', 'unrepeated_kept', 'poisoned_kept',
            'poisoned_rejected', 'poisoned_rejected_end',
            'poisoned_kept_and_rejected')


# ---------------------------------------------------------------------------
# Model and optimizer.


class ItemMLP(nnx.Module):
  """Plain ReLU MLP (no BatchNorm): ``Linear -> ReLU -> ... -> Linear``.

  Weights start Glorot-normal, biases at zero (reference initialisation).

  Args:
    sizes: ``(input, hidden..., outputs)``.
    use_bias: whether the layers have biases (never gated by the rule).
    rngs: NNX random streams.
  """

  def __init__(self, sizes: Sequence[int], *, use_bias: bool = True,
               rngs: nnx.Rngs):
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
      raise ValueError(f'sizes must list >= 2 positive widths, got {sizes}.')
    self.layers = nnx.List([
        nnx.Linear(i, o, use_bias=use_bias,
                   kernel_init=nnx.initializers.glorot_normal(),
                   bias_init=nnx.initializers.zeros_init(), rngs=rngs)
        for i, o in zip(sizes[:-1], sizes[1:])])

  def __call__(self, x: jax.Array, *, train: bool = False,
               rng: Optional[jax.Array] = None) -> jax.Array:
    del train, rng  # deterministic
    for layer in self.layers[:-1]:
      x = jax.nn.relu(layer(x))
    return self.layers[-1](x)


def split_mix_name(name: str) -> tuple[str, Optional[float]]:
  """Splits a mix name: ``'hybrid@300'`` -> ``('hybrid', 300.0)``.

  ``'hybrid'`` -> ``('hybrid', None)``.

  A mix name may carry its own strength after ``@`` (overriding
  ``config.optimizer.strength``), so a calibration sweep of ``s`` runs in one
  program: ``names=('hybrid@100', 'hybrid@300', 'conventional')``.
  """
  if '@' not in name:
    return name, None
  base, value = name.split('@', 1)
  try:
    return base, float(value)
  except ValueError:
    raise ValueError(f'mix {name!r}: the strength after "@" must be a '
                     'number.') from None


def mix_kwargs(name: str, mixes_cfg: Any) -> dict[str, Any]:
  """``distribution=`` or ``tiers=`` of :func:`flexible_sgd` for a mix name
  (a strength suffix ``@s`` is ignored here, see :func:`split_mix_name`)."""
  name, _ = split_mix_name(name)
  if name == 'hybrid':
    return dict(distribution='uniform')
  if name == 'conventional':
    return dict(distribution=('constant', 1.0))
  if name == 'stable':
    return dict(distribution=('constant',
                              float(mixes_cfg.get('stable_flexibility', 0.3))))
  if name in ('increasing', 'decreasing'):
    return dict(distribution=(name, float(mixes_cfg.get(
        'bias', flex_lib.DEFAULT_BIAS))))
  if name == 'tiers':
    return dict(tiers=tuple((float(f), float(q))
                            for f, q in mixes_cfg.tiers))
  if name.startswith('constant:'):
    return dict(distribution=('constant', float(name.split(':', 1)[1])))
  raise ValueError(f'unknown mix {name!r}: use one of {NAMED_MIXES} or '
                   "'constant:<f>'.")


def mixture(txs: Sequence[optax.GradientTransformationExtraArgs]
            ) -> optax.GradientTransformationExtraArgs:
  """Transforms with one state layout; ``update(..., mix=k)`` uses the k-th.

  Every transform must have the same state structure (e.g. ``flexible_sgd``
  with different flexibility distributions). ``mix`` is an int32 scalar and
  may be traced and batched: every transform's update is computed and the
  ``mix``-th result selected (``jnp.where``), so under ``vmap`` each run keeps
  its own. The extra cost is the optimizer's element-wise work times the
  number of transforms, small beside the forward and backward passes.
  (``lax.switch`` with a batched index would evaluate every branch too.)
  The state is the first transform's ``init``.
  """
  txs = tuple(txs)
  if not txs:
    raise ValueError('mixture needs at least one transform.')

  def init_fn(params):
    return txs[0].init(params)

  def update_fn(updates, state, params=None, *, mix=0, **extra_args):
    outs = [tx.update(updates, state, params, **extra_args) for tx in txs]
    if len(outs) == 1:
      return outs[0]
    mix = jnp.asarray(mix, jnp.int32)

    def select(*leaves):
      out = leaves[0]
      for k, leaf in enumerate(leaves[1:], start=1):
        out = jnp.where(mix == k, leaf, out)
      return out

    return jax.tree.map(select, *outs)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# ---------------------------------------------------------------------------
# The label-shuffle test.


def shuffle_test(pred: jax.Array, labels: jax.Array, shuffled: jax.Array,
                 target: jax.Array, num_items: int
                 ) -> tuple[jax.Array, jax.Array]:
  r"""Per item: fraction classified as its target, and its shuffle p-value.

  For item ``i`` with target class ``t_i`` (``target`` must be a permutation
  of the items: the identity for memorisation, the fake classes for adoption
  of a poison):

  .. math::

    a_i = \frac{\#\{j : y_j = i,\ \hat y_j = t_i\}}{\#\{j : y_j = i\}}, \quad
    p_i = \frac{1 + \#\{k : a_i^{(k)} \ge a_i\}}{1 + N},

  where ``a_i^(k)`` is ``a_i`` with the labels ``y`` replaced by their
  ``k``-th shuffle (a permutation keeps ``#{j : y_j = i}``, so counts are
  compared). Costs ``O(N M)``: with ``q_j = t^{-1}(\hat y_j)``, the hit count
  of item ``i`` under shuffle ``k`` is the number of ``j`` with
  ``y^{(k)}_j = q_j = i``.

  Args:
    pred: ``int[M]`` predicted classes.
    labels: ``int[M]`` true items.
    shuffled: ``int[N, M]`` shuffled copies of ``labels``.
    target: ``int[C]`` target class of each item (a permutation).
    num_items: ``C``.

  Returns:
    ``(fraction float32[C], p_value float32[C])``.
  """
  inverse = jnp.zeros_like(target).at[target].set(
      jnp.arange(num_items, dtype=target.dtype))
  q = inverse[pred].astype(jnp.int32)
  labels = labels.astype(jnp.int32)
  observed = jax.ops.segment_sum((labels == q).astype(jnp.int32), labels,
                                 num_items)
  total = jax.ops.segment_sum(jnp.ones_like(labels), labels, num_items)
  hits = (shuffled.astype(jnp.int32) == q[None, :]).astype(jnp.int32)
  null = jax.ops.segment_sum(hits.T, q, num_items)  # [C, N]
  exceed = jnp.sum(null >= observed[:, None], axis=1)
  p = (1.0 + exceed) / (1.0 + shuffled.shape[0])
  frac = observed / jnp.maximum(total, 1)
  return frac.astype(jnp.float32), p.astype(jnp.float32)


# ---------------------------------------------------------------------------
# The compiled program.


class _Program:
  """Pure functions of one run, vmapped over mixes then seeds, and jitted.

  Outer ``vmap``: seeds (their data, keys and states batched; the mix index
  shared); inner ``vmap``: mixes (state and mix index batched; the seed's
  data, keys and minibatch order shared).
  """

  def __init__(self, make_model, tx, *, scale, mean, std, batch_size, epochs,
               num_items):
    self.make_model, self.tx = make_model, tx
    self.graphdef, _ = nnx.split(make_model(nnx.Rngs(0)))
    self.scale, self.mean, self.std = scale, mean, std
    self.batch_size, self.epochs, self.num_items = batch_size, epochs, num_items
    init = jax.vmap(self._init, in_axes=(None, 0))
    self.init = jax.jit(jax.vmap(init, in_axes=(0, None)))
    ev = jax.vmap(self._evaluate, in_axes=(0, None, None, None, None))
    self.evaluate = jax.jit(jax.vmap(ev, in_axes=(0, 0, 0, 0, 0)))
    run = jax.vmap(self._run_sessions, in_axes=(0, 0) + (None,) * 9)
    self.run_sessions = jax.jit(
        jax.vmap(run, in_axes=(0, None) + (0,) * 7 + (None, 0)),
        donate_argnums=0)

  def _x(self, images):
    return (images.astype(jnp.float32) * self.scale - self.mean) / self.std

  def _logits(self, params, x):
    return nnx.merge(self.graphdef, params)(x)

  def _init(self, seed_key, mix):
    """Network from ``fold_in(key, 0)``, rule keys from ``fold_in(key, 1)``:
    every mix of a seed starts from the same weights and uniform draw."""
    del mix
    model = self.make_model(nnx.Rngs(jax.random.fold_in(seed_key, 0)))
    params = nnx.as_pure(nnx.state(model, nnx.Param))
    opt_state = _common.reseed(self.tx.init(params),
                               jax.random.fold_in(seed_key, 1))
    return params, opt_state

  def _evaluate(self, state, test_x, test_y, shuffled, fake):
    params, _ = state
    pred = jnp.argmax(self._logits(params, self._x(test_x)), -1)
    ident = jnp.arange(self.num_items, dtype=jnp.int32)
    acc, p = shuffle_test(pred, test_y, shuffled, ident, self.num_items)
    frac_fake, p_fake = shuffle_test(pred, test_y, shuffled, fake,
                                     self.num_items)
    return dict(item_accuracy=acc, p_value=p, fake_rate=frac_fake,
                p_fake=p_fake)

  def _diagnostics(self, params, opt_state):
    """Mean gate, fraction of gates < 0.5, mean |w - w_init| (gated weights)."""
    rule = _flex_state(opt_state)
    alpha = jax.tree.leaves(rule.alpha)
    dev = jax.tree.leaves(jax.tree.map(
        lambda p, w: (optax.MaskedNode() if isinstance(w, optax.MaskedNode)
                      else jnp.abs(p - w)), params, rule.w_init,
        is_leaf=lambda x: isinstance(x, optax.MaskedNode)))
    n = sum(a.size for a in alpha)
    return dict(
        alpha_mean=sum(a.sum() for a in alpha) / n,
        frozen_fraction=sum((a < 0.5).sum() for a in alpha) / n,
        deviation_mean=sum(d.sum() for d in dev) / n)

  def _run_sessions(self, state, mix, train_x, test_x, test_y, shuffled,
                    fake, sess_idx, sess_y, sess_id, seed_key):
    """Trains one run on a block of sessions, evaluating after each.

    ``sess_id`` (the global session index) is the optimizer's ``task_id`` and
    keys the session's minibatch order ``fold_in(fold_in(key, 2), id)``.
    """
    bs = self.batch_size
    length = sess_idx.shape[-1]
    nb = length // bs

    def loss_fn(params, x, y):
      logits = self._logits(params, x)
      logp = jax.nn.log_softmax(logits)
      nll = -jnp.take_along_axis(logp, y[:, None], 1)[:, 0]
      return nll.mean(), jnp.mean(jnp.argmax(logits, -1) == y)

    def session(state, inp):
      idx, y, sid = inp
      key = jax.random.fold_in(jax.random.fold_in(seed_key, 2), sid)
      orders = jax.vmap(lambda e: jax.random.permutation(
          jax.random.fold_in(key, e), length)[:nb * bs])(
              jnp.arange(self.epochs)).reshape(self.epochs * nb, bs)

      def step(st, b):
        params, opt_state = st
        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, self._x(train_x[idx[b]]), y[b])
        updates, opt_state = self.tx.update(grads, opt_state, params,
                                            task_id=sid, mix=mix)
        return (optax.apply_updates(params, updates), opt_state), (loss, acc)

      state, (losses, accs) = jax.lax.scan(step, state, orders)
      out = self._evaluate(state, test_x, test_y, shuffled, fake)
      out.update(self._diagnostics(*state))
      out.update(train_loss=losses.mean(), train_accuracy=accs.mean())
      return state, out

    return jax.lax.scan(session, state, (sess_idx, sess_y, sess_id))


def _flex_state(opt_state) -> flex_lib.FlexibilityTiersState:
  """The :class:`FlexibilityTiersState` inside a ``flexible_sgd`` state."""
  found = [x for x in jax.tree.leaves(
      opt_state, is_leaf=lambda x: isinstance(
          x, flex_lib.FlexibilityTiersState))
           if isinstance(x, flex_lib.FlexibilityTiersState)]
  if len(found) != 1:
    raise ValueError('expected one flexibility_tiers state in the optimizer '
                     f'state, found {len(found)}.')
  return found[0]


# ---------------------------------------------------------------------------
# Config.


def validate_items_config(config) -> None:
  """Raises :class:`validate.ConfigError` on a bad item-protocol config."""
  err = validate.ConfigError
  req = lambda path: validate.require(config, path)
  integer = lambda path, minimum: validate.positive_int(config, path, minimum)
  positive = lambda path: validate.positive_number(config, path)

  integer('seed', 0)
  integer('num_seeds', 1)
  if req('data.dataset') not in datasets_lib.DATASETS:
    raise err(f'unknown dataset {config.data.dataset!r}; known: '
              f'{sorted(datasets_lib.DATASETS)}.')
  source = req('data.item_source')
  if source not in ITEM_SOURCES:
    raise err(f'config.data.item_source must be one of {ITEM_SOURCES}, got '
              f'{source!r}.')
  c = integer('data.num_items', 3)
  if source == 'two_digit' and c > len(items_lib.TWO_DIGIT_PAIRS):
    raise err(f'config.data.num_items must be <= 45 for two-digit items, got '
              f'{c}.')
  integer('data.train_per_item', 0)
  integer('data.test_per_item', 0)
  if source == 'two_digit':
    integer('data.train_per_item', 1)
    integer('data.test_per_item', 1)
  positive('data.scale')
  positive('data.std')
  req('data.mean')
  hidden = req('model.hidden')
  if any(isinstance(h, bool) or not isinstance(h, int) or h < 1
         for h in hidden):
    raise err(f'config.model.hidden must list positive integers, got '
              f'{hidden!r}.')
  if req('optimizer.name') != 'flexible_sgd':
    raise err("config.optimizer.name must be 'flexible_sgd' for the item "
              'protocol.')
  positive('optimizer.learning_rate')
  s = req('optimizer.strength')
  if isinstance(s, bool) or not isinstance(s, (int, float)) or s < 0:
    raise err(f'config.optimizer.strength must be >= 0, got {s!r}.')
  if req('optimizer.refresh') not in ('task', 'step'):
    raise err("config.optimizer.refresh must be 'task' or 'step'.")
  names = list(req('mixes.names'))
  if not names or len(set(names)) != len(names):
    raise err(f'config.mixes.names must be distinct names, got {names!r}.')
  for n in names:
    try:
      kw = mix_kwargs(n, config.mixes)
      v = split_mix_name(n)[1]
      if v is not None and not v >= 0:
        raise ValueError(f'strength must be >= 0, got {v}.')
      flex_lib.flexibility_tiers(0, strength=1.0, **kw)  # validates
    except (ValueError, TypeError) as e:
      raise err(f'config.mixes: mix {n!r}: {e}') from None
  p = config.protocol
  if req('protocol.kind') != 'items':
    raise err("config.protocol.kind must be 'items'.")
  integer('protocol.repetitions', 1)
  for f in ('repeated_items', 'poisoned_items'):
    v = integer(f'protocol.{f}', -1)
    if v > c:
      raise err(f'config.protocol.{f} must be <= num_items ({c}) or -1 '
                f'(all), got {v}.')
  integer('protocol.per_item', 0)
  integer('protocol.epochs_per_session', 1)
  integer('protocol.batch_size', 1)
  integer('protocol.null_shuffles', 1)
  t = req('protocol.p_threshold')
  if not 0 < t < 1:
    raise err(f'config.protocol.p_threshold must be in (0, 1), got {t!r}.')
  if not isinstance(p.get('exclude_session_item', True), bool):
    raise err('config.protocol.exclude_session_item must be True or False.')


# ---------------------------------------------------------------------------
# Host side.


def build_items(config, seed: int) -> items_lib.ItemDataset:
  """The items of ``seed`` (two-digit analog or dataset classes)."""
  d = config.data
  base = datasets_lib.load_dataset(d.dataset, data_dir=d.get('data_dir') or
                                   None)
  if d.item_source == 'two_digit':
    return items_lib.two_digit_items(
        base, d.num_items, seed, train_per_item=d.train_per_item,
        test_per_item=d.test_per_item,
        shuffle_sides=d.get('shuffle_sides', False))
  return items_lib.class_items(base, d.num_items, seed,
                               train_per_item=d.train_per_item,
                               test_per_item=d.test_per_item)


def _all_or(v: int) -> Optional[int]:
  return None if v < 0 else v


def _run_summary(out: dict[str, np.ndarray], init: dict[str, np.ndarray],
                 sessions: items_lib.ItemSessions, threshold: float
                 ) -> dict[str, Any]:
  """Metrics of one run (see the module docstring)."""
  mem = out['p_value'] < threshold  # [S, C]
  adopted = out['p_fake'] < threshold
  passes = sessions.pass_index
  reps = int(passes[sessions.phase != items_lib.POISONING].max()) + 1
  end = [int(np.flatnonzero(passes == p)[-1]) for p in range(reps)]
  rep, poi = sessions.repeated, sessions.poisoned
  m = {'memorised_init': int((init['p_value'] < threshold).sum()),
       'memorised_after_pass': [int(mem[e].sum()) for e in end],
       'memorised_sequential': int(mem[end[0]].sum()),
       'memorised_repetition': int(mem[end[-1]].sum()),
       'repeated_memorised_repetition': int(mem[end[-1]][rep].sum()),
       'num_repeated': int(rep.sum()), 'num_poisoned': int(poi.sum())}
  poison = np.flatnonzero(sessions.phase == items_lib.POISONING)
  if len(poison):
    last = mem[-1]
    own = np.zeros(len(rep), bool)  # rejected right after its own session
    for s in poison:
      own[sessions.item[s]] = not adopted[s, sessions.item[s]]
    kept_own = np.zeros(len(rep), bool)
    for s in poison:
      kept_own[sessions.item[s]] = mem[s, sessions.item[s]]
    m.update(
        memorised_after_poisoning=int(last.sum()),
        repeated_kept=int(last[rep].sum()),
        poisoned_kept=int(last[poi].sum()),
        poisoned_rejected=int(own[poi].sum()),
        poisoned_rejected_end=int((~adopted[-1])[poi].sum()),
        poisoned_kept_and_rejected=int((own & kept_own)[poi].sum()),
        poisoned_kept_and_rejected_end=int(
            (last & ~adopted[-1])[poi].sum()))
    if not rep.all():
      m['unrepeated_kept'] = int(last[~rep].sum())
    if not poi.all():
      m['unpoisoned_kept'] = int(last[~poi].sum())
  return m


def _mean_std(values: list[Any]) -> dict[str, Any]:
  a = np.asarray(values, np.float64)
  return {'mean': a.mean(0).tolist(), 'std': a.std(0).tolist(),
          'values': a.tolist()}


def _plot(path: str, per_mix: dict[str, dict], curves: np.ndarray,
          sessions: items_lib.ItemSessions, names: Sequence[str],
          title: str) -> None:
  """Bars (memorised items per phase and mix), memorised count per session."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  groups = [('memorised_sequential', 'after sequential'),
            ('memorised_repetition', 'after repetition'),
            ('repeated_kept', 'repeated kept\nafter poisoning'),
            ('poisoned_rejected', 'poisoned\nrejected'),
            ('poisoned_kept_and_rejected', 'poisoned kept\n& rejected')]
  groups = [g for g in groups if g[0] in per_mix[names[0]]]
  fig, (ax, ax2) = plt.subplots(1, 2, figsize=(15, 4.6),
                                gridspec_kw={'width_ratios': [1.1, 1.6]})
  width = 0.8 / len(names)
  colors = plt.get_cmap('tab10')
  for k, name in enumerate(names):
    means = [per_mix[name][g]['mean'] for g, _ in groups]
    stds = [per_mix[name][g]['std'] for g, _ in groups]
    ax.bar(np.arange(len(groups)) + (k - (len(names) - 1) / 2) * width,
           means, width, yerr=stds, capsize=2, label=name, color=colors(k))
  ax.set_xticks(np.arange(len(groups)))
  ax.set_xticklabels([g[1] for g in groups], fontsize=8)
  ax.set_ylabel('items (mean ± std over seeds)')
  ax.set_title(f'{title}: memorised items per phase')
  ax.legend(fontsize=8)
  # curves: [seeds, mixes, sessions] memorised counts.
  x = np.arange(1, curves.shape[-1] + 1)
  for k, name in enumerate(names):
    m, s = curves[:, k].mean(0), curves[:, k].std(0)
    ax2.plot(x, m, color=colors(k), lw=1.2, label=name)
    ax2.fill_between(x, m - s, m + s, color=colors(k), alpha=0.2, lw=0)
  for b in np.flatnonzero(np.diff(sessions.pass_index)) + 1.5:
    ax2.axvline(b, color='0.8', lw=0.6, zorder=0)
  ax2.set_xlim(0.5, curves.shape[-1] + 0.5)
  ax2.set_xlabel('session (grey lines: passes; last block: poisoning)')
  ax2.set_ylabel('memorised items')
  ax2.set_title('memorised items after each session (mean ± std)')
  ax2.legend(fontsize=8, ncol=2)
  fig.tight_layout()

  def w(tmp):
    fig.savefig(tmp, dpi=110, format='png')
  outputs._atomic(path, w)  # pylint: disable=protected-access
  plt.close(fig)


def run_items(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs the item protocol of ``config`` for every seed and mix.

  Args:
    config: an item-protocol config (``configs/items_flexibility.py``).
    workdir: output directory. A workdir holding another config is refused;
      the same config is run again from the start (a whole run takes
      minutes; there is no checkpoint).

  Returns:
    The summary (also ``summary.json``).
  """
  validate_items_config(config)
  os.makedirs(workdir, exist_ok=True)
  outputs.check_or_write_config(workdir, config)

  t_start = time.time()
  p = config.protocol
  seeds = [config.seed + i for i in range(config.num_seeds)]
  names = list(config.mixes.names)
  items, sessions = [], []
  for s in seeds:
    it = build_items(config, s)
    items.append(it)
    sessions.append(items_lib.item_sessions(
        it, s, repetitions=p.repetitions,
        num_repeated=_all_or(p.repeated_items),
        num_poisoned=_all_or(p.poisoned_items), per_item=p.per_item,
        exclude_session_item=p.get('exclude_session_item', True)))
  c = items[0].num_items
  shuffled = np.stack([items_lib.label_shuffles(it.data.test_y,
                                                p.null_shuffles, s)
                       for it, s in zip(items, seeds)])
  arrays = {'seeds': np.asarray(seeds), 'mixes': np.asarray(names)}
  for r, (it, se) in enumerate(zip(items, sessions)):
    arrays[f'seed{r}_item_names'] = np.asarray(it.item_names)
    arrays[f'seed{r}_source_classes'] = it.source_classes
    for k, v in se.arrays().items():
      arrays[f'seed{r}_{k}'] = v
  outputs.write_npz(os.path.join(workdir, 'sessions.npz'), arrays)
  ds = items[0].data
  logging.info('Items: %d %s items of %s (%s, %d train / %d test images per '
               'item), %d sessions per run, %d seeds x %d mixes %s.',
               c, config.data.item_source, config.data.dataset,
               'x'.join(map(str, ds.image_shape)),
               ds.num_train // c, ds.num_test // c, sessions[0].num_sessions,
               len(seeds), len(names), names)

  sizes = (ds.input_dim, *config.model.hidden, c)
  o = config.optimizer
  strengths = [split_mix_name(n)[1] for n in names]
  strengths = [float(o.strength) if v is None else v for v in strengths]
  tx = mixture([flex_lib.flexible_sgd(
      o.learning_rate, key=0, strength=v, refresh=o.refresh,
      **mix_kwargs(n, config.mixes)) for n, v in zip(names, strengths)])
  use_bias = bool(config.model.get('use_bias', True))
  prog = _Program(lambda rngs: ItemMLP(sizes, use_bias=use_bias, rngs=rngs),
                  tx, scale=config.data.scale,
                  mean=config.data.mean, std=config.data.std,
                  batch_size=p.batch_size, epochs=p.epochs_per_session,
                  num_items=c)

  seed_keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
  mix_ids = jnp.arange(len(names), dtype=jnp.int32)
  train_x = jnp.asarray(np.stack([it.data.train_x for it in items]))
  test_x = jnp.asarray(np.stack([it.data.test_x for it in items]))
  test_y = jnp.asarray(np.stack([it.data.test_y for it in items]))
  shuffled_d = jnp.asarray(shuffled)
  fake = jnp.asarray(np.stack([se.fake_class for se in sessions]))
  sess_idx = np.stack([se.train_idx for se in sessions])
  sess_y = np.stack([se.train_y for se in sessions])
  n_sess = sessions[0].num_sessions
  length = sess_idx.shape[-1]
  if length < p.batch_size:
    raise validate.ConfigError(
        f'config.protocol.batch_size={p.batch_size} exceeds the {length} '
        'examples of a session.')

  state = prog.init(seed_keys, mix_ids)
  init = jax.tree.map(np.asarray, prog.evaluate(state, test_x, test_y,
                                                shuffled_d, fake))
  # Blocks of sessions: one per pass (sequential, repetitions, poisoning).
  passes = sessions[0].pass_index
  blocks = np.split(np.arange(n_sess), np.flatnonzero(np.diff(passes)) + 1)
  results: list[dict[str, np.ndarray]] = []
  thr = p.p_threshold
  for b, block in enumerate(blocks):
    t0 = time.time()
    state, out = prog.run_sessions(
        state, mix_ids, train_x, test_x, test_y, shuffled_d, fake,
        jnp.asarray(sess_idx[:, block]), jnp.asarray(sess_y[:, block]),
        jnp.asarray(block.astype(np.int32)), seed_keys)
    out = jax.tree.map(np.asarray, out)  # [seeds, mixes, block, ...]
    if not np.all(np.isfinite(out['train_loss'])):
      raise FloatingPointError(
          f'non-finite training loss in sessions {block[0]}..{block[-1]}: '
          'lower config.optimizer.learning_rate.')
    results.append(out)
    phase = items_lib.PHASE_NAMES[sessions[0].phase[block[0]]]
    mem = (out['p_value'][:, :, -1] < thr).sum(-1)  # [seeds, mixes]
    logging.info(
        'pass %d/%d (%s, %d sessions) %.1fs: memorised items %s; train '
        'loss %s', b + 1, len(blocks), phase, len(block), time.time() - t0,
        ', '.join(f'{n} {mem[:, k].mean():.1f}±{mem[:, k].std():.1f}'
                  for k, n in enumerate(names)),
        ', '.join(f'{out["train_loss"][:, k].mean():.3f}'
                  for k in range(len(names))))
    _write_metrics(workdir, results, sessions, seeds, names, thr)

  full = {k: np.concatenate([r[k] for r in results], axis=2)
          for k in results[0]}
  per_run, per_mix = [], {}
  for k, n in enumerate(names):
    runs = []
    for r, s in enumerate(seeds):
      m = _run_summary({key: v[r, k] for key, v in full.items()},
                       {key: v[r, k] for key, v in init.items()},
                       sessions[r], thr)
      m.update(seed=s, mix=n,
               deviation_after_first_session=float(
                   full['deviation_mean'][r, k, 0]),
               frozen_fraction_end=float(full['frozen_fraction'][r, k, -1]))
      runs.append(m)
      per_run.append(m)
    per_mix[n] = {key: _mean_std([m[key] for m in runs])
                  for key in runs[0] if key not in ('seed', 'mix')}
  dev = None
  if 'conventional' in names:
    dev = per_mix['conventional']['deviation_after_first_session']['mean']
  summary = {
      'num_items': c, 'num_sessions': n_sess, 'seeds': seeds, 'mixes': names,
      'p_threshold': thr, 'null_shuffles': p.null_shuffles,
      'strength': float(config.optimizer.strength),
      'mix_strengths': dict(zip(names, strengths)),
      'calibration': {
          'conventional_mean_abs_deviation_after_first_session': dev,
          'strength_times_deviation': (None if dev is None else
                                       float(config.optimizer.strength) * dev)},
      'per_mix': per_mix, 'per_run': per_run,
      'elapsed_s': time.time() - t_start}
  outputs.write_json(os.path.join(workdir, 'summary.json'), summary)
  if config.get('plot', True):
    curves = (full['p_value'] < thr).sum(-1)  # [seeds, mixes, sessions]
    _plot(os.path.join(workdir, 'items.png'), per_mix, curves, sessions[0],
          names, config.get('name', 'items'))
  logging.info('Finished in %.1fs. %s', time.time() - t_start, '; '.join(
      f'{n}: ' + ', '.join(
          f'{key} {per_mix[n][key]["mean"]:.1f}±{per_mix[n][key]["std"]:.1f}'
          for key in _METRICS if key in per_mix[n]) for n in names))
  return summary


def _write_metrics(workdir, results, sessions, seeds, names, thr):
  """Rewrites ``metrics.jsonl``: one line per run (seed, mix) and session."""
  full = {k: np.concatenate([r[k] for r in results], axis=2)
          for k in results[0]}
  done = full['train_loss'].shape[2]
  rows = []
  for r, s in enumerate(seeds):
    se = sessions[r]
    for k, n in enumerate(names):
      for t in range(done):
        g = lambda key: full[key][r, k, t]
        rows.append({
            'seed': s, 'mix': n, 'session': t, 'item': int(se.item[t]),
            'phase': items_lib.PHASE_NAMES[se.phase[t]],
            'pass': int(se.pass_index[t]),
            'train_loss': float(g('train_loss')),
            'train_accuracy': float(g('train_accuracy')),
            'memorised': int((g('p_value') < thr).sum()),
            'item_accuracy': [round(float(v), 4) for v in g('item_accuracy')],
            'p_value': [round(float(v), 4) for v in g('p_value')],
            'fake_rate': [round(float(v), 4) for v in g('fake_rate')],
            'p_fake': [round(float(v), 4) for v in g('p_fake')],
            'alpha_mean': float(g('alpha_mean')),
            'frozen_fraction': float(g('frozen_fraction')),
            'deviation_mean': float(g('deviation_mean'))})
  outputs.write_jsonl(os.path.join(workdir, 'metrics.jsonl'), rows)
