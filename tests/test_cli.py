"""The command line refuses bad input in one line (issue 21), --dry_run and
--only_check_args validate, the docstring of launch.main lists every config.

Every case drives the real command (``python -m launch.main``) in a
subprocess and fails before anything is compiled. ``python3
tests/test_cli.py`` prints the Markdown table of BUILD.md ("Bad inputs").
"""

import glob
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = '--config=configs/quickstart.py'

# (arguments after `python -m launch.main --workdir=W`, a text the refusal
# line must hold). Every line must name its field: the field or flag is the
# second element's first word where the check is 'field'.
BAD = [
    # Unknown fields: the closest existing names.
    ([QUICK, '--config.nonexistent_field=1'],
     'config.nonexistent_field=1: no such field'),
    ([QUICK, '--config.model.nonexistent=1'], 'config.model.hidden'),
    ([QUICK, '--config.batch_size=100'], 'config.protocol.batch_size'),
    ([QUICK, '--num_seeds=2'], 'did you mean --config.num_seeds'),
    ([QUICK, '--workdri=x'], 'did you mean --workdir'),
    # Values of the wrong type: the expected type and the config's value.
    ([QUICK, '--config.num_seeds=abc'],
     "config.num_seeds='abc': expected an integer; the config sets 3"),
    ([QUICK, '--config.num_seeds=2.5'],
     "config.num_seeds='2.5': expected an integer"),
    ([QUICK, '--config.protocol.batch_size=1e3'],
     "config.protocol.batch_size='1e3': expected an integer, written "
     'without a decimal point or exponent (1000)'),
    ([QUICK, '--config.optimizer.learning_rate=fast'],
     "config.optimizer.learning_rate='fast': expected a number"),
    ([QUICK, '--config.protocol.tensorboard=maybe'],
     "config.protocol.tensorboard='maybe': expected True or False"),
    ([QUICK, '--config.sweep.values=(0,1'],
     "config.sweep.values='(0,1': expected a tuple"),
    # The config file.
    (['--config=configs/quickstrat.py'],
     '--config=configs/quickstrat.py: no such config file; closest in '
     'configs/: quickstart.py'),
    (['--config=configs/items_flexibility.py:40'],
     "--config=configs/items_flexibility.py:40: ValueError: preset must be "
     "'10' or '30'"),
    # Values out of range: the validators' ConfigError, one line.
    ([QUICK, '--config.num_seeds=0'],
     'config.num_seeds must be an integer >= 1, got 0'),
    ([QUICK, '--config.seed=-1'], 'config.seed must be an integer >= 0'),
    ([QUICK, '--config.data.dataset=foo'],
     "config.data.dataset=foo: unknown dataset 'foo'"),
    ([QUICK, '--config.data.stream=rotated'], "config.data.stream='rotated'; known: ["),
    ([QUICK, '--config.optimizer.name=adamw'],
     "config.optimizer.name=adamw: unknown optimizer 'adamw'"),
    ([QUICK, '--config.optimizer.learning_rate=-1'],
     'config.optimizer.learning_rate must be > 0'),
    ([QUICK, '--config.model.hidden=(0,)'],
     'config.model.hidden must list positive integers'),
    ([QUICK, '--config.protocol.reset_optimizer=sometimes'],
     'config.protocol.reset_optimizer must be one of'),
    ([QUICK, '--config.protocol.batch_size=0'],
     'config.protocol.batch_size must be an integer >= 1'),
    ([QUICK, '--config.program=other'], 'config.program must be one of'),
    ([QUICK, '--config.sweep.name=lr'], "config.sweep.name='lr'"),
    # The command line itself.
    ([QUICK, 'extra'], "unexpected arguments ['extra']"),
]


