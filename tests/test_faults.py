"""Fault injection: every case ends in the outputs of an uninterrupted run or
in one line naming the problem (the table "Faults and resume" in BUILD.md).

Kills are real (SIGKILL, in a subprocess) at each save point, through the
test hook ``MPL_JAX_KILL_AT=<point>:<task>`` of
:mod:`mpl_jax.train.checkpoint`.
"""

import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from _configs import tiny_config
import test_tensorboard
from mpl_jax.train import checkpoint
from mpl_jax.train import train
from mpl_jax.train import workdir as workdir_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The tiny config of tests/_configs.py as flags, 4 tasks of one epoch.
FLAGS = ['--config=configs/default.py', '--config.name=tiny',
         '--config.num_seeds=2', '--config.data.dataset=digits',
         '--config.data.num_tasks=4', '--config.data.scale=0.0625',
         '--config.model.hidden=(32,)', '--config.protocol.epochs_per_task=1',
         '--config.protocol.batch_size=64',
         '--config.protocol.eval_batch_size=128', '--config.plot=False',
         '--config.protocol.tensorboard=False']
OUTPUTS = ('accuracy.npy', 'curves.npy', 'accuracy_init.npy')


def _launch(workdir, kill_at=None, tensorboard=False):
  flags = FLAGS[:-1] + [f'--config.protocol.tensorboard={tensorboard}']
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=ROOT)
  env.pop('MPL_JAX_KILL_AT', None)
  if kill_at:
    env['MPL_JAX_KILL_AT'] = kill_at
  p = subprocess.run(
      [sys.executable, '-m', 'launch.main', f'--workdir={workdir}', *flags],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  return p.returncode, p.stdout + p.stderr


def _same_outputs(a, b):
  for name in OUTPUTS:
    np.testing.assert_array_equal(np.load(os.path.join(a, name)),
                                  np.load(os.path.join(b, name)), err_msg=name)
  for name in ('summary.json', 'metrics.jsonl'):
    with open(os.path.join(a, name)) as fa, open(os.path.join(b, name)) as fb:
      assert fa.read() == fb.read(), name


def _steps(workdir):
  ck = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'))
  try:
    return ck.steps()
  finally:
    ck.close()


def _tensorboard(workdir):
  """Per group folder: its number of event files and its sorted events
  (tag, step, value; wall times differ between runs)."""
  root = os.path.join(workdir, 'tensorboard')
  return {g: (len([f for f in os.listdir(os.path.join(root, g))
                   if 'tfevents' in f]),
              sorted(map(str, test_tensorboard._events(os.path.join(root, g)))))
          for g in sorted(os.listdir(root))}


def test_kill_at_each_save_point_then_resume_equals_uninterrupted(tmp_path):
  full, part = str(tmp_path / 'full'), str(tmp_path / 'part')
  rc, out = _launch(full, tensorboard=True)
  assert rc == 0, out[-3000:]
  # One workdir, killed at each save point in turn; each rerun resumes.
  for kill_at, steps_after in [
      ('save:2', [1]),          # before task 2's save starts
      ('written:2', [1, 2]),    # orbax done, no manifest: 2 reads as damaged
      ('manifest:3', [2, 3]),   # 2 redone; 3 complete, its outputs not yet
      ('job:4', [3, 4])]:       # every output of task 4 written
    rc, out = _launch(part, kill_at, tensorboard=True)
    assert rc == -9, (kill_at, out[-3000:])
    # (a kill before the oldest step is pruned leaves it)
    assert _steps(part)[-len(steps_after):] == steps_after, kill_at
    if kill_at == 'manifest:3':
      assert 'Checkpoint of task 2' in out and 'manifest.json is missing' in out
  # A crash between creating the lock and writing it leaves it empty.
  open(os.path.join(part, workdir_lib.LOCK), 'w').close()
  rc, out = _launch(part, tensorboard=True)
  assert rc == 0, out[-3000:]
  assert 'Resumed' in out and 'after task 4/4' in out
  _same_outputs(full, part)
  # TensorBoard rebuilt from the record: the same events, one file a group.
  want = _tensorboard(full)
  assert want and all(n == 1 and ev for n, ev in want.values())
  assert _tensorboard(part) == want


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('reference'))
  train.train_and_evaluate(tiny_config(), workdir)
  return workdir


