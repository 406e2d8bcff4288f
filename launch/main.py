r"""Runs one mpl_jax experiment from a config file.

  python -m launch.main --config=configs/quickstart.py --workdir=runs/quick

Any config field can be overridden, e.g. ``--config.num_seeds=8`` or
``--config.sweep.name=meta --config.sweep.values="(0.0,1.35)"``; configs that
take an argument get it after a colon:
``--config=configs/split_fmnist_engram.py:engram,domain``. Running again with
the same workdir resumes after the last completed task; Ctrl-C stops it.
``--dry_run`` validates the config and prints it with the run layout (runs,
devices, the files the workdir will hold) without training;
``--only_check_args`` validates it and exits (status 0 only if it is valid).

A refused input (a field that does not exist, a value of the wrong type or
out of range, a missing config file) is one line on stderr naming the field,
the value and what is allowed, with exit status 2; ``--verbose_errors`` adds
the traceback (``launch/_cli.py``; BUILD.md lists the lines).

Runs (seeds x swept values) are laid over every local device. Over several
hosts, start the same command on each with
``--coordinator_address=HOST0:PORT --num_processes=N --process_id=I``
(process 0 writes the outputs, each process its own checkpoint shards; the
workdir must be on a shared filesystem for a resume), e.g. two hosts::

  host0$ python -m launch.main --config=configs/pfmnist_meta.py \
      --workdir=/shared/runs/pfm --coordinator_address=host0:12345 \
      --num_processes=2 --process_id=0
  host1$ (the same command with --process_id=1)

Configs (configs/*.py; each docstring gives its command and expected
result), ``config.program = 'continual'`` (the continual-learning trainer):

  default (the base the others override), quickstart, pmnist_meta,
  pmnist_fp, pfmnist_meta, mnist_fmnist, mnist_fmnist_beakers,
  mnist_fmnist_multilevel, mnist_fmnist_multilevel_span,
  split_fmnist_engram, split_fmnist_complex_synapses,
  pfmnist_complex_synapses_retention, split_fmnist_tacos, pmnist_mesu,
  pfmnist_mesu, fmnist_ood_mesu, mesu_width_study, reference_laborieux,
  reference_mesu, items_flexibility.

Outputs of a continual run, in the workdir (rewritten after every task):
config.json (the config; a resume must match it), stream.npz (the tasks
drawn from the seeds), metrics.jsonl (one line per task and run),
accuracy.npy (``[runs, T, T]``), accuracy_init.npy (``[runs, T]``, before
training), curves.npy (accuracy at every evaluation point), losses.npy,
summary.json (the metrics, mean ± std over seeds per swept value),
timing.json, accuracy.png (``config.plot``), tensorboard/
(``protocol.tensorboard``), checkpoints/, run.lock (while running); per
evaluator of ``config.evals``: ood_auc.npy, or items.npz and items.png (the
item protocol). ``python -m launch.report WORKDIR...`` tabulates
summary.json files.

Simulations, ``config.program = 'calcium'`` / ``'assoc'``:
calcium_protocols, calcium_neuron, assoc_recall; outputs config.json,
results.npz, summary.json and one PNG per protocol (or storage rule).
"""

import json
import logging as std_logging
import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from launch import _cli

# JAX and mpl_jax are imported when the config is used, not here: a refused
# command line is answered in a fraction of a second.

FLAGS = flags.FLAGS

flags.DEFINE_string('workdir', None, 'Directory for outputs and checkpoints '
                    '(an existing one with the same config is resumed).')
config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py).',
    lock_config=True)
flags.DEFINE_bool('dry_run', False, 'Validate the config, print it and the '
                  'run layout (runs, devices, outputs), and exit without '
                  'training.')
flags.DEFINE_string('coordinator_address', None, 'HOST:PORT of process 0, '
                    'for a run over several processes (hosts).')
flags.DEFINE_integer('num_processes', 1, 'Number of processes of the run.')
flags.DEFINE_integer('process_id', 0, 'This process (0 .. num_processes-1).')
flags.mark_flags_as_required(['config', 'workdir'])


# `config.program` names a plugin of mpl_jax.train.registry.PROGRAMS (its
# run(config, workdir) and validate(config)): the continual-learning trainer
# is configs/default.py's program; simulations (calcium model, associative
# recall) have their own. Imported when first needed: a bad flag is refused
# before JAX is imported.


def _programs():
  from mpl_jax.train import registry  # pylint: disable=g-import-not-at-top
  return registry.PROGRAMS


def _program_name(config) -> str:
  from mpl_jax import config_checks  # pylint: disable=g-import-not-at-top
  return config_checks.choice(config, 'program', tuple(_programs().names()))


def program(config):
  """The entry function named by ``config.program``."""
  return _programs().get(_program_name(config)).run


