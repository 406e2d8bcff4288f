r"""Prints the results of finished (or interrupted) runs as tables.

  python -m launch.report runs/tacos_ablation runs/tacos_ewc [--markdown]
  python -m launch.report runs/       # every run under runs/, recursively

Each argument is a run's workdir (it holds ``summary.json``, written by the
trainer after every task) or a folder searched recursively for them
(``checkpoints/`` and ``tensorboard/`` are skipped). One row per swept value
(or one for the run), one table per protocol, with that protocol's headline
columns, mean ± std over seeds:

* continual learning (permuted, split, sequential streams): tasks done, the
  average accuracy after the last task done, backward transfer, forgetting,
  the final accuracy of the first task, in %, and the OOD ROC-AUC when the
  run has the ``ood_auc`` evaluator;
* item protocol (``data.stream='items'``): sessions done and the memorised
  item counts of ``summary.json``'s ``items``: before training, after the
  sequential pass, after the repetitions, repeated items kept after
  poisoning, poisons rejected, items kept and rejected (the table of
  configs/items_flexibility.py).

Simulations (``config.program`` 'calcium' / 'assoc') are listed by name
only: their summary.json holds curves, not a table. ``--markdown`` prints
Markdown tables (the form of BUILD.md's). Nothing is recomputed: the numbers
are the trainer's. A path with no summary.json is refused in one line
(exit status 2).
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from absl import app
from absl import flags

from launch import _cli

FLAGS = flags.FLAGS
flags.DEFINE_bool('markdown', False, 'Print Markdown tables.')

SKIP_DIRS = ('checkpoints', 'tensorboard')

_COLUMNS = (('average_accuracy', 'avg acc %'), ('backward_transfer',
                                                'BWT %'),
            ('forgetting', 'forgetting %'))

# summary.json ``items`` key -> column, in the order of the protocol.
ITEM_COLUMNS = (
    ('memorised_init', 'before'),
    ('memorised_sequential', 'sequential'),
    ('memorised_repetition', 'after repetition'),
    ('repeated_kept', 'kept after poisoning'),
    ('poisoned_rejected', 'poison rejected'),
    ('poisoned_kept_and_rejected', 'kept and rejected'),
)

HEADERS = {
    'continual': (['run', 'tasks', 'seeds'] + [c for _, c in _COLUMNS]
                  + ['task 1 at the end %']),
    'items': ['run', 'sessions', 'seeds'] + [c for _, c in ITEM_COLUMNS],
}


def _cell(metric: Any, scale: float = 100, digits: int = 1) -> str:
  if not isinstance(metric, dict) or metric.get('mean') is None or \
      isinstance(metric['mean'], list):
    return 'n/a'
  return (f'{scale * metric["mean"]:.{digits}f} ± '
          f'{scale * metric["std"]:.{digits}f}')


def _first_task(group: dict[str, Any]) -> str:
  final = group.get('final_accuracy_per_task')
  if not final or not final.get('mean'):
    return 'n/a'
  return f'{100 * final["mean"][0]:.1f} ± {100 * final["std"][0]:.1f}'


def find_workdirs(path: str) -> list[str]:
  """``path`` if it holds summary.json, else every folder under it that
  does (sorted; checkpoints/ and tensorboard/ skipped)."""
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} does not exist.')
  if os.path.exists(os.path.join(path, 'summary.json')):
    return [path]
  found = []
  for root, dirs, files in os.walk(path):
    dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
    if 'summary.json' in files:
      found.append(root)
  if not found:
    raise FileNotFoundError(
        f'no summary.json in {path} or its sub-folders: is it the --workdir '
        'of a run that finished a task (or a folder of such workdirs)?')
  return found


def load(workdir: str) -> dict[str, Any]:
  path = os.path.join(workdir, 'summary.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} does not exist: is {workdir} the '
                            '--workdir of a run that finished a task?')
  with open(path) as f:
    return json.load(f)


def kind(summ: dict[str, Any]) -> str:
  """'continual', 'items' or 'simulation': which table a summary goes in."""
  if 'tasks_completed' not in summ:
    return 'simulation'
  groups = summ['sweep']['groups'] if 'sweep' in summ else {'': summ}
  if any('items' in g for g in groups.values()):
    return 'items'
  return 'continual'


def rows(workdir: str, label: str | None = None) -> list[list[str]]:
  """The table rows of one workdir (one per swept value), in the columns
  of its protocol (``HEADERS[kind(summary)]``, plus 'OOD AUC' when the run
  has it)."""
  summ = load(workdir)
  k = kind(summ)
  if k == 'simulation':
    return []
  groups = summ['sweep']['groups'] if 'sweep' in summ else {'': summ}
  n_seeds = len(summ.get('seeds', ())) or 1
  done = str(summ.get('tasks_completed', '?'))
  if label is None:
    label = os.path.basename(os.path.normpath(workdir))
  out = []
  for name, group in groups.items():
    head = [label + (f' [{name}]' if name else ''), done, str(n_seeds)]
    if k == 'items':
      items = group.get('items', {})
      out.append(head + [_cell(items.get(key), 1) for key, _ in ITEM_COLUMNS])
      continue
    row = (head + [_cell(group.get(key)) for key, _ in _COLUMNS]
           + [_first_task(group)])
    if 'ood_auc' in group:
      row.append(_cell(group['ood_auc'], 1, 3))
    out.append(row)
  return out


def _render(header, body, markdown):
  width = max(len(r) for r in [header] + body)
  header = header + ['OOD AUC'] * (width - len(header))
  body = [r + ['n/a'] * (width - len(r)) for r in body]
  if markdown:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    return '\n'.join(lines + ['| ' + ' | '.join(r) + ' |' for r in body])
  from mpl_jax.train import record  # pylint: disable=g-import-not-at-top
  return record.text_table([header] + body)


def table(paths: Sequence[str], markdown: bool) -> str:
  """One table per protocol of the runs found in ``paths``."""
  by_kind: dict[str, list[list[str]]] = {}
  for path in paths:
    found = find_workdirs(path)
    for w in found:
      rel = os.path.relpath(w, path)
      label = (os.path.basename(os.path.normpath(w)) if rel == '.'
               else os.path.join(os.path.basename(os.path.normpath(path)),
                                 rel))
      by_kind.setdefault(kind(load(w)), []).extend(
          rows(w, label) or [[label]])
  parts = []
  for k in ('continual', 'items'):
    if k in by_kind:
      title = ([f'{k} runs:'] if len(by_kind) > 1 else [])
      parts.append('\n'.join(title + [_render(list(HEADERS[k]), by_kind[k],
                                              markdown)]))
  if 'simulation' in by_kind:
    parts.append('simulations (see their summary.json): '
                 + ', '.join(r[0] for r in by_kind['simulation']))
  return '\n\n'.join(parts)


def main(argv: Sequence[str]) -> None:
  paths = argv[1:]
  if not paths:
    raise app.UsageError('give one or more run workdirs (or folders of '
                         'them), e.g. python -m launch.report runs/.')
  print(table(paths, FLAGS.markdown))


if __name__ == '__main__':
  _cli.run(main, refusals=(FileNotFoundError,))
