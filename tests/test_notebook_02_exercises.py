"""Solutions to notebook 2's exercises (the classic mistakes), checked."""

import re

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v1_graph.nets import layers

SIZE = 16


def _net(images, is_training):
  """Notebook 2's small_net with TensorFlow's automatic layer names."""
  net = images
  for filters, stride in [(16, 1), (32, 2), (64, 2)]:
    net = layers.conv2d(net, filters, 3, strides=stride, padding='same')
    net = layers.batch_normalization(net, training=is_training,
                                     momentum=0.9)
    net = tf.nn.relu(net)
  return layers.dense(tf.reduce_mean(net, [1, 2]), 10)


def _digits_like(size=32, seed=0):
  rng = np.random.RandomState(seed)
  return (rng.uniform(size=(size, SIZE, SIZE, 1)).astype(np.float32),
          rng.randint(0, 10, size))


# Exercise 1: the moving mean after 10 updates on one batch.


def test_moving_mean_after_ten_updates_of_one_batch():
  images, _ = _digits_like()
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.constant(images * 3. + 1.)
    layers.batch_normalization(inputs, training=True, momentum=0.9,
                               name='bn')
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    moving_mean, = [v for v in tf.global_variables()
                    if v.op.name == 'bn/moving_mean']
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      for _ in range(10):
        session.run(updates)
      value = session.run(moving_mean)
  # Each update is m <- 0.9 m + 0.1 b from m = 0, so after n updates
  # m = b (1 - 0.9^n): 65% of the batch mean after 10.
  batch_mean = (images * 3. + 1.).mean(axis=(0, 1, 2))
  np.testing.assert_allclose(value, batch_mean * (1 - 0.9 ** 10),
                             rtol=1e-5)


# Exercise 2: rescue the restore of mistake 6 with a name map.


def _saved_name(name):
  """The name a variable of the shifted graph had when saved: its
  convolutions are numbered one higher (conv2d_k+1 was conv2d_k, and
  conv2d_1 was conv2d); batch norms and the dense layer kept theirs."""
  match = re.match(r'conv2d_(\d+)/(.*)', name)
  if not match:
    return name
  number = int(match.group(1)) - 1
  return '%s/%s' % ('conv2d_%d' % number if number else 'conv2d',
                    match.group(2))


def test_a_name_map_restores_into_the_shifted_graph(tmp_path):
  images, labels = _digits_like()
  trained = tf.Graph()
  with trained.as_default():
    x = tf.placeholder(tf.float32, [None, SIZE, SIZE, 1])
    training = tf.placeholder_with_default(False, [])
    logits = _net(x, training)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
      step = tf.train.AdamOptimizer(0.01).minimize(loss)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      for _ in range(5):
        session.run(step, {x: images, training: True})
      expected = session.run(logits, {x: images})
      path = tf.train.Saver().save(session, str(tmp_path / 'numbered.ckpt'))

  shifted = tf.Graph()
  with shifted.as_default():
    x = tf.placeholder(tf.float32, [None, SIZE, SIZE, 1])
    identity = np.zeros([3, 3, 1, 1], np.float32)
    identity[1, 1] = 1
    filtered = layers.conv2d(x, 1, 3, padding='same', trainable=False,
                             kernel_initializer=tf.constant_initializer(
                                 identity))
    logits = _net(filtered, False)
    stored = {name for name, _ in tf.train.list_variables(path)}
    # Every variable of the net under the name it was saved with; the
    # front filter (now conv2d) was never saved and keeps its initial value.
    net_variables = [v for v in tf.global_variables()
                     if not v.op.name.startswith('conv2d/')]
    by_saved_name = {_saved_name(v.op.name): v for v in net_variables}
    assert set(by_saved_name) <= stored
    assert by_saved_name['conv2d_2/kernel'].op.name == 'conv2d_3/kernel'
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      tf.train.Saver(by_saved_name).restore(session, path)
      got = session.run(logits, {x: images})
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  assert np.array_equal(got.argmax(1), expected.argmax(1))


# Exercise 3: a piecewise-constant learning rate in a real run.


def test_piecewise_constant_drops_after_its_boundaries():
  images, labels = _digits_like(size=16)
  graph = tf.Graph()
  with graph.as_default():
    global_step = tf.train.get_or_create_global_step()
    rate = tf.train.piecewise_constant(global_step, [100, 200],
                                       [0.01, 0.001, 0.0001])
    logits = layers.dense(tf.reshape(tf.constant(images), [16, -1]), 10)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    step = tf.train.AdamOptimizer(rate).minimize(loss,
                                                 global_step=global_step)
    seen = {}
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      for _ in range(201):
        session.run(step)
        at, value = session.run([global_step, rate])
        seen[at] = value
  # The boundaries belong to the interval before them: x <= 100 gives the
  # first value, so the rate drops at step 101, not 100.
  np.testing.assert_allclose([seen[100], seen[101], seen[200], seen[201]],
                             [0.01, 0.001, 0.001, 0.0001])
