r"""Prints the results of finished (or interrupted) runs as one table.

  python -m launch.report runs/tacos_ablation runs/tacos_ewc [--markdown]

For each workdir it reads ``summary.json`` (written by the trainer after
every task) and prints one row per swept value (or one for the run): the
number of tasks done, the mean ± std over seeds of the average accuracy after
the last task done, backward transfer, forgetting, and the final accuracy of
the first task, in %. ``--markdown`` prints a Markdown table (the form of
BUILD.md's tables). Nothing is recomputed: the numbers are the trainer's.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from absl import app
from absl import flags

from mpl_jax.train import record

FLAGS = flags.FLAGS
flags.DEFINE_bool('markdown', False, 'Print a Markdown table.')

_COLUMNS = (('average_accuracy', 'avg acc %'), ('backward_transfer',
                                                'BWT %'),
            ('forgetting', 'forgetting %'))


def _cell(metric: Any) -> str:
  if not isinstance(metric, dict) or metric.get('mean') is None:
    return 'n/a'
  return f'{100 * metric["mean"]:.1f} ± {100 * metric["std"]:.1f}'


def _first_task(group: dict[str, Any]) -> str:
  final = group.get('final_accuracy_per_task')
  if not final or not final.get('mean'):
    return 'n/a'
  return f'{100 * final["mean"][0]:.1f} ± {100 * final["std"][0]:.1f}'


def rows(workdir: str) -> list[list[str]]:
  """The table rows of one workdir (one per swept value)."""
  path = os.path.join(workdir, 'summary.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} does not exist: is {workdir} the '
                            '--workdir of a run that finished a task?')
  with open(path) as f:
    summ = json.load(f)
  groups = summ['sweep']['groups'] if 'sweep' in summ else {'': summ}
  n_seeds = len(summ.get('seeds', ())) or 1
  done = str(summ.get('tasks_completed', '?'))
  out = []
  for name, group in groups.items():
    label = os.path.basename(os.path.normpath(workdir))
    if name:
      label += f' [{name}]'
    out.append([label, done, str(n_seeds)]
               + [_cell(group.get(k)) for k, _ in _COLUMNS]
               + [_first_task(group)])
  return out


def table(workdirs: Sequence[str], markdown: bool) -> str:
  header = (['run', 'tasks', 'seeds'] + [c for _, c in _COLUMNS]
            + ['task 1 at the end %'])
  body = [r for w in workdirs for r in rows(w)]
  if markdown:
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(r) + ' |' for r in body]
    return '\n'.join(lines)
  return record.text_table([header] + body)


def main(argv: Sequence[str]) -> None:
  workdirs = argv[1:]
  if not workdirs:
    raise app.UsageError('give one or more run workdirs.')
  print(table(workdirs, FLAGS.markdown))


if __name__ == '__main__':
  app.run(main)