def validate(config) -> None:
  """Raises ConfigError naming the first bad field of ``config``."""
  _programs().get(_program_name(config)).validate(config)


def check_workdir(config, workdir) -> None:
  """Refuses a workdir that holds a run of another config (before any
  data is loaded; the trainer checks it again)."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = json.load(f)
  from mpl_jax import config_checks  # pylint: disable=g-import-not-at-top
  new = json.loads(config.to_json_best_effort())
  diff = config_checks.config_diff(old, new)
  if diff:
    raise _cli.Refusal(
        f'--workdir={workdir} holds a run with another config ('
        f'{config_checks.describe_diff(diff)}); use a new --workdir or restore '
        'the config to '
        'resume.')


def notes(config) -> list[str]:
  """What the log should say about legal but unusual settings."""
  out = []
  if _program_name(config) == 'continual' and 'model' in config and \
      not tuple(config.model.get('hidden', (1,))):
    out.append('config.model.hidden=(): no hidden layer, the model is a '
               'single layer from the inputs to the outputs.')
  return out


def layout_lines(config, workdir) -> list[str]:
  """The run layout of ``--dry_run``: runs, devices, outputs."""
  name = _program_name(config)
  lines = [f'program: {name}']
  if name != 'continual':
    return lines + [f'workdir: {workdir}: config.json, results.npz, '
                    'summary.json, one PNG per protocol']
  # pylint: disable-next=g-import-not-at-top
  from mpl_jax.train import program as program_lib
  import jax  # pylint: disable=g-import-not-at-top
  layout = program_lib.make_layout(config)
  seeds = sorted(set(layout.seeds))
  sweep = (f' x {config.sweep.name} in {tuple(config.sweep["values"])}'
           if layout.sweep_name else '')
  lines.append(f'runs: {layout.num_runs} = {len(seeds)} seeds {seeds}'
               f'{sweep}, {config.protocol.vectorize} in one program')
  lines.append(f'devices: {layout.describe()} ({jax.default_backend()}, '
               f'{jax.local_device_count()} local devices)')
  outs = ['config.json', 'stream.npz', 'metrics.jsonl', 'accuracy.npy',
          'accuracy_init.npy', 'curves.npy', 'losses.npy', 'summary.json',
          'timing.json']
  if config.get('plot', True):
    outs.append('accuracy.png')
  for ev in config.evals.keys():
    outs += ['items.npz', 'items.png'] if ev == 'items' else [f'{ev}.npy']
  if config.protocol.tensorboard:
    outs.append('tensorboard/')
  outs.append('checkpoints/')
  state = ('a run with this config: it would resume' if os.path.exists(
      os.path.join(workdir, 'config.json')) else 'new')
  lines.append(f'workdir: {workdir} ({state}): {", ".join(outs)}')
  return lines


def check_flags() -> None:
  """``--only_check_args``: the config is validated, nothing runs."""
  validate(FLAGS.config)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}: every setting '
                         'is a --flag (e.g. --config.num_seeds=2).')
  if FLAGS.num_processes > 1 and not FLAGS.coordinator_address:
    raise app.UsageError('--num_processes > 1 needs --coordinator_address.')
  import jax  # pylint: disable=g-import-not-at-top
  if FLAGS.num_processes > 1:
    jax.distributed.initialize(FLAGS.coordinator_address,
                               FLAGS.num_processes, FLAGS.process_id)
  # The backend probe's "unable to initialize backend 'tpu'" is noise here.
  std_logging.getLogger('jax._src.xla_bridge').setLevel(std_logging.ERROR)
  config = FLAGS.config
  validate(config)
  for line in notes(config):
    logging.warning(line)
  if _program_name(config) == 'continual':
    check_workdir(config, FLAGS.workdir)
  if FLAGS.dry_run:
    print(config)
    print('\n'.join(layout_lines(config, FLAGS.workdir)))
    return 0
  logging.info('JAX %s, backend %s: %d devices (%d local), process %d of %d.',
               jax.__version__, jax.default_backend(), jax.device_count(),
               jax.local_device_count(), jax.process_index(),
               jax.process_count())
  fn = program(config)
  try:
    fn(config, FLAGS.workdir)
  except KeyboardInterrupt:
    sys.exit(130)  # the trainer logged how to resume


if __name__ == '__main__':
  _cli.run(main, check=check_flags,
           refusals=('mpl_jax.train.workdir:WorkdirBusy',
                     'mpl_jax.train.workdir:WorkdirError',
                     'mpl_jax.train.checkpoint:ConfigMismatch',
                     'mpl_jax.train.health:Diverged',
                     'mpl_jax.train.health:NonFiniteLoss',
                     'mpl_jax.data.datasets:DatasetError'))
