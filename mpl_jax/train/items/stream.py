"""The item stream and the flexibility mixes of the item protocol."""

from __future__ import annotations

from typing import Any, Optional

from mpl_jax.data import datasets as datasets_lib
from mpl_jax.data import items as items_lib

NAMED_MIXES = ('hybrid', 'conventional', 'stable', 'increasing', 'decreasing',
               'tiers')


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
