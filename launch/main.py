r"""Runs one mpl_jax experiment from a config file.

  python -m launch.main --config=configs/quickstart.py --workdir=runs/quick

Any config field can be overridden, e.g. ``--config.num_seeds=8`` or
``--config.sweep.name=meta --config.sweep.values="(0.0,1.35)"``; configs that
take an argument get it after a colon:
``--config=configs/split_fmnist_engram.py:engram,domain``. Running again with
the same workdir resumes after the last completed task; Ctrl-C stops it.

Runs (seeds x swept values) are laid over every local device. Over several
hosts, start the same command on each with
``--coordinator_address=HOST0:PORT --num_processes=N --process_id=I``
(process 0 writes the outputs and checkpoints; the workdir must be on a
shared filesystem for a resume), e.g. two hosts::

  host0$ python -m launch.main --config=configs/pfmnist_meta.py \
      --workdir=/shared/runs/pfm --coordinator_address=host0:12345 \
      --num_processes=2 --process_id=0
  host1$ (the same command with --process_id=1)

Configs (each docstring gives its command and expected result): quickstart,
pmnist_meta, pmnist_fp, pfmnist_meta, mnist_fmnist, split_fmnist_engram,
pmnist_mesu, pfmnist_mesu, fmnist_ood_mesu, mesu_width_study,
items_flexibility. Outputs in the workdir: config.json, metrics.jsonl,
accuracy.npy, summary.json, accuracy.png, stream.npz, checkpoints/.
Simulations (config.program 'calcium' / 'assoc'; outputs config.json,
results.npz, summary.json, one PNG per protocol): calcium_protocols,
calcium_neuron, assoc_recall.
"""

import importlib
import logging as std_logging
import sys

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
flags.DEFINE_string('coordinator_address', None, 'HOST:PORT of process 0, '
                    'for a run over several processes (hosts).')
flags.DEFINE_integer('num_processes', 1, 'Number of processes of the run.')
flags.DEFINE_integer('process_id', 0, 'This process (0 .. num_processes-1).')
flags.mark_flags_as_required(['config', 'workdir'])


# `config.program` -> 'module:function' taking (config, workdir). The
# continual-learning trainer is the default; simulations (calcium model,
# associative recall) have their own programs.
PROGRAMS = {
    'continual': 'mpl_jax.train.train:train_and_evaluate',
    'calcium': 'mpl_jax.neuro.experiments:run_calcium',
    'assoc': 'mpl_jax.neuro.experiments:run_assoc',
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
  if FLAGS.num_processes > 1:
    if not FLAGS.coordinator_address:
      raise app.UsageError('--num_processes > 1 needs --coordinator_address.')
    jax.distributed.initialize(FLAGS.coordinator_address,
                               FLAGS.num_processes, FLAGS.process_id)
  # The backend probe's "unable to initialize backend 'tpu'" is noise here.
  std_logging.getLogger('jax._src.xla_bridge').setLevel(std_logging.ERROR)
  logging.info('JAX %s, backend %s: %d devices (%d local), process %d of %d.',
               jax.__version__, jax.default_backend(), jax.device_count(),
               jax.local_device_count(), jax.process_index(),
               jax.process_count())
  fn = program(FLAGS.config)
  try:
    fn(FLAGS.config, FLAGS.workdir)
  except KeyboardInterrupt:
    sys.exit(130)  # the trainer logged how to resume


if __name__ == '__main__':
  app.run(main)
