"""Item-by-item learning with per-synapse flexibility (Lee et al., SPEC §3).

The protocol of :mod:`mpl_jax.data.items` (sequential item sessions, Hebb
repetition, data poisoning) runs in the continual-learning trainer like any
other: ``config.data.stream='items'`` makes each session a task
(:func:`mpl_jax.data.items.items_stream`), the runs are ``num_seeds`` seeds
times the flexibility *mixes* (``config.sweep.name='mix'``, one optimizer
variant per mix combined by :func:`mpl_jax.rules.mixture.mixture`), and the
memorisation test is the evaluator ``config.evals.items``
(:class:`ItemsEvaluator`). This module holds what is particular to the
protocol: the mixes, the evaluator, its summary and plot, and the config
checks.

**Network.** ``model.name='mlp'`` with ``use_bn=False``,
``kernel_init='glorot_normal'``: a plain ReLU MLP on raw pixels without
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
reference). The mixes run in one program through
:func:`mpl_jax.rules.mixture.mixture`, which computes every mix's update and
keeps each run's own. Mixes (``config.sweep.values``):

* ``'hybrid'``: ``f ~ U(0, 1]`` (``distribution='uniform'``);
* ``'conventional'``: all ``f = 1`` (plain SGD);
* ``'stable'``: all ``f = config.sessions.stable_flexibility`` (0.3);
* ``'increasing'`` / ``'decreasing'``: the biased mixes with CDF
  ``(1 - a) x^2 + a x`` and its mirror, ``a = config.sessions.bias``;
* ``'tiers'``: the discrete tiers ``config.sessions.tiers`` (``(f, proportion)``
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

Outputs: the trainer's (``config.json``, ``stream.npz`` with every draw of
every seed, ``metrics.jsonl`` with one line per run and session holding the
evaluator's per-item values, ``accuracy.npy`` of sessions x sessions,
checkpoints: a killed run resumes), ``summary.json`` (per mix, the metrics
below as mean and std over seeds, under ``items``) and ``items.png``. Metrics in ``summary.json`` (counts of items, per run then mean
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
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mpl_jax.data import datasets as datasets_lib
from mpl_jax.data import items as items_lib
from mpl_jax.rules import flexibility as flex_lib
from mpl_jax.train import keys as keys_lib
from mpl_jax.train import metrics as metrics_lib
from mpl_jax.train import outputs
from mpl_jax.train import validate

ITEM_SOURCES = ('two_digit', 'classes')
NAMED_MIXES = ('hybrid', 'conventional', 'stable', 'increasing', 'decreasing',
               'tiers')
_METRICS = ('memorised_init', 'memorised_sequential', 'memorised_repetition',
            'repeated_memorised_repetition', 'memorised_after_poisoning',
            'repeated_kept', 'unrepeated_kept', 'poisoned_kept',
            'poisoned_rejected', 'poisoned_rejected_end',
            'poisoned_kept_and_rejected')


# ---------------------------------------------------------------------------
# Stream and mixes.


def build_stream(config, seeds):
  """The item sessions of ``seeds`` as a task stream (one task a session)."""
  d, it = config.data, config.sessions
  base = datasets_lib.load_dataset(d.dataset, data_dir=d.data_dir or None)

  def make_items(seed):
    if d.item_source == 'two_digit':
      return items_lib.two_digit_items(
          base, d.num_items, seed, train_per_item=d.train_per_item,
          test_per_item=d.test_per_item, shuffle_sides=d.shuffle_sides)
    return items_lib.class_items(base, d.num_items, seed,
                                 train_per_item=d.train_per_item,
                                 test_per_item=d.test_per_item)

  all_or = lambda v: None if v < 0 else v
  return items_lib.items_stream(
      make_items, seeds, repetitions=it.repetitions,
      num_repeated=all_or(it.repeated_items),
      num_poisoned=all_or(it.poisoned_items), per_item=it.per_item,
      exclude_session_item=it.exclude_session_item,
      null_shuffles=it.null_shuffles)


def optimizer_variants(config) -> list[dict[str, Any]]:
  """One ``flexible_sgd`` config per mix of ``config.sweep.values``."""
  out = []
  for name in config.sweep['values']:
    cfg = dict(config.optimizer)
    cfg.pop('distribution', None)
    cfg.pop('tiers', None)
    cfg.update(mix_kwargs(name, config.sessions))
    strength = split_mix_name(name)[1]
    if strength is not None:
      cfg['strength'] = strength
    if 'tiers' in cfg:  # the optimizer builder takes a flat tuple
      cfg['tiers'] = tuple(v for pair in cfg['tiers'] for v in pair)
    out.append(cfg)
  return out


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
                              float(mixes_cfg.stable_flexibility)))
  if name in ('increasing', 'decreasing'):
    return dict(distribution=(name, float(mixes_cfg.bias)))
  if name == 'tiers':
    return dict(tiers=tuple((float(f), float(q))
                            for f, q in mixes_cfg.tiers))
  if name.startswith('constant:'):
    return dict(distribution=('constant', float(name.split(':', 1)[1])))
  raise ValueError(f'unknown mix {name!r}: use one of {NAMED_MIXES} or '
                   "'constant:<f>'.")




# ---------------------------------------------------------------------------
# The memorisation evaluator.


def _flex_state(opt_state) -> Optional[flex_lib.ScaleByFlexibilityState]:
  """The :class:`ScaleByFlexibilityState` inside an optimizer state, if any."""
  found = [x for x in jax.tree.leaves(
      opt_state, is_leaf=lambda x: isinstance(
          x, flex_lib.ScaleByFlexibilityState))
           if isinstance(x, flex_lib.ScaleByFlexibilityState)]
  return found[0] if len(found) == 1 else None


class ItemsEvaluator:
  """After every session: which items are memorised, which poisons adopted.

  On each seed's whole item test set: the fraction of item ``i``'s images
  classified as ``i`` and its label-shuffle p-value, the same for the fake
  class ``fake_class[i]`` (adoption of a poison), and diagnostics of the
  flexibility rule (mean gate, fraction of gates < 0.5, mean |w - w_init|).
  Settings (``config.evals.items``): ``p_threshold`` (0.05).
  """

  name = 'items'
  at_init = True

  def __init__(self, settings, stream, data_dir=None):
    del data_dir
    ex = stream.extras
    if not ex or 'sessions' not in ex:
      raise ValueError('config.evals.items needs config.data.stream = '
                       "'items'.")
    self.threshold = float(settings.p_threshold)
    self.num_items = stream.num_classes
    self.seeds = list(stream.seeds)
    self.sessions = ex['sessions']
    self.extras = ex
    self.shared = {}
    c = self.num_items
    self.shapes = dict(item_accuracy=(c,), p_value=(c,), fake_rate=(c,),
                       p_fake=(c,), alpha_mean=(), frozen_fraction=(),
                       deviation_mean=())

  def per_run(self, layout) -> dict[str, np.ndarray]:
    r = np.asarray([self.seeds.index(s) for s in layout.seeds])
    ex = self.extras
    return dict(test_idx=ex['test_idx'][r], test_y=ex['test_y'][r],
                shuffled=ex['shuffled'][r],
                fake=np.stack([self.sessions[i].fake_class for i in r]))

  def after_task(self, learner, state, seed, t, task, test_images, shared,
                 per_run):
    del shared
    c = self.num_items
    key = keys_lib.stream_key(seed, 'evaluator', t)
    d = test_images.shape[1]
    pred = learner.predict(state, test_images, per_run['test_idx'],
                           jnp.arange(d), jnp.ones((c,), bool), key, -1)
    ident = jnp.arange(c, dtype=jnp.int32)
    acc, p = metrics_lib.shuffle_test(pred, per_run['test_y'],
                                      per_run['shuffled'], ident, c)
    fake, p_fake = metrics_lib.shuffle_test(
        pred, per_run['test_y'], per_run['shuffled'],
        per_run['fake'].astype(jnp.int32), c)
    out = dict(item_accuracy=acc, p_value=p, fake_rate=fake, p_fake=p_fake)
    out.update(self._diagnostics(state))
    return out

  def _diagnostics(self, state):
    rule = _flex_state(getattr(state, 'opt_state', None))
    if rule is None:
      nan = jnp.float32(jnp.nan)
      return dict(alpha_mean=nan, frozen_fraction=nan, deviation_mean=nan)
    is_masked = lambda x: isinstance(x, optax.MaskedNode)
    alpha = [a for a in jax.tree.leaves(rule.alpha, is_leaf=is_masked)
             if not is_masked(a)]
    dev = [jnp.abs(p - w) for p, w in zip(
        jax.tree.leaves(state.params),
        jax.tree.leaves(rule.w_init, is_leaf=is_masked)) if not is_masked(w)]
    n = sum(a.size for a in alpha)
    return dict(alpha_mean=sum(a.sum() for a in alpha) / n,
                frozen_fraction=sum((a < 0.5).sum() for a in alpha) / n,
                deviation_mean=sum(x.sum() for x in dev) / n)

  def summarize(self, values, init, runs, seeds) -> dict[str, Any]:
    """Per-run protocol metrics, then mean and std over ``runs``."""
    done = values['p_value'].shape[1]
    per_run = []
    for k, r in enumerate(runs):
      se = self.sessions[self.seeds.index(seeds[r])]
      if done < se.num_sessions:
        return {'items': {'sessions_completed': done}}
      m = metrics_lib.item_protocol_metrics({key: v[k] for key, v in values.items()},
                       {key: v[k] for key, v in init.items()}, se,
                       self.threshold)
      m['deviation_after_first_session'] = float(
          values['deviation_mean'][k, 0])
      m['frozen_fraction_end'] = float(values['frozen_fraction'][k, -1])
      per_run.append(m)
    return {'items': {key: metrics_lib.mean_std_values([m[key] for m in per_run])
                      for key in per_run[0]}}

  def plot(self, workdir, values, per_group, groups, title) -> None:
    """``items.png``: memorised items per phase and mix, and per session."""
    if 'memorised_sequential' not in next(iter(per_group.values()))['items']:
      return  # the protocol has not finished
    names = list(groups)
    curves = np.stack([(values['p_value'][groups[g]] < self.threshold
                        ).sum(-1) for g in names], 1)
    short = [n.split('=', 1)[-1] for n in names]
    per_mix = {s: per_group[g]['items'] for s, g in zip(short, names)}
    outputs.plot_items(os.path.join(workdir, 'items.png'), per_mix, curves,
          self.sessions[0], short, title)


# ---------------------------------------------------------------------------
# Config checks.


def validate_items_config(config) -> None:
  """Raises :class:`validate.ConfigError` on a bad item-protocol config."""
  err = validate.ConfigError
  req = lambda path: validate.require(config, path)
  integer = lambda path, minimum: validate.positive_int(config, path, minimum)
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
  if req('optimizer.name') != 'flexible_sgd':
    raise err("config.optimizer.name must be 'flexible_sgd' for the item "
              'protocol.')
  s = req('optimizer.strength')
  if isinstance(s, bool) or not isinstance(s, (int, float)) or s < 0:
    raise err(f'config.optimizer.strength must be >= 0, got {s!r}.')
  if req('sweep.name') != 'mix':
    raise err("config.sweep.name must be 'mix' for the item protocol (the "
              'flexibility mixes in config.sweep.values).')
  names = list(req('sweep.values'))
  if not names or len(set(names)) != len(names):
    raise err(f'config.sweep.values must be distinct mix names, got '
              f'{names!r}.')
  for n in names:
    try:
      kw = mix_kwargs(n, config.sessions)
      v = split_mix_name(n)[1]
      if v is not None and not v >= 0:
        raise ValueError(f'strength must be >= 0, got {v}.')
      flex_lib.scale_by_flexibility(0, strength=1.0, **kw)  # validates
    except (ValueError, TypeError) as e:
      raise err(f'config.sweep.values: mix {n!r}: {e}') from None
  integer('sessions.repetitions', 1)
  for f in ('repeated_items', 'poisoned_items'):
    v = integer(f'sessions.{f}', -1)
    if v > c:
      raise err(f'config.sessions.{f} must be <= num_items ({c}) or -1 '
                f'(all), got {v}.')
  integer('sessions.per_item', 0)
  integer('sessions.null_shuffles', 1)
  if 'items' not in config.evals:
    raise err('config.evals.items is missing: the item protocol measures '
              'memorisation with it.')
  t = req('evals.items.p_threshold')
  if not 0 < t < 1:
    raise err(f'config.evals.items.p_threshold must be in (0, 1), got {t!r}.')
  if not isinstance(req('sessions.exclude_session_item'), bool):
    raise err('config.sessions.exclude_session_item must be True or False.')
