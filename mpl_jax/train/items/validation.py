"""The item protocol's config checks (run before any data is loaded)."""

from __future__ import annotations

from mpl_jax.data import items as items_lib
from mpl_jax.rules import flexibility as flex_lib
from mpl_jax.train import checks
from mpl_jax.train.items.stream import mix_kwargs
from mpl_jax.train.items.stream import split_mix_name

ITEM_SOURCES = ('two_digit', 'classes')


def validate_items_config(config) -> None:
  """Raises :class:`checks.ConfigError` on a bad item-protocol config."""
  err = checks.ConfigError
  req = lambda path: checks.require(config, path)
  integer = lambda path, minimum: checks.positive_int(config, path, minimum)
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


def validate_evaluator(config) -> None:
  """``config.evals.items``: the item stream and a p-value threshold."""
  if checks.require(config, 'data.stream') != 'items':
    raise checks.ConfigError("config.evals.items needs config.data.stream = "
                             "'items'.")
  t = checks.require(config, 'evals.items.p_threshold')
  if not 0 < t < 1:
    raise checks.ConfigError(
        f'config.evals.items.p_threshold must be in (0, 1), got {t!r}.')
