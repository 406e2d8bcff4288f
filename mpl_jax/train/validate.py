"""Config checks that run before any data is loaded or anything compiled.

The fields every run has (seeds, data scaling, model, optimizer, protocol,
sweep) are checked here; the stream, the learner and each evaluator named by
the config check their own fields (their plugin's ``validate``, see
:mod:`mpl_jax.train.registry`), and every evaluator must find the learner
methods it needs. This module names no particular protocol.
"""

from __future__ import annotations

from mpl_jax.train import checks
from mpl_jax.train import holdout
from mpl_jax.train import models as models_lib
from mpl_jax.train import optimizers
from mpl_jax.train import registry

RESETS = ('none', 'moments', 'all')
EVAL_EVERY = ('epoch', 'task')
REDUCTIONS = ('mean', 'sum')

# The field checks, re-exported: callers use validate.ConfigError etc.
ConfigError = checks.ConfigError
require = checks.require
choice = checks.choice
positive_int = checks.positive_int
positive_number = checks.positive_number


def validate_config(config) -> None:
  """Raises :class:`ConfigError` with a precise message on a bad config."""
  positive_int(config, 'num_seeds')
  seed = require(config, 'seed')
  if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
    raise ConfigError(f'config.seed must be an integer >= 0, got {seed!r}.')
  choice(config, 'program', ('continual',))

  stream = registry.STREAMS.get(require(config, 'data.stream'))
  for f in ('train_subset', 'test_subset'):
    if f in config.data:
      positive_int(config, f'data.{f}', minimum=0)
  holdout.check_config(config)
  scale, std = require(config, 'data.scale'), require(config, 'data.std')
  require(config, 'data.mean')
  if not scale > 0 or not std > 0:
    raise ConfigError(f'config.data.scale and .std must be > 0, got '
                      f'{scale!r}, {std!r}.')
  stream.validate(config)
  name, kwargs = _check_model_and_optimizer(config)
  _check_protocol(config)

  learner_name = require(config, 'learner')
  learner = registry.LEARNERS.get(learner_name)
  learner.validate(config)
  for ev_name in require(config, 'evals'):
    ev = registry.EVALUATORS.get(ev_name)
    ev.validate(config)
    missing = [m for m in ev.needs if m not in learner.provides]
    if missing:
      raise ConfigError(
          f'evaluator config.evals.{ev_name} needs {missing} of the learner, '
          f'which learner config.learner={learner_name!r} does not provide '
          f'(it provides {list(learner.provides)}).')

  sweep = require(config, 'sweep')
  if sweep.name and stream.optimizer_variants is None:
    if sweep.name not in kwargs:
      raise ConfigError(
          f'config.sweep.name={sweep.name!r} is not an argument of '
          f'optimizer {name!r} set in config.optimizer ({sorted(kwargs)}).')
    values = list(sweep.get('values', ()))
    if not values or not all(isinstance(v, (int, float)) and
                             not isinstance(v, bool) for v in values):
      raise ConfigError(f'config.sweep.values must be a non-empty list of '
                        f'numbers, got {values!r}.')


def _check_model_and_optimizer(config):
  try:
    models_lib.model_kwargs(require(config, 'model'))
    name, kwargs = optimizers.optimizer_kwargs(require(config, 'optimizer'))
  except ValueError as e:
    raise ConfigError(str(e)) from None
  hidden = require(config, 'model.hidden')
  if any(isinstance(h, bool) or not isinstance(h, int) or h <= 0
         for h in hidden):
    raise ConfigError(f'config.model.hidden must list positive integers, got '
                      f'{hidden!r}.')
  lr = kwargs.get('learning_rate', 1.0)
  if isinstance(lr, (int, float)) and not lr > 0:
    raise ConfigError(f'config.optimizer.learning_rate must be > 0, got {lr}.')
  try:  # rule-specific checks live in each rule's factory
    optimizers.build_optimizer(config.optimizer)
  except (ValueError, TypeError) as e:
    raise ConfigError(f'config.optimizer ({name}): {e}') from None
  return name, kwargs


def _check_protocol(config) -> None:
  positive_int(config, 'protocol.epochs_per_task')
  positive_int(config, 'protocol.batch_size')
  positive_int(config, 'protocol.eval_batch_size')
  choice(config, 'protocol.reset_optimizer', RESETS)
  checks.boolean(config, 'protocol.per_task_bn')
  choice(config, 'protocol.eval_every', EVAL_EVERY)
  choice(config, 'protocol.vectorize', ('auto', 'vmap', 'map'))
  choice(config, 'protocol.eval_tasks', ('all', 'seen'))
  choice(config, 'protocol.progress', ('auto', 'epoch', 'task'))
  choice(config, 'protocol.save_mode', ('auto', 'background', 'blocking'))
  for f in ('task_boundaries', 'tensorboard', 'expect_divergence'):
    checks.boolean(config, f'protocol.{f}')
  choice(config, 'protocol.loss_reduction', REDUCTIONS)
  positive_int(config, 'protocol.steps_per_task', minimum=0)
  positive_int(config, 'protocol.devices', minimum=0)
  positive_number(config, 'protocol.divergence_factor')
