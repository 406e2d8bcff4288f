"""Tests of the Bayesian MLP, its losses and its batch-1 fast path."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from scipy import stats

from mpl_jax.models import bayesian
from mpl_jax.rules import mesu as mesu_lib


def _model(sizes=(8, 5, 3), k=4, **kw):
  return bayesian.BayesianMLP(sizes, num_mc_samples=k, rngs=nnx.Rngs(0), **kw)


def test_param_state_structure_and_init():
  model = bayesian.BayesianMLP((784, 50, 10), num_mc_samples=10,
                               rngs=nnx.Rngs(0))
  _, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  pure = params.to_pure_dict()
  assert set(pure) == {'layers'}
  assert set(pure['layers']) == {0, 1}
  for i, (fan_in, fan_out) in enumerate(((784, 50), (50, 10))):
    node = pure['layers'][i]['kernel']
    assert mesu_lib.is_gaussian_param(node)
    assert node['mu'].shape == node['sigma'].shape == (fan_out, fan_in)
    bound = 4 / math.sqrt(fan_in)
    assert float(jnp.max(jnp.abs(node['mu']))) <= bound
    assert float(jnp.max(jnp.abs(node['mu']))) > 0.9 * bound
    np.testing.assert_allclose(node['sigma'], 0.5 * bound, rtol=1e-6)
  # The trainer-facing forms are recognised by the rule as well.
  assert mesu_lib.is_gaussian_param(params['layers'][0]['kernel'])
  assert mesu_lib.is_gaussian_param(nnx.as_pure(params)['layers'][0]['kernel'])
  assert not jax.tree.leaves(batch_stats)

  torch_init = bayesian.BayesianMLP((784, 50, 10), rngs=nnx.Rngs(0),
                                    init='pytorch')
  node = nnx.state(torch_init, nnx.Param).to_pure_dict()['layers'][0]['kernel']
  assert float(jnp.max(jnp.abs(node['mu']))) <= math.sqrt(2 / 784)
  np.testing.assert_allclose(node['sigma'], 0.5 * math.sqrt(1 / 50),
                             rtol=1e-6)
  with pytest.raises(ValueError, match='init'):
    bayesian.BayesianDense(3, 2, rngs=nnx.Rngs(0), init='xavier')


def test_shapes_and_rng_required():
  model = _model(k=6)
  x = jnp.ones((7, 8))
  fwd = jax.jit(lambda x, k: model(x, train=True, rng=k))
  assert fwd(x, jax.random.key(0)).shape == (6, 7, 3)         # typed key
  assert fwd(x[:1], jax.random.PRNGKey(1)).shape == (6, 1, 3)  # raw key
  assert model.mean_logits(x).shape == (7, 3)
  with pytest.raises(ValueError, match='rng'):
    model(x)
  with pytest.raises(ValueError, match='x must be'):
    model(jnp.ones((7, 9)), rng=jax.random.PRNGKey(0))


@pytest.mark.parametrize('noise', ['counter', 'threefry'])
def test_one_weight_draw_per_sample_per_layer_shared_over_batch(noise):
  model = _model(k=3, noise=noise)
  x = np.random.default_rng(5).uniform(size=(4, 8)).astype(np.float32)
  x[2] = x[0]                                # two identical rows
  rng = jax.random.PRNGKey(11)
  logits = jax.jit(lambda x, k: model(x, rng=k))(x, rng)
  # Same input, same sample -> same output: the noise is shared by the batch.
  chex.assert_trees_all_close(logits[:, 0], logits[:, 2], rtol=1e-6)
  # Different samples differ.
  assert float(jnp.abs(logits[0] - logits[1]).max()) > 1e-3
  # Exactly w_k = mu + sigma * eps_k with eps drawn once per layer per sample.
  state = nnx.state(model, nnx.Param).to_pure_dict()['layers']
  shapes = [(3,) + state[layer]['kernel']['mu'].shape for layer in range(2)]
  sampler = (jax.random.normal if noise == 'threefry'
             else bayesian.counter_normal)
  all_eps = jax.jit(lambda keys: [sampler(keys[i], shapes[i])
                                  for i in range(2)])(jax.random.split(rng, 2))
  h = np.asarray(x, np.float64)[None].repeat(3, 0)
  for layer in range(2):
    node = state[layer]['kernel']
    w = np.asarray(node['mu'], np.float64) + np.asarray(
        node['sigma'], np.float64) * np.asarray(all_eps[layer], np.float64)
    h = np.einsum('kbi,koi->kbo', h, w)
    if layer == 0:
      h = np.maximum(h, 0)
  np.testing.assert_allclose(logits, h, rtol=1e-4, atol=1e-5)


def test_seeds_differ_under_vmap():
  model = _model()
  x = jnp.ones((1, 8))
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  out = jax.jit(jax.vmap(lambda k: model(x, rng=k)))(keys)
  assert out.shape == (3, 4, 1, 3)
  assert float(jnp.abs(out[0] - out[1]).max()) > 1e-3


def np_log_softmax(z):
  z = np.asarray(z, np.float64)
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


@jax.jit
def _metrics(logits, labels):
  return (bayesian.mc_nll_loss(logits, labels),
          bayesian.predictive_probs(logits),
          bayesian.predictive_entropy(logits),
          bayesian.mutual_information(logits))


def test_losses_and_uncertainty_match_numpy():
  logits = np.array(
      3.0 * np.random.default_rng(2).normal(size=(3, 5, 6, 4)), np.float32)
  logits[1] = logits[1, :1]           # identical samples
  logits[2] *= 3.0                    # confident, disagreeing samples
  labels = np.array([0, 3, 1, 2, 2, 0])
  for case in logits:
    loss, probs, entropy, mi = _metrics(case, labels)
    logp = np_log_softmax(case)
    ref = -np.sum(np.mean(logp[:, np.arange(6), labels], axis=0))
    np.testing.assert_allclose(loss, ref, rtol=1e-5)
    p = np.exp(logp)
    pbar = p.mean(0)
    np.testing.assert_allclose(probs, pbar, rtol=1e-5, atol=1e-7)
    h_mean = -(pbar * np.log(pbar)).sum(-1)
    mean_h = -(p * logp).sum(-1).mean(0)
    np.testing.assert_allclose(entropy, h_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mi, h_mean - mean_h, rtol=1e-4, atol=2e-6)
    assert bool(jnp.all(mi >= 0))
  # Identical samples: no epistemic uncertainty (0, never negative).
  np.testing.assert_allclose(_metrics(logits[1], labels)[3], 0.0, atol=1e-6)
  # Many random cases, never negative.
  many = 5.0 * np.random.default_rng(3).normal(size=(10, 500, 10))
  assert bool(jnp.all(jax.jit(bayesian.mutual_information)(many) >= 0))


def _assert_same_law(f, e):
  """Two samples (draws along axis 0) have the same marginal laws."""
  f = np.asarray(f, np.float64).reshape(len(f), -1)
  e = np.asarray(e, np.float64).reshape(len(e), -1)
  num = len(e)
  se = np.sqrt((f.var(0) + e.var(0)) / num) + 1e-9
  assert np.all(np.abs(f.mean(0) - e.mean(0)) < 5 * se)
  # Two-sample Kolmogorov-Smirnov per element (Bonferroni over elements);
  # robust to the atoms at 0 that dead ReLUs put in the gradients.
  pvalues = [stats.ks_2samp(f[:, i], e[:, i]).pvalue
             for i in range(f.shape[1]) if e[:, i].std() > 0]
  assert min(pvalues) > 1e-3 / len(pvalues), min(pvalues)


def _collapsed_setup():
  rng = np.random.default_rng(4)
  n_in, n_out, k = 6, 3, 4
  mu = jnp.asarray(0.5 * rng.normal(size=(n_out, n_in)), jnp.float32)
  sigma = jnp.asarray(rng.uniform(0.1, 0.6, (n_out, n_in)), jnp.float32)
  x = rng.normal(size=n_in)
  x[1] = 0.0
  x = jnp.asarray(x, jnp.float32)
  c = jnp.asarray(rng.normal(size=(k, n_out)), jnp.float32)
  loss = lambda a: jnp.sum(c * jnp.tanh(a + 0.3))
  return mu, sigma, x, c, loss, k


def test_fast_path_algebra_equals_explicit_weights():
  """Given eps built from (z, n, delta), the fast path is weight sampling."""
  mu, sigma, x, _, loss, k = _collapsed_setup()
  z = bayesian.counter_normal(jax.random.PRNGKey(8), (k, 3))
  n = bayesian.counter_normal(jax.random.PRNGKey(9), (3, 6))
  fast = lambda m, s, xx: loss(bayesian._shared_input_dense(m, s, xx, z, n))
  g_fast = jax.jit(jax.grad(fast, argnums=(0, 1, 2)))(mu, sigma, x)
  a = bayesian._shared_input_dense(mu, sigma, x, z, n)
  delta = jax.grad(loss)(a)                                  # [K, out]
  # eps_k[j] = v_j z_kj + P_j n_j * delta_kj / ||delta_:j||.
  xs = sigma * x[None, :]
  s = jnp.sqrt(jnp.sum(xs * xs, 1))
  v = xs / s[:, None]                                        # [out, in]
  pn = n - v * jnp.sum(v * n, 1, keepdims=True)
  eps = (v[None] * z[:, :, None]
         + pn[None] * (delta / jnp.linalg.norm(delta, axis=0))[:, :, None])
  explicit = lambda m, s_, xx: loss(jnp.einsum('i,koi->ko', xx, m + s_ * eps))
  np.testing.assert_allclose(explicit(mu, sigma, x), loss(a), rtol=1e-5)
  g_exp = jax.jit(jax.grad(explicit, argnums=(0, 1, 2)))(mu, sigma, x)
  for gf, ge in zip(g_fast, g_exp):
    np.testing.assert_allclose(gf, ge, rtol=1e-4, atol=1e-5)


def test_fast_path_has_the_law_of_weight_sampling():
  mu, sigma, x, _, loss, k = _collapsed_setup()
  num = 10000
  keys = jax.random.split(jax.random.PRNGKey(10), num)

  def fast(key):
    kz, kn = jax.random.split(key)
    z = bayesian.counter_normal(kz, (k, 3))
    n = bayesian.counter_normal(kn, (3, 6))
    f = lambda s: loss(bayesian._shared_input_dense(mu, s, x, z, n))
    a = bayesian._shared_input_dense(mu, sigma, x, z, n)
    return a, jax.grad(f)(sigma)

  def explicit(key):
    eps = bayesian.counter_normal(key, (k, 3, 6))
    f = lambda s: jnp.einsum('i,koi->ko', x, mu + s * eps)
    return f(sigma), jax.grad(lambda s: loss(f(s)))(sigma)

  both = jax.jit(jax.vmap(lambda key: (fast(key), explicit(key))))
  (a_f, g_f), (a_e, g_e) = both(keys)
  for f, e in ((a_f, a_e), (g_f, g_e)):
    _assert_same_law(f, e)
  # Joint law: correlation between the forward output and the gradient.
  corr = lambda a, g: np.corrcoef(np.asarray(a[:, 0, 0]),
                                  np.asarray(g[:, 0, 0]))[0, 1]
  assert abs(corr(a_f, g_f) - corr(a_e, g_e)) < 0.05
  # The zero input column gets no sigma gradient.
  np.testing.assert_allclose(g_f[:, :, 1], 0.0)


def test_model_fast_path_matches_explicit_gradients_in_law():
  fast = _model(k=3)
  slow = _model(k=3, collapse_noise=False)
  graphdef, params = nnx.split(fast, nnx.Param)
  graphdef_slow, _ = nnx.split(slow, nnx.Param)
  params = nnx.as_pure(params)
  x = jnp.asarray(np.random.default_rng(1).uniform(size=(1, 8)), jnp.float32)
  y = jnp.array([2])

  def grads(gd, key):
    loss = lambda p: bayesian.mc_nll_loss(nnx.merge(gd, p)(x, rng=key), y)
    return jax.grad(loss)(params)['layers'][0]['kernel']['sigma']

  keys = jax.random.split(jax.random.PRNGKey(2), 6000)
  g_f, g_e = jax.jit(jax.vmap(
      lambda k: (grads(graphdef, k), grads(graphdef_slow, k))))(keys)
  _assert_same_law(g_f, g_e)


def test_local_reparameterization():
  model = _model(k=2, local_reparameterization=True)
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(3, 8)), jnp.float32)
  out = jax.jit(lambda k: model(x, rng=k))(jax.random.PRNGKey(1))
  assert out.shape == (2, 3, 3)
  # At batch size 1 the first layer's pre-activations have the law of weight
  # sampling: mean x mu, variance x^2 sigma^2.
  layer = model.layers[0]
  keys = jax.random.split(jax.random.PRNGKey(2), 10000)
  pre = jax.jit(jax.vmap(lambda k: layer(x[:1], rng=k, num_samples=1,
                                         local_reparameterization=True)))(keys)
  mu, sigma = layer.kernel['mu'][...], layer.kernel['sigma'][...]
  pre = np.asarray(pre[:, 0, 0], np.float64)
  np.testing.assert_allclose(pre.mean(0), mu @ x[0], atol=0.04)
  np.testing.assert_allclose(pre.std(0), np.sqrt(sigma**2 @ (x[0]**2)),
                             rtol=0.05)


def test_mesu_training_step_jit_vmap():
  # (vmap over seeds == single runs is tested for the rule in test_mesu.)
  model = _model(k=4)
  graphdef, _ = nnx.split(model, nnx.Param)
  tx = mesu_lib.mesu(sigma_prior=0.5, memory_window=1e4)

  def init(seed):
    m = bayesian.BayesianMLP((8, 5, 3), num_mc_samples=4,
                             rngs=nnx.Rngs(jax.random.key(seed)))
    params = nnx.as_pure(nnx.split(m, nnx.Param)[1])
    return params, tx.init(params)

  rng = np.random.default_rng(0)
  xs = jnp.asarray(rng.uniform(size=(10, 1, 8)), jnp.float32)
  ys = jnp.asarray(rng.integers(0, 3, (10, 1)), jnp.int32)

  def train(seed):
    params, opt_state = init(seed)

    def step(carry, inp):
      params, opt_state = carry
      x, y, key = inp
      loss = lambda p: bayesian.mc_nll_loss(
          nnx.merge(graphdef, p)(x, train=True, rng=key), y)
      value, grads = jax.value_and_grad(loss)(params)
      u, opt_state = tx.update(grads, opt_state, params, task_id=0)
      return (optax.apply_updates(params, u), opt_state), value

    keys = jax.random.split(jax.random.PRNGKey(seed), 10)
    return jax.lax.scan(step, (params, opt_state), (xs, ys, keys))

  (params, _), losses = jax.jit(jax.vmap(train))(jnp.arange(2))
  assert losses.shape == (2, 10) and bool(jnp.all(jnp.isfinite(losses)))
  sigmas = jax.tree.leaves(jax.tree.map(
      lambda n: n['sigma'], params, is_leaf=mesu_lib.is_gaussian_param))
  assert all(bool(jnp.all(s > 0)) for s in sigmas)
  assert float(jnp.abs(losses[0] - losses[1]).max()) > 0  # seeds differ


def test_zero_input_row_gives_finite_gradients():
  for kw in (dict(), dict(local_reparameterization=True)):
    model = _model(k=3, **kw)
    graphdef, params = nnx.split(model, nnx.Param)
    params = nnx.as_pure(params)
    loss = lambda p, x: bayesian.mc_nll_loss(
        nnx.merge(graphdef, p)(x, rng=jax.random.PRNGKey(0)), jnp.array([1]))
    grads = jax.jit(jax.grad(loss))(params, jnp.zeros((1, 8)))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
