"""The built-in task streams (``config.data.stream``) as plugins.

``'permuted'``, ``'split'`` and ``'sequential'`` build the streams of
:mod:`mpl_jax.data.streams` from ``config.data``; each checks its own fields
before any data is loaded. (The item protocol's stream is
:mod:`mpl_jax.train.items`.)
"""

from __future__ import annotations

from mpl_jax.train import checks
from mpl_jax.data import datasets as datasets_lib
from mpl_jax.data import streams as streams_lib
from mpl_jax.train import interfaces


def check_datasets(names) -> None:
  """Every name a known dataset (ConfigError otherwise)."""
  if not names:
    raise checks.ConfigError('config.data.datasets is empty.')
  for n in names:
    if n not in datasets_lib.DATASETS:
      raise checks.ConfigError(f'unknown dataset {n!r}; known: '
                               f'{sorted(datasets_lib.DATASETS)}.')


def _subsets(config) -> dict[str, int]:
  d = config.data
  return dict(train_subset=d.train_subset, test_subset=d.test_subset)


def _load(config, name):
  return datasets_lib.load_dataset(name, data_dir=config.data.data_dir or None)


def _build_permuted(config, seeds):
  d = config.data
  return streams_lib.permuted_stream(
      _load(config, d.dataset), d.num_tasks, seeds,
      permute_first=d.permute_first, **_subsets(config))


def _validate_permuted(config) -> None:
  check_datasets([checks.require(config, 'data.dataset')])
  checks.positive_int(config, 'data.num_tasks')


def _build_split(config, seeds):
  d = config.data
  return streams_lib.split_stream(
      _load(config, d.dataset), seeds, classes_per_task=d.classes_per_task,
      scenario=d.scenario, class_order=d.class_order,
      num_tasks=d.num_tasks or None, train_outputs=d.train_outputs,
      **_subsets(config))


def _validate_split(config) -> None:
  check_datasets([checks.require(config, 'data.dataset')])
  scenario = checks.choice(config, 'data.scenario', streams_lib.SCENARIOS)
  outputs = checks.choice(config, 'data.train_outputs',
                          streams_lib.TRAIN_OUTPUTS)
  if outputs != 'all' and scenario != 'class':
    raise checks.ConfigError(
        f"config.data.train_outputs={outputs!r} applies to scenario 'class' "
        f'only, got {scenario!r}.')
  checks.choice(config, 'data.class_order', ('fixed', 'random'))
  checks.positive_int(config, 'data.classes_per_task')
  checks.positive_int(config, 'data.num_tasks', minimum=0)


def _build_sequential(config, seeds):
  return streams_lib.sequential_stream(
      [_load(config, n) for n in config.data.datasets], seeds,
      **_subsets(config))


def _validate_sequential(config) -> None:
  check_datasets(list(checks.require(config, 'data.datasets')))


PERMUTED = interfaces.StreamPlugin(_build_permuted, _validate_permuted)
SPLIT = interfaces.StreamPlugin(_build_split, _validate_split)
SEQUENTIAL = interfaces.StreamPlugin(_build_sequential, _validate_sequential)
