"""A run survives damage and bad input: checkpoint fallback, workdir lock,
clean failure, clear errors and warnings."""

import json
import logging
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _configs import tiny_config
from mpl_jax.train import checkpoint
from mpl_jax.train import evaluators
from mpl_jax.train import health
from mpl_jax.train import metrics
from mpl_jax.train import record as record_lib
from mpl_jax.train import train
from mpl_jax.train import validate
from mpl_jax.train import workdir as workdir_lib


# -- checkpoints -------------------------------------------------------------

def _tree():
  return {'a': np.arange(6, dtype=np.float32).reshape(2, 3),
          'b': (np.asarray(3, np.int32), np.ones(4, np.uint32))}


def _data_file(path):
  """The largest shard file of checkpoint folder ``path``."""
  files = [os.path.join(r, f) for r, _, fs in os.walk(path) for f in fs
           if os.sep + 'd' + os.sep in os.path.join(r, f)]
  return max(files, key=os.path.getsize)


def _truncate(path):
  f = _data_file(path)
  with open(f, 'rb') as fh:
    data = fh.read()
  with open(f, 'wb') as fh:
    fh.write(data[:len(data) // 2])


def _bit_flip(path):
  f = _data_file(path)
  with open(f, 'r+b') as fh:
    fh.seek(os.path.getsize(f) // 2)
    byte = fh.read(1)[0]
    fh.seek(-1, 1)
    fh.write(bytes([byte ^ 0x10]))


def _empty_manifest(path):
  open(os.path.join(path, checkpoint.MANIFEST), 'w').close()


def _list_manifest(path):
  with open(os.path.join(path, checkpoint.MANIFEST), 'w') as f:
    json.dump([1, 2], f)


def _missing_manifest(path):
  os.remove(os.path.join(path, checkpoint.MANIFEST))


def _missing_data(path):
  os.remove(_data_file(path))


@pytest.mark.parametrize('damage, why', [
    (_truncate, 'does not match its checksum'),
    (_bit_flip, 'does not match its checksum'),
    (_empty_manifest, 'manifest.json is unreadable'),
    (_list_manifest, 'not a manifest object'),
    (_missing_manifest, 'manifest.json is missing'),
    (_missing_data, 'is missing')])
def test_damaged_latest_checkpoint_falls_back(tmp_path, caplog, damage, why):
  ck = checkpoint.Checkpointer(str(tmp_path))
  t1, t2 = _tree(), jax.tree.map(lambda x: x + 1, _tree())
  ck.save(1, t1)
  ck.save(2, t2)
  step, tree = ck.restore_latest(_tree())
  assert step == 2
  jax.tree.map(np.testing.assert_array_equal, tree, t2)
  size = os.path.getsize(_data_file(str(tmp_path / 'step_000002')))
  damage(str(tmp_path / 'step_000002'))
  if damage is _bit_flip:  # same size: only the checksum can tell
    assert os.path.getsize(_data_file(str(tmp_path / 'step_000002'))) == size
  with caplog.at_level(logging.WARNING):
    step, tree = ck.restore_latest(_tree())
  assert step == 1
  jax.tree.map(np.testing.assert_array_equal, tree, t1)
  msgs = [r.getMessage() for r in caplog.records if 'damaged' in r.getMessage()]
  assert len(msgs) == 1 and 'task 2' in msgs[0] and why in msgs[0]
  assert ck.steps() == [1]  # the damaged one is gone: task 2 can be saved
  ck.save(2, t2)
  assert ck.restore_latest(_tree())[0] == 2
  ck.close()


def test_every_checkpoint_damaged_says_so(tmp_path, caplog):
  ck = checkpoint.Checkpointer(str(tmp_path))
  ck.save(1, _tree())
  ck.save(2, _tree())
  ck.wait()  # step 2's manifest is written once its save is complete
  _bit_flip(str(tmp_path / 'step_000001'))
  _missing_manifest(str(tmp_path / 'step_000002'))
  with caplog.at_level(logging.WARNING):
    assert ck.restore_latest(_tree()) == (0, None)
  assert 'no intact checkpoint left, starting from task 1' in caplog.text
  assert ck.steps() == []
  ck.close()


def test_checkpoints_are_pruned_and_temp_folders_ignored(tmp_path):
  ck = checkpoint.Checkpointer(str(tmp_path), max_to_keep=2)
  for s in (1, 2, 3):
    ck.save(s, _tree())
  ck.wait()
  # A kill during orbax's write leaves a temporary folder.
  os.makedirs(tmp_path / 'step_000004.orbax-checkpoint-tmp-1234')
  assert ck.steps() == [2, 3]
  with pytest.raises(ValueError, match='another config'):
    ck.restore_latest({'a': np.zeros((3, 3))})
  ck.close()
  # The next run's checkpointer removes it.
  checkpoint.Checkpointer(str(tmp_path)).close()
  assert sorted(os.listdir(tmp_path)) == ['step_000002', 'step_000003']


def test_checkpoint_of_another_device_count_is_relaid(tmp_path):
  ck = checkpoint.Checkpointer(str(tmp_path))
  padded = {'a': np.arange(12, dtype=np.float32).reshape(4, 3)}  # 3 runs + 1
  ck.save(1, padded)
  template = {'a': np.zeros((3, 3), np.float32)}
  with pytest.raises(ValueError, match='device count'):
    ck.restore_latest(template)
  step, tree = ck.restore_latest(template,
                                 relayout=lambda t: {'a': t['a'][:3]})
  assert step == 1
  np.testing.assert_array_equal(tree['a'], padded['a'][:3])
  ck.close()


def test_resume_after_damaged_checkpoint_equals_uninterrupted(tmp_path):
  c = tiny_config()
  full = train.train_and_evaluate(c, str(tmp_path / 'full'))
  part = str(tmp_path / 'part')
  with pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(c, part, _interrupt_after_task=2)
  _truncate(os.path.join(part, 'checkpoints', 'step_000002'))
  resumed = train.train_and_evaluate(c, part)
  assert resumed == full
  np.testing.assert_array_equal(np.load(tmp_path / 'full' / 'accuracy.npy'),
                                np.load(os.path.join(part, 'accuracy.npy')))


# -- the workdir -------------------------------------------------------------

_HOLD = ('import sys, time; from mpl_jax.train import workdir as w\n'
         'with w.locked(sys.argv[1]):\n'
         '  print("held", flush=True); time.sleep(60)')


def _holder(path):
  """A live process holding the lock of ``path``."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  p = subprocess.Popen([sys.executable, '-c', _HOLD, str(path)],
                       stdout=subprocess.PIPE, text=True,
                       env=dict(os.environ, PYTHONPATH=root))
  assert p.stdout.readline().strip() == 'held'
  return p


def test_lock_refuses_a_second_run_and_is_freed_by_a_kill(tmp_path):
  with workdir_lib.locked(str(tmp_path)):
    with pytest.raises(workdir_lib.WorkdirBusy, match=f'pid {os.getpid()}'):
      with workdir_lib.locked(str(tmp_path)):
        pass
  assert not os.path.exists(tmp_path / workdir_lib.LOCK)
  holder = _holder(tmp_path)
  with pytest.raises(workdir_lib.WorkdirBusy, match=f'pid {holder.pid} on'):
    with workdir_lib.locked(str(tmp_path)):
      pass
  holder.kill()  # as kill -9: the kernel releases the lock, its file stays
  holder.wait()
  assert os.path.exists(tmp_path / workdir_lib.LOCK)
  with workdir_lib.locked(str(tmp_path)):
    with open(tmp_path / workdir_lib.LOCK) as f:
      assert json.load(f)['pid'] == os.getpid()


@pytest.mark.parametrize('content, said', [
    ('', 'its lock file is empty'),
    ('{"pid": 1', 'its lock file is unreadable')])
def test_busy_lock_with_empty_or_unreadable_file_says_so(tmp_path, content,
                                                         said):
  import fcntl  # pylint: disable=g-import-not-at-top
  with open(tmp_path / workdir_lib.LOCK, 'w') as f:
    f.write(content)
    f.flush()
    fcntl.flock(f, fcntl.LOCK_EX)  # held, as by a run that crashed writing
    with pytest.raises(workdir_lib.WorkdirBusy, match=said):
      with workdir_lib.locked(str(tmp_path)):
        pass
  # An empty lock nobody holds (a crash between create and write) is taken.
  with workdir_lib.locked(str(tmp_path)):
    pass


def test_busy_workdir_refused_before_training(tmp_path):
  holder = _holder(tmp_path)
  try:
    with pytest.raises(workdir_lib.WorkdirBusy, match=str(holder.pid)):
      train.train_and_evaluate(tiny_config(), str(tmp_path))
    assert not os.path.exists(tmp_path / 'config.json')
  finally:
    holder.kill()
    holder.wait()


def test_failure_before_first_checkpoint_leaves_nothing_blocking(tmp_path):
  big = tiny_config(**{'protocol.batch_size': 5000})
  with pytest.raises(validate.ConfigError,
                     match=r'batch_size=5000 is larger than the \d+ training '
                     r'examples of task 1'):
    train.train_and_evaluate(big, str(tmp_path))
  assert not os.path.exists(tmp_path / 'config.json')
  assert not os.path.exists(tmp_path / workdir_lib.LOCK)
  # Another config may now use the workdir (refused before the fix).
  other = tiny_config(**{'data.num_tasks': 1, 'num_seeds': 1,
                         'protocol.epochs_per_task': 1})
  assert train.train_and_evaluate(other, str(tmp_path))['tasks_completed'] == 1


def test_interrupt_says_how_to_resume(tmp_path, caplog):
  c = tiny_config(**{'data.num_tasks': 2, 'num_seeds': 1})
  with caplog.at_level(logging.WARNING), pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(c, str(tmp_path), _interrupt_after_task=1)
  text = ' '.join(r.getMessage() for r in caplog.records)
  assert 'Tasks 1..1 are saved' in text and 'rerun the same command' in text


# -- warnings, metrics on the device ------------------------------------------

def test_divergence_and_below_chance_warnings(caplog):
  rec = record_lib.RunRecord.empty(3, 2, 3, 3)
  rec.losses[:, 0] = [[1.0, 2.0, 3.0], [1.0, 50.0, 500.0], [0.5, 0.4, 0.3]]
  rec.train_accuracy[:, 0, -1] = [0.9, 0.05, 0.8]

  class Layout:
    seeds, values = (0, 1, 2), (None, None, None)

  with caplog.at_level(logging.WARNING):
    health.warn_divergence(rec, 0, Layout, 0.1, 100.0)
  text = [r.getMessage() for r in caplog.records]
  assert any('task 1' in m and 'grew more than 100x' in m and 'runs [1]' in m
             for m in text)
  assert any('Task 1: training accuracy' in m and 'below chance' in m and
             'runs [1]' in m for m in text)
  caplog.clear()
  with caplog.at_level(logging.WARNING):  # a stream whose tasks may end low
    health.warn_divergence(rec, 0, Layout, None, 100.0)
  assert not any('below chance' in r.getMessage() for r in caplog.records)


def test_diverged_tasks_per_swept_value():
  rec = record_lib.RunRecord.empty(4, 3, 2, 2)
  rec.losses[:] = 1.0
  rec.train_accuracy[:] = 0.9
  rec.losses[2, 1] = [1.0, 500.0]  # value b, task 2: one run's loss grew
  rec.train_accuracy[:2, 2, -1] = [0.12, 0.15]  # value a, task 3: both low
  rec.train_accuracy[3, 0, -1] = 0.1  # one run of b only: not every run
  groups = {'a': np.array([0, 1]), 'b': np.array([2, 3])}
  got = health.diverged_tasks(rec, 3, groups, lambda t: 0.1, 100.0)
  assert got == {'a': {'loss': [], 'chance': [3]},
                 'b': {'loss': [2], 'chance': []}}
  assert health.diverged_tasks(rec, 3, groups, lambda t: None, 100.0) == {
      'b': {'loss': [2], 'chance': []}}
  with pytest.raises(health.Diverged) as e:
    health.check_diverged(rec, 3, groups, lambda t: 0.1, 100.0, '/w', False)
  msg = str(e.value)
  assert '\n' not in msg and 'a: tasks 3 ended at chance' in msg
  assert 'b: the loss grew more than 100x in tasks 2' in msg
  assert 'expect_divergence' in msg
  health.check_diverged(rec, 3, groups, lambda t: 0.1, 100.0, '/w', True)


def test_items_stream_declares_its_sessions_may_end_at_chance():
  from mpl_jax.train import interfaces, registry  # pylint: disable=g-import-not-at-top
  items = registry.STREAMS.get('items')
  assert items.chance(None, 0) is None
  assert registry.STREAMS.get('permuted').chance is interfaces.training_chance


def test_finite_explosion_fails_the_run(tmp_path):
  c = tiny_config(**{'data.num_tasks': 2, 'num_seeds': 1,
                     'optimizer.learning_rate': 1e30})
  with pytest.raises(health.Diverged, match='ended at chance in every run'):
    train.train_and_evaluate(c, str(tmp_path / 'a'))
  assert (tmp_path / 'a' / 'summary.json').exists()  # outputs still written
  c.protocol.expect_divergence = True
  assert train.train_and_evaluate(c, str(tmp_path / 'b'))[
      'tasks_completed'] == 2
  c.protocol.expect_divergence = False
  c.optimizer.learning_rate = tiny_config().optimizer.learning_rate
  assert train.train_and_evaluate(c, str(tmp_path / 'c'))[  # not flagged
      'tasks_completed'] == 2


def test_eta_counts_the_tasks_after_the_first(monkeypatch, caplog):
  from mpl_jax.train import hooks  # pylint: disable=g-import-not-at-top
  clock = [0.0]
  monkeypatch.setattr(hooks.time, 'time', lambda: clock[0])
  rec = record_lib.RunRecord.empty(1, 10, 1, 1)
  prog = hooks.Progress('/nonexistent', 0.0, 10, [str(i) for i in range(10)],
                        lambda t: 100, primary=False)
  with caplog.at_level(logging.INFO):
    for t, seconds in enumerate([100.0, 10.0, 10.0]):  # task 1 compiles
      prog.before_task(t)
      clock[0] += seconds
      prog.after_task(t, None, rec)
      prog.report(t, rec)
  lines = [r.getMessage() for r in caplog.records if 'done in' in r.getMessage()]
  assert 'ETA after the next task' in lines[0]
  assert lines[1].endswith('ETA 80s')  # 10 s a task, 8 left
  assert lines[2].endswith('ETA 70s')


def test_device_roc_auc_equals_the_numpy_metric():
  rng = np.random.default_rng(0)
  pos = np.round(rng.normal(0.5, 1, 300), 1)  # rounded: many ties
  neg = np.round(rng.normal(0.0, 1, 200), 1)
  np.testing.assert_allclose(
      evaluators.roc_auc(jnp.asarray(pos), jnp.asarray(neg)),
      metrics.roc_auc(pos, neg), rtol=1e-6)


def test_summary_table_lists_each_group():
  summ = {'sweep': {'name': 'meta', 'groups': {
      'meta=0.0': {'average_accuracy': {'mean': 0.5, 'std': 0.01},
                   'backward_transfer': {'mean': -0.2, 'std': 0.02}},
      'meta=1.0': {'average_accuracy': {'mean': 0.7, 'std': 0.03},
                   'backward_transfer': {'mean': -0.1, 'std': 0.01}}}}}
  table = record_lib.summary_table(summ)
  assert 'meta=0.0' in table and '50.00 ± 1.00' in table
  assert '70.00 ± 3.00' in table and '-10.00 ± 1.00' in table


def test_sigterm_stops_cleanly_and_the_same_command_resumes(tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  cmd = [sys.executable, '-m', 'launch.main', '--config=configs/quickstart.py',
         f'--workdir={tmp_path}', '--config.num_seeds=1',
         '--config.data.num_tasks=30', '--config.model.hidden=(16,)',
         '--config.protocol.epochs_per_task=1', '--config.sweep.name=',
         '--config.plot=False', '--config.protocol.tensorboard=False']
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=root,
             PYTHONUNBUFFERED='1')
  p = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
  lines = []
  for line in p.stdout:
    lines.append(line)
    if 'task 2/30' in line:
      p.send_signal(15)  # SIGTERM, as a scheduler would
      break
  out = ''.join(lines) + p.communicate(timeout=300)[0]
  assert p.returncode == 130, out[-2000:]
  assert 'rerun the same command to resume' in out
  assert 'Traceback' not in out
  assert not os.path.exists(tmp_path / workdir_lib.LOCK)
  done = checkpoint.Checkpointer(str(tmp_path / 'checkpoints')).steps()
  assert done and done[-1] >= 2