def _run(args, workdir=None, module='launch.main'):
  cmd = [sys.executable, '-m', module]
  if workdir is not None:
    cmd.append(f'--workdir={workdir}')
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=ROOT)
  return subprocess.run(cmd + list(args), cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


def _refusal(p, prog='launch.main'):
  """The one refusal line of a finished process (asserting its form)."""
  assert p.returncode == 2, p.stderr[-3000:]
  assert 'Traceback' not in p.stderr, p.stderr[-3000:]
  lines = [l for l in p.stderr.splitlines()
           if l.startswith(f'{prog}: error: ')]
  assert len(lines) == 1, p.stderr[-3000:]
  # Nothing else but log lines (absl's "W1204 ..." form) on stderr.
  others = [l for l in p.stderr.splitlines()
            if l not in lines and not re.match(r'^[IWE]\d{4} ', l)]
  assert not others, p.stderr[-3000:]
  return lines[0][len(f'{prog}: error: '):]


@pytest.mark.parametrize('args,expected', BAD,
                         ids=[' '.join(a[1:] or a) for a, _ in BAD])
def test_bad_input_is_refused_in_one_line(tmp_path, args, expected):
  line = _refusal(_run(args, tmp_path / 'w'))
  assert expected in line
  assert re.search(r'(config\.\w|--\w)', line), line  # names its field
  assert not os.path.exists(tmp_path / 'w' / 'checkpoints')


def test_verbose_errors_shows_the_traceback(tmp_path):
  p = _run([QUICK, '--config.num_seeds=0', '--verbose_errors'],
           tmp_path / 'w')
  assert p.returncode == 2
  assert 'Traceback' in p.stderr and 'ConfigError' in p.stderr
  assert p.stderr.rstrip().endswith(
      'launch.main: error: config.num_seeds must be an integer >= 1, got 0.')


def _write_config(tmp_path, body):
  path = tmp_path / 'buggy.py'
  path.write_text('from configs import default\n\n\ndef get_config():\n'
                  f'  {body}\n')
  return f'--config={path}'


@pytest.mark.parametrize('body,error', [
    ('return 1 / 0', 'ZeroDivisionError'),
    ('return default.get_config().no_such_field', 'AttributeError')])
def test_a_bug_keeps_its_traceback(tmp_path, body, error):
  p = _run([_write_config(tmp_path, body)], tmp_path / 'w')
  assert p.returncode == 1, p.stderr[-2000:]
  assert 'Traceback' in p.stderr and error in p.stderr
  assert 'launch.main: error:' not in p.stderr


def test_missing_workdir_and_busy_or_other_workdir(tmp_path):
  assert _refusal(_run([QUICK])).startswith('--workdir is required')
  w = tmp_path / 'w'
  w.mkdir()
  (w / 'config.json').write_text('{"name": "another run"}')
  line = _refusal(_run([QUICK, '--dry_run'], w))
  assert line.startswith(f'--workdir={w} holds a run with another config')
  assert "name: 'another run' -> 'quickstart'" in line
  # One leaf changed: the line names that leaf, old and new values.
  sys.path.insert(0, ROOT)
  from configs import quickstart  # pylint: disable=g-import-not-at-top
  old = json.loads(quickstart.get_config().to_json_best_effort())
  old['optimizer']['learning_rate'] = 0.125
  (w / 'config.json').write_text(json.dumps(old))
  line = _refusal(_run([QUICK, '--dry_run'], w))
  assert 'optimizer.learning_rate: 0.125 -> ' in line, line
  assert 'protocol' not in line, line


def test_only_check_args_validates_the_config(tmp_path):
  p = _run([QUICK, '--config.num_seeds=0', '--only_check_args'],
           tmp_path / 'w')
  assert 'config.num_seeds' in _refusal(p)
  p = _run([QUICK, '--only_check_args'], tmp_path / 'w')
  assert p.returncode == 0, p.stderr[-2000:]
  assert not os.path.exists(tmp_path / 'w')


def test_dry_run_prints_config_and_layout_without_training(tmp_path):
  p = _run([QUICK, '--dry_run', '--config.model.hidden=()'], tmp_path / 'w')
  assert p.returncode == 0, p.stderr[-2000:]
  out = p.stdout
  assert 'program: continual' in out and 'name: quickstart' in out
  assert 'runs: 6 = 3 seeds [0, 1, 2] x meta in (0.0, 10.0)' in out
  assert 'runs: 6 on 1 devices x 1 processes' in out
  for name in ('config.json', 'accuracy_init.npy', 'summary.json',
               'accuracy.png', 'checkpoints/'):
    assert name in out
  # No hidden layer is allowed (a single layer), and said.
  assert 'config.model.hidden=(): no hidden layer' in p.stderr
  assert not os.path.exists(tmp_path / 'w')
  p = _run(['--config=configs/items_flexibility.py', '--dry_run'],
           tmp_path / 'w')
  assert p.returncode == 0, p.stderr[-2000:]
  assert 'runs: 18 = 3 seeds' in p.stdout
  assert 'items.npz, items.png' in p.stdout


def test_report_refusals(tmp_path):
  line = _refusal(_run([str(tmp_path / 'nowhere')], module='launch.report'),
                  'launch.report')
  assert line == f'{tmp_path / "nowhere"} does not exist.'
  line = _refusal(_run([], module='launch.report'), 'launch.report')
  assert line.startswith('give one or more run workdirs')


def test_prepare_data_refusals(tmp_path):
  # The real command line: bad flags, and a dataset that cannot be found
  # offline (no source files), each refused in one line.
  for args, expected in [(['--dataset=foo'], '--dataset=foo: value should be '
                          'one of <mnist|fashion_mnist|'),
                         (['--datset=mnist'], 'did you mean --dataset?'),
                         (['--dataset=mnist', 'extra'],
                          'prepare_data takes flags only')]:
    p = _run(args, module='launch.prepare_data')
    assert expected in _refusal(p, 'launch.prepare_data')


def test_docstring_lists_every_config_and_output():
  from launch import main  # pylint: disable=g-import-not-at-top
  doc = main.__doc__
  configs = {os.path.basename(p)[:-3]
             for p in glob.glob(os.path.join(ROOT, 'configs', '*.py'))
             if not os.path.basename(p).startswith('_')}
  listed = lambda text: set(re.findall(r'[a-z][a-z0-9_]*',
                                       re.sub(r'\([^)]*\)', '', text)))
  trainer = doc[doc.index('trainer):') + 9:doc.index('Outputs of')]
  sims = doc[doc.index("'assoc'``:") + 10:doc.index('; outputs config.json')]
  assert listed(trainer) | listed(sims) == configs
  for name in ('accuracy_init.npy', 'items.npz', 'items.png', 'curves.npy',
               'losses.npy', 'timing.json', 'metrics.jsonl', 'stream.npz'):
    assert name in doc, name


def test_helpers_in_process():
  import ml_collections  # pylint: disable=g-import-not-at-top
  from launch import _cli  # pylint: disable=g-import-not-at-top
  cfg = ml_collections.ConfigDict(dict(
      num_seeds=1, model=dict(hidden=(4,), name='mlp'),
      protocol=dict(batch_size=8, eval_batch_size=16)))
  assert _cli.closest_fields('batch_size', cfg)[:2] == [
      'protocol.batch_size', 'protocol.eval_batch_size']
  assert _cli.closest_fields('model.hiden', cfg)[0] == 'model.hidden'
  assert _cli.allowed(3, '1e3').endswith('(1000)')
  assert _cli.allowed(3, '2.5') == 'an integer'
  assert _cli.allowed(True) == 'True or False'
  # The field named from the override whose value the message quotes; a
  # message already naming a field, or a value met only inside a longer
  # number, is left alone.
  assert _cli.name_the_field("unknown model 'cnn'", cfg,
                             {'model.name': 'cnn'}) == (
                                 "config.model.name=cnn: unknown model 'cnn'")
  assert _cli.name_the_field("unknown model 'mlp'", cfg) == (
      "config.model.name='mlp': unknown model 'mlp'")
  assert _cli.name_the_field('config.x is bad', cfg, {'x': 'bad'}) == (
      'config.x is bad')
  assert _cli.name_the_field('got 1000', None, {'a': '100'}) == 'got 1000'


def markdown_table() -> str:
  """BUILD.md's table: each bad input and the line it prints."""
  import tempfile  # pylint: disable=g-import-not-at-top
  lines = ['| input (after `python -m launch.main --workdir=W`) | exit | '
           'stderr |', '|---|---|---|']
  with tempfile.TemporaryDirectory() as tmp:
    for args, _ in BAD:
      p = _run(args, os.path.join(tmp, 'w'))
      err = [l for l in p.stderr.splitlines() if 'error:' in l]
      shown = ' '.join(args).replace('|', '\\|')
      line = (err[-1] if err else p.stderr.strip()[-200:]).replace('|', '\\|')
      lines.append(f'| `{shown}` | {p.returncode} | `{line}` |')
  return '\n'.join(lines)


if __name__ == '__main__':
  print(markdown_table())
