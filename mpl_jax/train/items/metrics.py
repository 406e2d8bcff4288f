"""The item protocol's measurements: the label-shuffle test and the counts
of items per phase (see :mod:`mpl_jax.train.items`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mpl_jax.data.items import POISONING


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


def item_protocol_metrics(out: dict[str, np.ndarray],
                          init: dict[str, np.ndarray], sessions: Any,
                          threshold: float) -> dict[str, Any]:
  """Metrics of one run (see :mod:`mpl_jax.train.items`)."""
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
