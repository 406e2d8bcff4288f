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

from typing import Optional

import numpy as np


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
