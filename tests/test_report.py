"""launch.report: the table of run summaries."""

import json

import pytest

from launch import report


def _summary(tmp_path, name, summ):
  d = tmp_path / name
  d.mkdir()
  (d / 'summary.json').write_text(json.dumps(summ))
  return str(d)


def _group(avg, first):
  return {'average_accuracy': {'mean': avg, 'std': 0.01},
          'backward_transfer': {'mean': -0.05, 'std': 0.002},
          'forgetting': {'mean': 0.05, 'std': 0.002},
          'final_accuracy_per_task': {'mean': [first, 0.9],
                                      'std': [0.03, 0.0]}}


def test_rows_per_swept_value_and_markdown(tmp_path):
  a = _summary(tmp_path, 'sweep', {
      'seeds': [0, 1, 2], 'tasks_completed': 2,
      'sweep': {'groups': {'meta=0.0': _group(0.5, 0.25),
                           'meta=1.35': _group(0.875, 0.8125)}}})
  b = _summary(tmp_path, 'single', dict(_group(0.75, 0.5), seeds=[0],
                                        tasks_completed=1))
  rows = report.rows(a) + report.rows(b)
  assert [r[0] for r in rows] == ['sweep [meta=0.0]', 'sweep [meta=1.35]',
                                  'single']
  assert rows[1][1:] == ['2', '3', '87.5 ± 1.0', '-5.0 ± 0.2', '5.0 ± 0.2',
                         '81.2 ± 3.0']
  assert rows[2][2] == '1' and rows[2][3] == '75.0 ± 1.0'
  md = report.table([a, b], markdown=True).splitlines()
  assert md[0].startswith('| run | tasks | seeds | avg acc %')
  assert len(md) == 5 and all(l.startswith('|') for l in md)


def test_missing_summary_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match='finished a task'):
    report.rows(str(tmp_path))


def _items_group(seq):
  """An items run's group as summary.json holds it (metrics.mean_std_values:
  mean, std and the per-seed values; per-pass counts are lists)."""
  m = lambda vals: {'mean': sum(vals) / len(vals), 'std': 0.5,
                    'values': vals}
  items = {'memorised_init': m([1, 1]), 'memorised_sequential': m(seq),
           'memorised_after_pass': {'mean': [9.0, 10.0], 'std': [0.0, 0.0],
                                    'values': [[9, 10], [9, 10]]},
           'memorised_repetition': m([10, 10]), 'repeated_kept': m([10, 9]),
           'poisoned_rejected': m([9, 8]),
           'poisoned_kept_and_rejected': m([8, 8])}
  return dict(_group(0.5, 0.25), items=items)


def test_items_runs_show_memorised_counts(tmp_path):
  w = _summary(tmp_path, 'items', {
      'seeds': [0, 1], 'tasks_completed': 100, 'runs': 4,
      'sweep': {'name': 'mix', 'groups': {
          'mix=hybrid': _items_group([9, 9]),
          'mix=conventional': _items_group([4, 5])}}})
  rows = report.rows(w)
  assert rows[0] == ['items [mix=hybrid]', '100', '2', '1.0 ± 0.5',
                     '9.0 ± 0.5', '10.0 ± 0.5', '9.5 ± 0.5', '8.5 ± 0.5',
                     '8.0 ± 0.5']
  assert rows[1][4] == '4.5 ± 0.5'
  text = report.table([w], markdown=False)
  assert 'sequential' in text and 'avg acc' not in text


def test_folders_are_searched_recursively(tmp_path):
  runs = tmp_path / 'runs'
  (runs / 'group').mkdir(parents=True)
  cont = _summary(runs / 'group', 'cont', dict(_group(0.75, 0.5), seeds=[0],
                                               tasks_completed=1))
  (tmp_path / 'runs' / 'group' / 'cont' / 'checkpoints' / '1').mkdir(
      parents=True)
  (runs / 'group' / 'cont' / 'checkpoints' / '1' / 'summary.json').write_text(
      '{}')  # inside checkpoints/: skipped
  _summary(runs, 'items', {'seeds': [0, 1], 'tasks_completed': 100,
                           'sweep': {'name': 'mix', 'groups': {
                               'mix=hybrid': _items_group([9, 9])}}})
  _summary(runs, 'calcium', {'seconds': 1.0, 'neuron': {}})
  assert report.find_workdirs(str(runs)) == [
      str(runs / 'calcium'), cont, str(runs / 'items')]
  text = report.table([str(runs)], markdown=True)
  assert 'continual runs:' in text and 'items runs:' in text
  assert '| runs/group/cont | 1 | 1 | 75.0 ± 1.0 |' in text
  assert '| runs/items [mix=hybrid] | 100 | 2 | 1.0 ± 0.5 | 9.0 ± 0.5' in text
  assert text.endswith('simulations (see their summary.json): runs/calcium')
  (tmp_path / 'empty' / 'sub').mkdir(parents=True)
  with pytest.raises(FileNotFoundError, match='sub-folders'):
    report.find_workdirs(str(tmp_path / 'empty'))


def test_ood_auc_column(tmp_path):
  w = _summary(tmp_path, 'ood', dict(_group(0.75, 0.5), seeds=[0, 1],
                                     tasks_completed=2,
                                     ood_auc={'mean': 0.8125, 'std': 0.0625}))
  assert report.rows(w)[0][-1] == '0.812 ± 0.062'
  assert report.table([w], markdown=False).splitlines()[0].rstrip().endswith(
      'OOD AUC')
