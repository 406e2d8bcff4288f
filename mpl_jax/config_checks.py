"""Field checks shared by every config validator (trainer and simulations).

One error type, :class:`ConfigError`, so that a bad config is reported and
caught the same way whatever program it is for. No JAX or Flax import: the
checks run before anything is built.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
  """A config value is missing, of the wrong kind, or out of range."""


def require(cfg, path: str) -> Any:
  """``config.<path>``, or a ConfigError naming the missing field."""
  node = cfg
  for part in path.split('.'):
    if part not in node:
      raise ConfigError(f'config.{path} is missing.')
    node = node[part]
  return node


def choice(cfg, path, choices):
  """A field whose value must be one of ``choices``."""
  v = require(cfg, path)
  if v not in choices:
    raise ConfigError(f'config.{path} must be one of {choices}, got {v!r}.')
  return v


def _short(value: Any, width: int = 40) -> str:
  text = repr(value)
  return text if len(text) <= width else text[:width - 3] + '...'


def config_diff(old: Any, new: Any, prefix: str = '') -> list[str]:
  """``'a.b: old -> new'`` for each leaf field that differs (long values
  shortened to 40 characters)."""
  if isinstance(old, dict) and isinstance(new, dict):
    out = []
    for k in sorted(set(old) | set(new), key=str):
      name = f'{prefix}.{k}' if prefix else str(k)
      if k not in old:
        out.append(f'{name}: (absent) -> {_short(new[k])}')
      elif k not in new:
        out.append(f'{name}: {_short(old[k])} -> (absent)')
      else:
        out += config_diff(old[k], new[k], name)
    return out
  return [] if old == new else [
      f'{prefix or "config"}: {_short(old)} -> {_short(new)}']


def describe_diff(diff: list[str], limit: int = 6) -> str:
  """The first ``limit`` entries of :func:`config_diff`, then a count."""
  more = len(diff) - limit
  return '; '.join(diff[:limit]) + (f'; and {more} more' if more > 0 else '')
