"""Value-level tests of the continual-learning metrics (summary.json).

Every expected number is worked out by hand in the comments from the small
matrices below.
"""

import numpy as np
import pytest

from mpl_jax.train import items as items_plugin
from mpl_jax.train import metrics

# R[i, j]: accuracy on task j after training task i (3 tasks). Task 0 gains
# after task 1 (0.9 -> 0.95), so forgetting (from the best) and backward
# transfer (from the diagonal) differ.
R = np.array([[0.90, 0.10, 0.20],
              [0.95, 0.80, 0.30],
              [0.50, 0.70, 0.95]])
# b[j]: accuracy on task j of the untrained network.
B = np.array([0.10, 0.05, 0.10])
# A second run: only the last row differs.
R2 = np.array([[0.90, 0.10, 0.20],
               [0.95, 0.80, 0.30],
               [0.80, 0.80, 0.90]])


def test_average_accuracy():
  # mean of the last row: (0.5 + 0.7 + 0.95) / 3 = 2.15 / 3
  np.testing.assert_allclose(metrics.average_accuracy(R), 2.15 / 3)
  # R2: (0.8 + 0.8 + 0.9) / 3 = 2.5 / 3; stacks give one value per run.
  np.testing.assert_allclose(metrics.average_accuracy(np.stack([R, R2])),
                             [2.15 / 3, 2.5 / 3])


def test_backward_transfer():
  # mean over j < 2 of R[2, j] - R[j, j]:
  #   j = 0: 0.5 - 0.9 = -0.4;  j = 1: 0.7 - 0.8 = -0.1;  mean -0.25
  np.testing.assert_allclose(metrics.backward_transfer(R), -0.25)
  # R2: (0.8 - 0.9) + (0.8 - 0.8) = -0.1, mean -0.05
  np.testing.assert_allclose(metrics.backward_transfer(np.stack([R, R2])),
                             [-0.25, -0.05])


def test_forgetting():
  # mean over j < 2 of max_{j <= i < 2} R[i, j] - R[2, j]:
  #   j = 0: max(0.9, 0.95) - 0.5 = 0.45;  j = 1: 0.8 - 0.7 = 0.1
  #   mean 0.275 (not 0.25 = -BWT: the best accuracy of task 0 came later)
  np.testing.assert_allclose(metrics.forgetting(R), 0.275)
  # R2: (0.95 - 0.8) + (0.8 - 0.8) = 0.15, mean 0.075
  np.testing.assert_allclose(metrics.forgetting(np.stack([R, R2])),
                             [0.275, 0.075])


def test_forward_transfer():
  # mean over j > 0 of R[j-1, j] - b[j]:
  #   j = 1: 0.1 - 0.05 = 0.05;  j = 2: 0.3 - 0.1 = 0.2;  mean 0.125
  np.testing.assert_allclose(metrics.forward_transfer(R, B), 0.125)
  # Per run: the rows above the diagonal are the same in R2.
  np.testing.assert_allclose(
      metrics.forward_transfer(np.stack([R, R2]), np.stack([B, B + 0.05])),
      [0.125, 0.075])


def test_last_tasks_accuracy():
  # k = 2: mean of R[2, 1:] = (0.7 + 0.95) / 2 = 0.825
  np.testing.assert_allclose(metrics.last_tasks_accuracy(R, k=2), 0.825)
  # k = 5 > 3 tasks: every task, i.e. the average accuracy.
  np.testing.assert_allclose(metrics.last_tasks_accuracy(R), 2.15 / 3)


def test_average_accuracy_after_each_task():
  # i = 0: 0.9;  i = 1: (0.95 + 0.8) / 2 = 0.875;  i = 2: 2.15 / 3
  np.testing.assert_allclose(metrics.average_accuracy_after_each_task(R),
                             [0.9, 0.875, 2.15 / 3])


