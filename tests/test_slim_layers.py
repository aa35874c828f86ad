"""resnet_v2_slim.layers against tf_slim's own layers (the oracle)."""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim

from resnet_v1_graph.tools import references as oracles
from resnet_v2_slim import layers

RNG = np.random.RandomState(0)
IMAGES = RNG.normal(size=(4, 7, 9, 3)).astype(np.float32)


def _build(layer_fn, inputs, **kwargs):
  """Builds `layer_fn` in a fresh graph; returns graph, input, output."""
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(0)
    x = tf.placeholder(tf.float32, (None,) + inputs.shape[1:], name='x')
    y = layer_fn(x, **kwargs)
  return graph, x, y


def _variables(graph, *names):
  by_name = {v.op.name: v for v in graph.get_collection('variables')}
  return [by_name[name] for name in names]


def _collections(graph):
  """Non-empty collections: name -> [item names]."""
  items = {key: [getattr(item, 'name', None)
                 for item in graph.get_collection(key)]
           for key in graph.get_all_collection_keys()}
  return {key: names for key, names in items.items() if names}


def _run_pair(ref_fn, ours_fn, inputs, fetch_updates=False, **kwargs):
  """Builds both, loads the same random variable values, runs both.

  Returns:
    (ref_graph, ref_x, ref_y), (our_graph, ...), [(ref_out, ref_vars),
    (our_out, our_vars)].
  """
  ref = _build(ref_fn, inputs, **kwargs)
  our = _build(ours_fn, inputs, **kwargs)
  assert ([(v.op.name, v.shape.as_list()) for v in ref[0].get_collection(
      'variables')] == [(v.op.name, v.shape.as_list())
                        for v in our[0].get_collection('variables')])
  results = []
  values = None
  for graph, x, y in (ref, our):
    with graph.as_default(), tf.Session(graph=graph) as sess:
      sess.run(tf.global_variables_initializer())
      variables = tf.global_variables()
      if values is None:
        values = [RNG.uniform(0.5, 1.5, v.shape).astype(np.float32)
                  for v in variables]
      for v, value in zip(variables, values):
        v.load(value, sess)
      fetches = [y]
      if fetch_updates:
        fetches.append(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
      out = sess.run(fetches, {x: inputs})[0]
      results.append((out, sess.run(variables)))
  return ref, our, results


@pytest.mark.parametrize('kwargs', [
    dict(num_outputs=5, kernel_size=3),
    dict(num_outputs=5, kernel_size=[3, 1], stride=2, padding='VALID'),
    dict(num_outputs=4, kernel_size=3, rate=2, activation_fn=None),
    dict(num_outputs=4, kernel_size=1, biases_initializer=None),
    dict(num_outputs=6, kernel_size=3, normalizer_fn='batch_norm',
         normalizer_params={'is_training': False, 'scale': True}),
    dict(num_outputs=6, kernel_size=3, scope='named',
         weights_regularizer='l2'),
])
def test_conv2d_matches_slim(kwargs):
  slim = oracles.slim()

  def make(module):
    def fn(x, **kw):
      kw = dict(kw)
      if kw.get('normalizer_fn') == 'batch_norm':
        kw['normalizer_fn'] = module.batch_norm
      if kw.get('weights_regularizer') == 'l2':
        kw['weights_regularizer'] = module.l2_regularizer(0.01)
      return module.conv2d(x, **kw)
    return fn

  ref, our, ((ref_out, _), (our_out, _)) = _run_pair(
      make(slim), make(layers), IMAGES, **kwargs)
  np.testing.assert_allclose(our_out, ref_out, rtol=1e-5, atol=1e-5)
  ours, theirs = _collections(our[0]), _collections(ref[0])
  assert {k: len(v) for k, v in ours.items()} == {
      k: len(v) for k, v in theirs.items()}
  for key in ('variables', 'trainable_variables', 'model_variables'):
    assert ours[key] == theirs[key]


def _batch_norm_fn(module, is_training, fused, decay=0.9):
  def fn(x):
    training = is_training
    if training == 'placeholder':
      training = tf.placeholder_with_default(True, [], name='is_training')
    return module.batch_norm(x, decay=decay, scale=True, epsilon=1e-3,
                             is_training=training, fused=fused,
                             activation_fn=tf.nn.relu)
  return fn


@pytest.mark.parametrize('is_training', ['placeholder', True, False])
@pytest.mark.parametrize('fused,shape', [
    (None, (8, 5, 6, 3)), (False, (8, 5, 6, 3)), (False, (16, 3))])
def test_batch_norm_matches_slim(is_training, fused, shape):
  slim = oracles.slim()
  inputs = RNG.normal(2.0, 3.0, size=shape).astype(np.float32)
  ref, our, ((ref_out, ref_vars), (our_out, our_vars)) = _run_pair(
      _batch_norm_fn(slim, is_training, fused),
      _batch_norm_fn(layers, is_training, fused), inputs, fetch_updates=True)
  np.testing.assert_allclose(our_out, ref_out, rtol=1e-5, atol=1e-5)
  assert len(our[0].get_collection(tf.GraphKeys.UPDATE_OPS)) == len(
      ref[0].get_collection(tf.GraphKeys.UPDATE_OPS))
  # After the update ops ran, every variable agrees.
  for ref_v, our_v in zip(ref_vars, our_vars):
    np.testing.assert_allclose(our_v, ref_v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('is_training', ['placeholder', True, False])
def test_batch_norm_rank2_fused_hand_computed(is_training):
  # slim's own rank-2 path no longer builds on TF 2.x, so the oracle here is
  # the formula: normalize, scale, shift, ReLU; moving averages toward the
  # batch mean and the unbiased batch variance.
  inputs = RNG.normal(2.0, 3.0, size=(16, 3)).astype(np.float32)
  graph, x, y = _build(_batch_norm_fn(layers, is_training, None, decay=0.9),
                       inputs)
  gamma, beta = np.array([0.5, 1.0, 2.0]), np.array([0.1, -0.2, 0.3])
  mean0, var0 = np.array([1.0, 0.0, -1.0]), np.array([1.0, 4.0, 9.0])
  with graph.as_default(), tf.Session() as sess:
    values = dict(zip(('gamma', 'beta', 'moving_mean', 'moving_variance'),
                      (gamma, beta, mean0, var0)))
    for v in tf.global_variables():
      v.load(values[v.op.name.split('/')[-1]], sess)
    out, _ = sess.run([y, tf.get_collection(tf.GraphKeys.UPDATE_OPS)],
                      {x: inputs})
    mean, var = sess.run(_variables(graph, 'BatchNorm/moving_mean',
                                    'BatchNorm/moving_variance'))
  if is_training is False:
    expected = (inputs - mean0) / np.sqrt(var0 + 1e-3) * gamma + beta
    np.testing.assert_allclose(mean, mean0)
  else:
    expected = ((inputs - inputs.mean(0)) / np.sqrt(inputs.var(0) + 1e-3) *
                gamma + beta)
    np.testing.assert_allclose(mean, 0.9 * mean0 + 0.1 * inputs.mean(0),
                               rtol=1e-5)
    np.testing.assert_allclose(var, 0.9 * var0 + 0.1 * inputs.var(0, ddof=1),
                               rtol=1e-5)
  np.testing.assert_allclose(out, np.maximum(expected, 0), rtol=1e-4,
                             atol=1e-5)


def test_batch_norm_updates_in_place_without_collection():
  graph = tf.Graph()
  with graph.as_default():
    x = tf.constant(IMAGES)
    y = layers.batch_norm(x, decay=0.5, updates_collections=None)
    assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(y)
      mean, = sess.run(_variables(graph, 'BatchNorm/moving_mean'))
  # 0 -> 0.5 * 0 + 0.5 * batch mean.
  np.testing.assert_allclose(mean, 0.5 * IMAGES.mean((0, 1, 2)), rtol=1e-5,
                             atol=1e-6)


def test_l2_regularizer_hand_computed():
  weights = np.array([[1.0, -2.0], [3.0, 0.5]], np.float32)
  with tf.Graph().as_default(), tf.Session() as sess:
    loss = layers.l2_regularizer(0.1)(tf.constant(weights))
    assert sess.run(loss) == pytest.approx(0.1 * (1 + 4 + 9 + 0.25) / 2)
  assert layers.l2_regularizer(0.0)(weights) is None
  with pytest.raises(ValueError, match='>= 0'):
    layers.l2_regularizer(-1.0)


def test_a_regularized_variable_gets_one_loss_op_built_once():
  graph = tf.Graph()
  with graph.as_default():
    images = tf.constant(IMAGES)
    for reuse in (None, True):  # the second call reuses the variables
      with tf.variable_scope('net', reuse=reuse):
        layers.conv2d(images, 5, 3, scope='conv',
                      weights_regularizer=layers.l2_regularizer(0.01))
    with tf.variable_scope('free'):  # scale 0: no loss at all
      layers.conv2d(images, 5, 3, weights_regularizer=layers.l2_regularizer(
          0.0))
    losses = tf.losses.get_regularization_losses()
    # The collection's entry is used twice, as a trainer might (the loss
    # and its summary): no copy of it is built for either use.
    totals = [tf.add_n(losses), tf.add_n(losses)]
    l2_ops = [op for op in graph.get_operations() if op.type == 'L2Loss']
    assert len(losses) == 1 and len(l2_ops) == 1
    assert losses[0].op.name == 'net/conv/weights/Regularizer/l2_regularizer'
    (weights,) = _variables(graph, 'net/conv/weights')
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      values, got = sess.run([weights, totals])
  assert got[0] == got[1] == pytest.approx(
      0.01 * np.sum(values.astype(np.float64) ** 2) / 2, rel=1e-5)


@pytest.mark.parametrize('mode,uniform,expected_var', [
    ('FAN_IN', False, 2.0 / (3 * 3 * 64)),
    ('FAN_OUT', True, 2.0 / (3 * 3 * 128)),
    ('FAN_AVG', False, 2.0 / (3 * 3 * 96)),
])
def test_variance_scaling_initializer_variance(mode, uniform, expected_var):
  init = layers.variance_scaling_initializer(mode=mode, uniform=uniform,
                                             seed=1)
  with tf.Graph().as_default(), tf.Session() as sess:
    values = sess.run(init([3, 3, 64, 128]))
  assert values.var() == pytest.approx(expected_var, rel=0.05)
  assert abs(values.mean()) < 0.01


def test_fully_connected_and_softmax_match_slim():
  slim = oracles.slim()
  inputs = RNG.normal(size=(4, 6)).astype(np.float32)

  def make(module):
    return lambda x: module.softmax(module.fully_connected(x, 3))

  _, _, ((ref_out, _), (our_out, _)) = _run_pair(make(slim), make(layers),
                                                  inputs)
  np.testing.assert_allclose(our_out, ref_out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('pool', ['max_pool2d', 'avg_pool2d'])
@pytest.mark.parametrize('padding', ['SAME', 'VALID'])
def test_pools_match_slim(pool, padding):
  slim = oracles.slim()
  graph = tf.Graph()
  with graph.as_default(), tf.Session() as sess:
    x = tf.constant(IMAGES)
    ours = getattr(layers, pool)(x, 3, stride=2, padding=padding)
    ref = getattr(slim, pool)(x, 3, stride=2, padding=padding)
    ours, ref = sess.run([ours, ref])
  np.testing.assert_allclose(ours, ref)


def test_layers_work_under_tf_slim_arg_scope():
  with tf.Graph().as_default():
    x = tf.constant(IMAGES)
    with tf_slim.arg_scope([layers.conv2d], num_outputs=7,
                           activation_fn=None, normalizer_fn=layers.batch_norm):
      y = layers.conv2d(x, kernel_size=1, scope='c')
    assert y.shape.as_list() == [4, 7, 9, 7]
    names = sorted(v.op.name for v in tf.global_variables())
    assert names == ['c/BatchNorm/beta', 'c/BatchNorm/moving_mean',
                     'c/BatchNorm/moving_variance', 'c/weights']


@pytest.mark.parametrize('call,message', [
    (lambda x: layers.conv2d(x[0], 3, 3), 'rank-4'),
    (lambda x: layers.conv2d(x, 3, 3, stride=2, rate=2), 'rate'),
    (lambda x: layers.conv2d(x, 3, 3, padding='FULL'), 'padding'),
    (lambda x: layers.conv2d(x, 3, [3, 3, 3]), 'kernel_size'),
    (lambda x: layers.batch_norm(x, data_format='HWCN'), 'data_format'),
    (lambda x: layers.max_pool2d(x[0], 2), 'rank-4'),
])
def test_bad_arguments_name_the_problem(call, message):
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=message):
      call(tf.constant(IMAGES))
