"""The background writer runs per-task saves in order and never loses an
error."""

import threading
import time

import pytest

from mpl_jax.train import background


@pytest.mark.parametrize('enabled', [True, False])
def test_jobs_run_in_order_one_pending(enabled):
  w = background.BackgroundWriter(enabled=enabled)
  log, running = [], []

  def job(i):
    def run():
      running.append(i)
      assert len(running) == 1, 'two saves ran at once'
      time.sleep(0.01)
      log.append((i, threading.current_thread().name))
      running.pop()
    return run

  for i in range(5):
    w.submit(job(i))
  w.close()
  assert [i for i, _ in log] == list(range(5))
  on_worker = all(name.startswith('mpl_jax-save') for _, name in log)
  assert on_worker == enabled


def test_failed_save_is_raised_by_the_next_submit_and_by_close():
  w = background.BackgroundWriter()

  def bad():
    raise OSError('disk full')

  w.submit(bad)
  with pytest.raises(OSError, match='disk full'):
    w.submit(lambda: None)
  w.submit(bad)
  with pytest.raises(OSError, match='disk full'):
    w.close()


def test_close_while_failing_logs_instead_of_hiding_the_error(caplog):
  w = background.BackgroundWriter()

  def bad():
    raise OSError('disk full')

  w.submit(bad)
  with caplog.at_level('ERROR'):
    w.close(failing=True)  # must not raise
  assert 'disk full' in caplog.text