def test_one_task_metrics_are_undefined():
  one = np.array([[[0.7]], [[0.9]]])  # two runs, one task
  for value in (metrics.backward_transfer(one), metrics.forgetting(one),
                metrics.forward_transfer(one, np.zeros((2, 1)))):
    assert value.shape == (2,) and np.isnan(value).all()
  np.testing.assert_allclose(metrics.average_accuracy(one), [0.7, 0.9])
  assert metrics.mean_std(metrics.forgetting(one)) == {'mean': None,
                                                        'std': None}


def test_mean_std():
  # mean (0.7 + 0.9) / 2 = 0.8; population std sqrt((0.1^2 + 0.1^2) / 2)
  # = 0.1 (not the sample std 0.1414).
  out = metrics.mean_std(np.array([0.7, 0.9]))
  assert out['mean'] == pytest.approx(0.8)
  assert out['std'] == pytest.approx(0.1)
  assert isinstance(out['mean'], float) and isinstance(out['std'], float)
  assert metrics.mean_std(np.array([0.5, np.nan])) == {'mean': None,
                                                        'std': None}
  # Per-pass lists: column-wise mean and std, and the values kept.
  out = items_plugin.mean_std_values([[1, 4], [3, 4]])
  assert out == {'mean': [2.0, 4.0], 'std': [1.0, 0.0],
                 'values': [[1.0, 4.0], [3.0, 4.0]]}


def test_summarize_over_runs():
  out = metrics.summarize(np.stack([R, R2]), np.stack([B, B]))
  # average accuracy: runs 2.15/3 = 0.71667 and 2.5/3 = 0.83333: mean
  # 4.65/6 = 0.775, std half their difference, 0.35/6 = 0.058333.
  assert out['average_accuracy']['mean'] == pytest.approx(0.775)
  assert out['average_accuracy']['std'] == pytest.approx(0.35 / 6)
  # backward transfer -0.25, -0.05: mean -0.15, std 0.1.
  assert out['backward_transfer']['mean'] == pytest.approx(-0.15)
  assert out['backward_transfer']['std'] == pytest.approx(0.1)
  # forgetting 0.275, 0.075: mean 0.175, std 0.1.
  assert out['forgetting']['mean'] == pytest.approx(0.175)
  assert out['forgetting']['std'] == pytest.approx(0.1)
  # forward transfer 0.125 in both runs: std 0.
  assert out['forward_transfer'] == {'mean': pytest.approx(0.125),
                                     'std': pytest.approx(0.0)}
  # last 5 (all 3) tasks: as the average accuracy.
  assert out['last5_accuracy']['mean'] == pytest.approx(0.775)
  # after task 0: 0.9 both; after 1: 0.875 both; after 2: 0.775.
  np.testing.assert_allclose(out['average_accuracy_after_task']['mean'],
                             [0.9, 0.875, 0.775])
  np.testing.assert_allclose(out['average_accuracy_after_task']['std'],
                             [0.0, 0.0, 0.35 / 6], atol=1e-12)
  # final accuracy per task: (0.5 + 0.8)/2, (0.7 + 0.8)/2, (0.95 + 0.9)/2.
  np.testing.assert_allclose(out['final_accuracy_per_task']['mean'],
                             [0.65, 0.75, 0.925])
  np.testing.assert_allclose(out['final_accuracy_per_task']['std'],
                             [0.15, 0.05, 0.025])
  assert 'forward_transfer' not in metrics.summarize(np.stack([R, R2]))


def test_roc_auc():
  # pairs (pos, neg) over pos [3, 1, 2], neg [0, 2]:
  #   (3,0) 1, (3,2) 1, (1,0) 1, (1,2) 0, (2,0) 1, (2,2) tie 1/2
  #   AUC = 4.5 / 6 = 0.75
  assert metrics.roc_auc([3, 1, 2], [0, 2]) == pytest.approx(0.75)
  assert metrics.roc_auc([2, 3], [0, 1]) == 1.0      # separated
  assert metrics.roc_auc([0, 1], [2, 3]) == 0.0      # reversed
  assert metrics.roc_auc([1, 1], [1, 1, 1]) == 0.5   # all tied
  # Symmetry: swapping the two sides gives 1 - AUC (ties stay half).
  assert metrics.roc_auc([0, 2], [3, 1, 2]) == pytest.approx(0.25)
