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
