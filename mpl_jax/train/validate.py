"""Config checks that run before any data is loaded or anything compiled."""

from __future__ import annotations

from mpl_jax import config_checks
from mpl_jax.data import datasets as datasets_lib
from mpl_jax.data import streams as streams_lib
from mpl_jax.train import models as models_lib
from mpl_jax.train import optimizers

RESETS = ('none', 'moments', 'all')
EVAL_EVERY = ('epoch', 'task')
REDUCTIONS = ('mean', 'sum')
LEARNERS = ('gradient', 'erbp')


# The shared checks, re-exported: callers use validate.ConfigError etc.
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


def validate_config(config) -> None:
  """Raises :class:`ConfigError` with a precise message on a bad config."""
  positive_int(config, 'num_seeds')
  seed = require(config, 'seed')
  if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
    raise ConfigError(f'config.seed must be an integer >= 0, got {seed!r}.')

  stream = choice(config, 'data.stream', streams_lib.STREAMS + ('items',))
  names = (list(require(config, 'data.datasets')) if stream == 'sequential'
           else [require(config, 'data.dataset')])
  if not names:
    raise ConfigError('config.data.datasets is empty.')
  for n in names:
    if n not in datasets_lib.DATASETS:
      raise ConfigError(f'unknown dataset {n!r}; known: '
                        f'{sorted(datasets_lib.DATASETS)}.')
  if stream == 'permuted':
    positive_int(config, 'data.num_tasks')
  if stream == 'split':
    scenario = choice(config, 'data.scenario', streams_lib.SCENARIOS)
    outputs = choice(config, 'data.train_outputs', streams_lib.TRAIN_OUTPUTS)
    if outputs != 'all' and scenario != 'class':
      raise ConfigError(f"config.data.train_outputs={outputs!r} applies to "
                        f"scenario 'class' only, got {scenario!r}.")
    choice(config, 'data.class_order', ('fixed', 'random'))
    positive_int(config, 'data.classes_per_task')
    positive_int(config, 'data.num_tasks', minimum=0)
  for f in ('train_subset', 'test_subset'):
    if f in config.data:
      positive_int(config, f'data.{f}', minimum=0)
  scale, std = require(config, 'data.scale'), require(config, 'data.std')
  require(config, 'data.mean')
  if not scale > 0 or not std > 0:
    raise ConfigError(f'config.data.scale and .std must be > 0, got '
                      f'{scale!r}, {std!r}.')

  if stream == 'items':
    from mpl_jax.train import items  # pylint: disable=g-import-not-at-top
    items.validate_items_config(config)
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
  choice(config, 'learner', LEARNERS)
  choice(config, 'program', ('continual',))

  positive_int(config, 'protocol.epochs_per_task')
  positive_int(config, 'protocol.batch_size')
  positive_int(config, 'protocol.eval_batch_size')
  choice(config, 'protocol.reset_optimizer', RESETS)
  if not isinstance(require(config, 'protocol.per_task_bn'), bool):
    raise ConfigError('config.protocol.per_task_bn must be True or False.')
  choice(config, 'protocol.eval_every', EVAL_EVERY)
  choice(config, 'protocol.vectorize', ('auto', 'vmap', 'map'))
  choice(config, 'protocol.eval_tasks', ('all', 'seen'))
  choice(config, 'protocol.progress', ('auto', 'epoch', 'task'))
  choice(config, 'protocol.save_mode', ('auto', 'background',
                                        'blocking'))
  for f in ('task_boundaries', 'tensorboard'):
    if not isinstance(require(config, f'protocol.{f}'), bool):
      raise ConfigError(f'config.protocol.{f} must be True or False.')
  choice(config, 'protocol.loss_reduction', REDUCTIONS)
  positive_int(config, 'protocol.steps_per_task', minimum=0)
  positive_int(config, 'protocol.devices', minimum=0)
  positive_number(config, 'protocol.divergence_factor')

  for ev, settings in require(config, 'evals').items():
    if ev == 'items':
      continue  # checked with the item protocol
    if ev == 'ood_auc':
      ds = require(config, 'evals.ood_auc.dataset')
      if ds not in datasets_lib.DATASETS:
        raise ConfigError(f'unknown config.evals.ood_auc.dataset {ds!r}; '
                          f'known: {sorted(datasets_lib.DATASETS)}.')
      positive_int(config, 'evals.ood_auc.test_subset', minimum=0)
    else:
      raise ConfigError(f'unknown evaluator config.evals.{ev}; known: '
                        "['items', 'ood_auc'].")
  sweep = require(config, 'sweep')
  if sweep.name and stream != 'items':
    if sweep.name not in kwargs:
      raise ConfigError(
          f'config.sweep.name={sweep.name!r} is not an argument of '
          f'optimizer {name!r} set in config.optimizer ({sorted(kwargs)}).')
    values = list(sweep.get('values', ()))
    if not values or not all(isinstance(v, (int, float)) and
                             not isinstance(v, bool) for v in values):
      raise ConfigError(f'config.sweep.values must be a non-empty list of '
                        f'numbers, got {values!r}.')
