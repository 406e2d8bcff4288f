"""The memorisation evaluator of the item protocol (``config.evals.items``)."""

from __future__ import annotations

import os
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mpl_jax.rules import flexibility as flex_lib
from mpl_jax.train import keys as keys_lib
from mpl_jax.train.items import metrics as item_metrics
from mpl_jax.train.items import plot as plot_lib


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
    acc, p = item_metrics.shuffle_test(pred, per_run['test_y'],
                                      per_run['shuffled'], ident, c)
    fake, p_fake = item_metrics.shuffle_test(
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
      m = item_metrics.item_protocol_metrics({key: v[k] for key, v in values.items()},
                       {key: v[k] for key, v in init.items()}, se,
                       self.threshold)
      m['deviation_after_first_session'] = float(
          values['deviation_mean'][k, 0])
      m['frozen_fraction_end'] = float(values['frozen_fraction'][k, -1])
      per_run.append(m)
    return {'items': {key: item_metrics.mean_std_values([m[key] for m in per_run])
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
    plot_lib.plot_items(os.path.join(workdir, 'items.png'), per_mix, curves,
          self.sessions[0], short, title)
