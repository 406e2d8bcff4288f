"""Field checks for config validators (no JAX, nothing of the trainer).

The shared ones of :mod:`mpl_jax.config_checks` (one error type,
:class:`ConfigError`) plus numeric fields. Plugins import this module, never
:mod:`mpl_jax.train.validate` (which runs them).
"""

from __future__ import annotations

from mpl_jax import config_checks

ConfigError = config_checks.ConfigError
require = config_checks.require
choice = config_checks.choice


def positive_int(cfg, path, minimum=1):
  """An int field >= ``minimum`` (bools refused)."""
  v = require(cfg, path)
  if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
    raise ConfigError(f'config.{path} must be an integer >= {minimum}, got '
                      f'{v!r}.')
  return v


def positive_number(cfg, path):
  """A number field > 0 (bools refused)."""
  v = require(cfg, path)
  if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
    raise ConfigError(f'config.{path} must be a number > 0, got {v!r}.')
  return v


def boolean(cfg, path):
  """A field that must be True or False."""
  v = require(cfg, path)
  if not isinstance(v, bool):
    raise ConfigError(f'config.{path} must be True or False.')
  return v
