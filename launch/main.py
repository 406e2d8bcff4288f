r"""Runs one mpl_jax experiment from a config file.

  python -m launch.main --config=configs/quickstart.py --workdir=runs/quick

Any config field can be overridden, e.g. ``--config.num_seeds=8`` or
``--config.sweep.name=meta --config.sweep.values="(0.0,1.35)"``; configs that
take an argument get it after a colon:
``--config=configs/split_fmnist_engram.py:engram,domain``. Running again with
the same workdir resumes after the last completed task.

Configs (each docstring gives its command and expected result): quickstart,
pmnist_meta, pmnist_fp, pfmnist_meta, mnist_fmnist, split_fmnist_engram,
pmnist_mesu, pfmnist_mesu, fmnist_ood_mesu, mesu_width_study,
items_flexibility. Outputs in the workdir: config.json, metrics.jsonl,
accuracy.npy, summary.json, accuracy.png, stream.npz, checkpoints/.
"""

import importlib

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

FLAGS = flags.FLAGS

flags.DEFINE_string('workdir', None, 'Directory for outputs and checkpoints '
                    '(an existing one with the same config is resumed).')
config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py).',
    lock_config=True)
flags.mark_flags_as_required(['config', 'workdir'])


# `config.program` -> 'module:function' taking (config, workdir). The
# continual-learning trainer is the default; simulations (calcium model,
# associative recall) have their own programs.
PROGRAMS = {
    'continual': 'mpl_jax.train.train:train_and_evaluate',
}


def program(config):
  """The entry function named by ``config.program`` (default 'continual')."""
  name = config.get('program', 'continual')
  if name not in PROGRAMS:
    raise app.UsageError(f'unknown config.program {name!r}; known: '
                         f'{sorted(PROGRAMS)}.')
  module, fn = PROGRAMS[name].split(':')
  return getattr(importlib.import_module(module), fn)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  logging.info('JAX backend: %s, devices: %s', jax.default_backend(),
               jax.devices())
  program(FLAGS.config)(FLAGS.config, FLAGS.workdir)


if __name__ == '__main__':
  app.run(main)
