"""Evaluators listed in ``config.evals``, run inside each task's program.

The training loop knows no particular evaluator (big_vision's habit): the
accuracy matrix is the loop's own output, and every other measurement after a
task is an evaluator named in ``config.evals``, built by name from
:data:`mpl_jax.train.registry.EVALUATORS` (typed contract:
:class:`mpl_jax.train.interfaces.Evaluator`). An evaluator provides

* ``name``; ``shared`` (device arrays every run reads) and
  ``per_run(layout)`` (host arrays with a leading runs axis, or ``{}``);
* ``after_task(learner, state, seed, t, task, test_images, shared,
  per_run) -> arrays``, pure and for one run, compiled into the task
  program (keys from the ``'evaluator'`` stream);
* ``summarize(values, init, runs, seeds) -> dict``: values ``[runs,
  tasks_done, ...]`` of one group of runs (``init``: before training, for
  evaluators with ``at_init``), for ``summary.json``;
* optionally ``shapes`` (a dict name -> per-task shape, when the output is a
  dict of arrays), ``at_init`` (also evaluated before training, with
  ``t = -1``) and ``plot(workdir, values, per_group_summary, groups,
  title)``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mpl_jax.data import datasets as datasets_lib
from mpl_jax.data import streams as streams_lib
from mpl_jax.train import checks
from mpl_jax.train import interfaces
from mpl_jax.train import keys as keys_lib
from mpl_jax.train import metrics as metrics_lib
from mpl_jax.train import registry


def roc_auc(positive: jax.Array, negative: jax.Array) -> jax.Array:
  """``P(pos > neg) + P(pos = neg) / 2`` on the device (sort-based, O(n log
  n)); equals :func:`metrics.roc_auc` (the Mann-Whitney U statistic)."""
  neg = jnp.sort(negative.astype(jnp.float32).ravel())
  pos = positive.astype(jnp.float32).ravel()
  below = jnp.searchsorted(neg, pos, side='left').astype(jnp.float32)
  upto = jnp.searchsorted(neg, pos, side='right').astype(jnp.float32)
  return (below.sum() + 0.5 * (upto - below).sum()) / (pos.size * neg.size)


class OodAuc:
  """OOD detection after every task: ROC-AUC of the model's uncertainty
  (mutual information over MC samples, or predictive entropy for a
  deterministic model) on task ``t``'s test set (in-distribution) vs the
  test set of ``dataset`` (out-of-distribution), under task ``t``'s pixel
  permutation.

  Settings (``config.evals.ood_auc``): ``dataset`` (a dataset name),
  ``test_subset`` (that many OOD test images, drawn once; 0: all).
  """

  name = 'ood_auc'

  def __init__(self, settings, stream: streams_lib.TaskStream,
               data_dir=None):
    ds = datasets_lib.load_dataset(settings.dataset, data_dir=data_dir)
    if ds.train_x.shape[1] != stream.input_dim:
      raise ValueError(
          f'config.evals.ood_auc.dataset={settings.dataset!r} has input size '
          f'{ds.train_x.shape[1]}, the stream {stream.input_dim}.')
    idx = streams_lib.subset_indices(len(ds.test_y),
                                     settings.test_subset,
                                     np.random.default_rng(0))
    self.dataset = settings.dataset
    self.shared = dict(images=jnp.asarray(ds.test_x), idx=jnp.asarray(idx))

  def per_run(self, layout) -> dict[str, Any]:
    del layout
    return {}

  def after_task(self, learner, state, seed, t, task, test_images, shared,
                 per_run):
    del per_run
    key = keys_lib.stream_key(seed, 'evaluator', t)
    s_in = learner.uncertainty_scores(state, test_images, task['test_idx'],
                                      task['perm'], jax.random.fold_in(key, 0),
                                      -1)
    s_out = learner.uncertainty_scores(state, shared['images'], shared['idx'],
                                       task['perm'],
                                       jax.random.fold_in(key, 1), -1)
    return roc_auc(s_out, s_in)

  def summarize(self, values: np.ndarray, init, runs, seeds
                ) -> dict[str, Any]:
    del init, runs, seeds
    return {'ood_auc': metrics_lib.mean_std(values[:, -1]),
            'ood_auc_after_task': {'mean': values.mean(0).tolist(),
                                   'std': values.std(0).tolist()}}


def _validate_ood_auc(config) -> None:
  ds = checks.require(config, 'evals.ood_auc.dataset')
  if ds not in datasets_lib.DATASETS:
    raise checks.ConfigError(f'unknown config.evals.ood_auc.dataset {ds!r}; '
                             f'known: {sorted(datasets_lib.DATASETS)}.')
  checks.positive_int(config, 'evals.ood_auc.test_subset', minimum=0)


OOD_AUC = interfaces.EvaluatorPlugin(
    build=OodAuc, validate=_validate_ood_auc, needs=('uncertainty_scores',))


def build_evaluators(config, stream) -> list[Any]:
  """The evaluators named in ``config.evals`` (:data:`registry.EVALUATORS`)."""
  data_dir = config.data.data_dir or None
  return [registry.EVALUATORS.get(name).build(settings, stream, data_dir)
          for name, settings in config.evals.items()]
