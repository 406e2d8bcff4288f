"""Reference-protocol configs: their defaults are the reference's (as their
docstrings say), they validate, and the options they rely on work."""

from flax import nnx
import numpy as np
import pytest

from configs import reference_laborieux
from configs import reference_mesu
from mpl_jax.models import binary
from mpl_jax.train import validate


@pytest.mark.parametrize('dataset', reference_laborieux.DATASETS)
def test_laborieux_defaults_are_the_reference_code(dataset):
  c = reference_laborieux.get_config(dataset)
  validate.validate_config(c)
  doc = reference_laborieux.__doc__
  # Data: pixels / 255, no standardisation, 6 tasks, first one permuted.
  assert (c.data.scale, c.data.mean, c.data.std) == (1 / 255, 0.0, 1.0)
  assert c.data.stream == 'permuted' and c.data.permute_first
  assert c.data.num_tasks == 6 and c.data.train_subset == 0
  # BatchNorm: test-batch statistics, per-task BN (scenario 'task').
  assert c.model.bn_eval == 'batch' and "bn_eval='batch'" in doc
  assert c.model.bn_scale_init == 'ones' and "bn_scale_init='ones'" in doc
  assert c.protocol.per_task_bn and 'per_task_bn=True' in doc
  # A new Adam_meta per task: moments and step count restart.
  assert c.protocol.reset_optimizer == 'all'
  assert "reset_optimizer='all'" in doc
  assert c.optimizer.eps_placement == 'pytorch' and "'pytorch'" in doc
  assert (c.optimizer.learning_rate, c.optimizer.weight_decay) == (0.005,
                                                                   1e-7)
  assert tuple(c.model.hidden) == (4096, 4096) and c.model.init_scale == 0.05
  assert c.protocol.batch_size == 100 and c.protocol.epochs_per_task == 40
  assert c.protocol.eval_batch_size == (1000 if dataset == 'mnist' else 100)
  assert tuple(c.sweep['values']) == (0.0, 0.5, 1.0, 1.35)
  assert c.num_seeds >= 5


def test_laborieux_rejects_an_unknown_dataset():
  with pytest.raises(ValueError, match='dataset must be one of'):
    reference_laborieux.get_config('cifar10')


@pytest.mark.parametrize('method', reference_mesu.METHODS)
@pytest.mark.parametrize('dataset', reference_mesu.DATASETS)
def test_mesu_defaults_are_the_reference_code(method, dataset):
  c = reference_mesu.get_config(f'{method},{dataset}')
  validate.validate_config(c)
  doc = reference_mesu.__doc__
  mean, std = reference_mesu.STATS[dataset]
  # Standardised inputs, with the statistics the docstring gives.
  assert (c.data.scale, c.data.mean, c.data.std) == (1 / 255, mean, std)
  assert f'{mean:.4f} / {std:.4f}' in doc
  assert c.data.num_tasks == 200 and c.data.permute_first
  assert c.protocol.batch_size == 1 and c.protocol.epochs_per_task == 1
  assert c.protocol.eval_tasks == 'all' and c.protocol.eval_batch_size == 128
  assert c.protocol.reset_optimizer == 'none'  # no BN, nothing reset
  assert c.protocol.task_boundaries == (method in ('ewc_online', 'si'))
  assert (c.seed, c.num_seeds) == (1000, 5)
  if method in ('mesu', 'bgd'):
    assert c.model.name == 'bayesian_mlp' and c.model.num_mc_samples == 10
  else:
    assert c.model.name == 'mlp' and not c.model.use_bias
    assert c.model.kernel_init == 'fan_in' and not c.model.use_bn
  if method == 'si':
    assert c.optimizer.nonnegative and c.optimizer.damping == 1.0


def test_mesu_default_dataset_is_mnist_and_bad_args_fail():
  assert reference_mesu.get_config('mesu').data.dataset == 'mnist'
  with pytest.raises(ValueError, match='DATASET'):
    reference_mesu.get_config('mesu,cifar10')
  with pytest.raises(ValueError, match='method must be one of'):
    reference_mesu.get_config('adam')


def test_fan_in_init_bounds_weights_and_biases_by_one_over_sqrt_fan_in():
  m = binary.MLP((784, 50, 10), use_bn=False, use_bias=True,
                 kernel_init='fan_in', rngs=nnx.Rngs(0))
  for layer in m.layers:
    bound = 1 / np.sqrt(layer.kernel.shape[0])
    for leaf in (layer.kernel[...], layer.bias[...]):
      leaf = np.asarray(leaf)
      assert np.abs(leaf).max() <= bound
      # Spread over the whole interval, not a narrower one.
      assert np.abs(leaf).max() > 0.8 * bound
  with pytest.raises(ValueError, match='kernel_init must be one of'):
    binary.MLP((4, 2), use_bn=False, kernel_init='he', rngs=nnx.Rngs(0))
