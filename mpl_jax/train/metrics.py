"""Continual-learning metrics from accuracy matrices.

``R[i, j]`` is the accuracy on task ``j`` after training task ``i`` (one matrix
per run; stacks ``[runs, T, T]`` are accepted everywhere). ``b[j]`` is the
accuracy of the untrained network on task ``j`` (for forward transfer).

* average accuracy: ``mean_j R[T-1, j]``;
* backward transfer: ``mean_{j<T-1} R[T-1, j] - R[j, j]`` (Lopez-Paz & Ranzato,
  2017); negative means forgetting;
* forgetting: ``mean_{j<T-1} max_{j<=i<T-1} R[i, j] - R[T-1, j]`` (Chaudhry et
  al., 2018);
* forward transfer: ``mean_{j>0} R[j-1, j] - b[j]`` (Lopez-Paz & Ranzato);
  undefined (None) when tasks were not evaluated before being trained;
* accuracy over the last 5 tasks: ``mean_{j>=T-5} R[T-1, j]`` (plasticity,
  as in the MESU papers);
* average accuracy after each task ``i``: ``mean_{j<=i} R[i, j]`` (the
  learning curve of a long stream).

Metrics of a stream with one task are NaN where undefined.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from mpl_jax.data.items import POISONING


def average_accuracy(r: np.ndarray) -> np.ndarray:
  return np.asarray(r)[..., -1, :].mean(-1)


def backward_transfer(r: np.ndarray) -> np.ndarray:
  r = np.asarray(r)
  t = r.shape[-1]
  if t < 2:
    return np.full(r.shape[:-2], np.nan)
  diag = np.diagonal(r, axis1=-2, axis2=-1)[..., :-1]
  return (r[..., -1, :-1] - diag).mean(-1)


def forgetting(r: np.ndarray) -> np.ndarray:
  r = np.asarray(r)
  t = r.shape[-1]
  if t < 2:
    return np.full(r.shape[:-2], np.nan)
  out = []
  for j in range(t - 1):
    best = r[..., j:t - 1, j].max(-1)
    out.append(best - r[..., -1, j])
  return np.stack(out, -1).mean(-1)


def forward_transfer(r: np.ndarray, b: np.ndarray) -> np.ndarray:
  r, b = np.asarray(r), np.asarray(b)
  t = r.shape[-1]
  if t < 2:
    return np.full(r.shape[:-2], np.nan)
  prev = np.stack([r[..., j - 1, j] for j in range(1, t)], -1)
  return (prev - b[..., 1:]).mean(-1)


def last_tasks_accuracy(r: np.ndarray, k: int = 5) -> np.ndarray:
  return np.asarray(r)[..., -1, -k:].mean(-1)


def average_accuracy_after_each_task(r: np.ndarray) -> np.ndarray:
  r = np.asarray(r)
  t = r.shape[-1]
  return np.stack([r[..., i, :i + 1].mean(-1) for i in range(t)], -1)


def mean_std(x: np.ndarray) -> dict[str, float]:
  """Mean and (population) standard deviation over runs (None if undefined)."""
  x = np.asarray(x, np.float64)
  if np.isnan(x).any():
    return {'mean': None, 'std': None}
  return {'mean': float(np.mean(x)), 'std': float(np.std(x))}


def summarize(r: np.ndarray, b: Optional[np.ndarray] = None) -> dict:
  """All metrics of a stack ``[runs, T, T]``, each as mean and std."""
  out = {
      'average_accuracy': mean_std(average_accuracy(r)),
      'backward_transfer': mean_std(backward_transfer(r)),
      'forgetting': mean_std(forgetting(r)),
      'last5_accuracy': mean_std(last_tasks_accuracy(r)),
      'average_accuracy_after_task': {
          'mean': average_accuracy_after_each_task(r).mean(0).tolist(),
          'std': average_accuracy_after_each_task(r).std(0).tolist()},
      'final_accuracy_per_task': {
          'mean': np.asarray(r)[:, -1].mean(0).tolist(),
          'std': np.asarray(r)[:, -1].std(0).tolist()},
  }
  if b is not None:
    out['forward_transfer'] = mean_std(forward_transfer(r, b))
  return out


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
  """Area under the ROC curve of scores: ``P(pos > neg) + P(pos = neg)/2``.

  Used for OOD detection with ``positive`` the OOD examples' uncertainty and
  ``negative`` the in-distribution examples' (Mann-Whitney U statistic, ties
  counted half).
  """
  pos = np.asarray(positive, np.float64).ravel()
  neg = np.asarray(negative, np.float64).ravel()
  allv = np.concatenate([pos, neg])
  order = np.argsort(allv, kind='mergesort')
  ranks = np.empty(len(allv))
  sorted_v = allv[order]
  # average ranks over ties
  _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
  avg = first + (counts - 1) / 2.0 + 1.0
  ranks[order] = np.repeat(avg, counts)
  u = ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
  return float(u / (len(pos) * len(neg)))


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


# The item protocol (Lee et al.): counts of items per phase, see
# mpl_jax.train.items.


def item_protocol_metrics(out: dict[str, np.ndarray],
                          init: dict[str, np.ndarray], sessions: Any,
                          threshold: float) -> dict[str, Any]:
  """Metrics of one run (see the module docstring)."""
  mem = out['p_value'] < threshold  # [S, C]
  adopted = out['p_fake'] < threshold
  passes = sessions.pass_index
  reps = int(passes[sessions.phase != POISONING].max()) + 1
  end = [int(np.flatnonzero(passes == p)[-1]) for p in range(reps)]
  rep, poi = sessions.repeated, sessions.poisoned
  m = {'memorised_init': int((init['p_value'] < threshold).sum()),
       'memorised_after_pass': [int(mem[e].sum()) for e in end],
       'memorised_sequential': int(mem[end[0]].sum()),
       'memorised_repetition': int(mem[end[-1]].sum()),
       'repeated_memorised_repetition': int(mem[end[-1]][rep].sum()),
       'num_repeated': int(rep.sum()), 'num_poisoned': int(poi.sum())}
  poison = np.flatnonzero(sessions.phase == POISONING)
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


def mean_std_values(values: list[Any]) -> dict[str, Any]:
  """Mean, std and the values themselves (lists allowed: per pass)."""
  a = np.asarray(values, np.float64)
  return {'mean': a.mean(0).tolist(), 'std': a.std(0).tolist(),
          'values': a.tolist()}