def test_other_config_refused_without_config_json_then_damage_restarts(
    tmp_path, reference, caplog):
  part = str(tmp_path)
  with pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(tiny_config(), part, _interrupt_after_task=2)
  os.remove(os.path.join(part, 'config.json'))
  for over, said in [
      ({'optimizer.learning_rate': 0.01}, 'optimizer.learning_rate: 0.005 -> '
       '0.01'),
      ({'num_seeds': 3}, 'num_seeds: 2 -> 3')]:
    with pytest.raises(checkpoint.ConfigMismatch) as e:
      train.train_and_evaluate(tiny_config(**over), part)
    assert '\n' not in str(e.value) and said in str(e.value)
    assert not os.path.exists(os.path.join(part, 'config.json'))
  # Every checkpoint damaged (a bit flip, a manifest that is JSON but not
  # an object): said once, and the run starts over.
  ck = os.path.join(part, 'checkpoints')
  data = [os.path.join(r, f) for r, _, fs in os.walk(ck + '/step_000002')
          for f in fs if os.sep + 'd' + os.sep in os.path.join(r, f)]
  with open(max(data, key=os.path.getsize), 'r+b') as f:
    f.seek(8)
    b = f.read(1)[0]
    f.seek(8)
    f.write(bytes([b ^ 1]))
  with open(os.path.join(ck, 'step_000001', checkpoint.MANIFEST), 'w') as f:
    json.dump('not an object', f)
  with caplog.at_level(logging.WARNING):
    train.train_and_evaluate(tiny_config(), part)
  assert caplog.text.count('no intact checkpoint left, starting from task 1'
                           ) == 1
  _same_outputs(reference, part)


def _read_only(path):
  """Makes folder ``path`` read-only even for root (``chattr +i``); False
  where that is not possible."""
  os.makedirs(path, exist_ok=True)
  if os.geteuid() != 0:
    os.chmod(path, 0o555)
    return True
  if not shutil.which('chattr'):
    return False
  subprocess.run(['chattr', '+i', path], capture_output=True)
  try:
    open(os.path.join(path, 'probe'), 'w').close()
  except OSError:
    return True
  os.remove(os.path.join(path, 'probe'))
  return False


def _writable(path):
  if os.geteuid() == 0:
    subprocess.run(['chattr', '-i', path], capture_output=True)
  os.chmod(path, 0o755)


def test_read_only_checkpoints_refused_before_training(tmp_path):
  ck = str(tmp_path / 'checkpoints')
  if not _read_only(ck):
    pytest.skip('cannot make a folder read-only here (root without chattr)')
  try:
    with pytest.raises(workdir_lib.WorkdirError,
                       match='checkpoints is not writable'):
      train.train_and_evaluate(tiny_config(), str(tmp_path))
    # Refused before the data was loaded: nothing of the run left behind.
    for name in ('config.json', 'stream.npz', 'metrics.jsonl'):
      assert not os.path.exists(tmp_path / name)
  finally:
    _writable(ck)


@pytest.mark.parametrize('make, said', [
    (lambda p: open(p, 'w').close(), 'is a file, not a folder'),
    (None, '--workdir is empty')])
def test_workdir_that_is_a_file_or_empty_is_one_line(tmp_path, make, said):
  path = str(tmp_path / 'f') if make else ''
  if make:
    make(path)
  with pytest.raises(workdir_lib.WorkdirError, match=said) as e:
    train.train_and_evaluate(tiny_config(), path)
  assert '\n' not in str(e.value)
