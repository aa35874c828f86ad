"""resnet_v1_graph.layers against tf.compat.v1.layers (the oracle)."""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import layers
from resnet_v1_graph.tools import references as oracles

RNG = np.random.RandomState(0)
IMAGES = RNG.normal(1.0, 2.0, (6, 9, 9, 3)).astype(np.float32)

CASES = {
    'conv2d': lambda m, x, t: m.conv2d(x, 4, 3, strides=2, padding='same',
                                       name='c'),
    'conv2d_valid_dilated': lambda m, x, t: m.conv2d(
        x, 4, 3, padding='valid', dilation_rate=2, activation=tf.nn.relu),
    # A 'same' convolution over a 1x1 image is built from its centre tap.
    'conv2d_one_pixel': lambda m, x, t: m.conv2d(
        x[:, :1, :1], 4, 3, strides=2, padding='same') + m.conv2d(
            x[:, 4:5, 4:5], 4, 5, padding='same', dilation_rate=2),
    'batch_normalization': lambda m, x, t: m.batch_normalization(
        x, training=t, name='bn'),
    'dense': lambda m, x, t: m.dense(tf.reduce_mean(x, [1, 2]), 5,
                                     name='d'),
    'pools': lambda m, x, t: m.max_pooling2d(x, 3, 2, padding='same') +
                             m.average_pooling2d(x, 3, 2, padding='same'),
}


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('case', sorted(CASES))
def test_matches_tf_layers(case, training):
  results = []
  values = None
  for module in (oracles.tf_layers(), layers):
    graph = tf.Graph()
    with graph.as_default(), tf.Session() as sess:
      is_training = tf.placeholder_with_default(training, [])
      y = CASES[case](module, tf.constant(IMAGES), is_training)
      variables = tf.global_variables()
      sess.run(tf.global_variables_initializer())
      if values is None:
        values = [RNG.uniform(0.5, 1.5, v.shape).astype(np.float32)
                  for v in variables]
      for v, value in zip(variables, values):
        v.load(value, sess)
      out, _ = sess.run([y, tf.get_collection(tf.GraphKeys.UPDATE_OPS)])
      results.append((
          [(v.op.name, v.shape.as_list()) for v in variables],
          [v.op.name for v in tf.trainable_variables()],
          out, sess.run(variables)))
  (ref_vars, ref_trainable, ref_out, ref_values), (
      vars_, trainable, out, values_after) = results
  assert vars_ == ref_vars and trainable == ref_trainable
  np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
  for ours, ref in zip(values_after, ref_values):
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_unnamed_layers_are_numbered_like_tf_layers():
  with tf.Graph().as_default():
    x = tf.constant(IMAGES)
    layers.conv2d(x, 2, 1)
    layers.conv2d(x, 2, 1)
    names = [v.op.name for v in tf.global_variables()]
  assert names == ['conv2d/kernel', 'conv2d/bias', 'conv2d_1/kernel',
                   'conv2d_1/bias']


@pytest.mark.parametrize('call,message', [
    (lambda x: layers.conv2d(x[0], 2, 3), 'conv2d expects'),
    (lambda x: layers.conv2d(x, 2, 3, padding='full'), 'padding'),
    (lambda x: layers.dense(x, 2), 'dense expects'),
    (lambda x: layers.batch_normalization(x, axis=2), 'axis'),
])
def test_bad_arguments(call, message):
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=message):
      call(tf.constant(IMAGES))


@pytest.mark.parametrize('kernel,strides,rate', [(3, 2, 1), (3, 1, 1),
                                                 (5, 1, 2), ((3, 5), 2, 1)])
def test_one_pixel_kernel_gradient_matches_tf_layers(kernel, strides, rate):
  """Over a 1x1 image only the centre tap sees data: every other tap's
  gradient is exactly zero, in ours as in the full convolution."""
  image = IMAGES[:, :1, :1]
  kernel_value = RNG.normal(size=np.append(np.broadcast_to(kernel, 2),
                                           [3, 4])).astype(np.float32)
  gradients = []
  for module in (oracles.tf_layers(), layers):
    with tf.Graph().as_default(), tf.Session() as sess:
      y = module.conv2d(tf.constant(image), 4, kernel, strides=strides,
                        padding='same', dilation_rate=rate, name='c')
      weights = [v for v in tf.global_variables() if 'kernel' in v.op.name]
      sess.run(tf.global_variables_initializer())
      weights[0].load(kernel_value, sess)
      gradients.append(sess.run(tf.gradients(tf.reduce_sum(y ** 2),
                                             weights)[0]))
  reference, ours = gradients
  centre = tuple(k // 2 for k in reference.shape[:2])
  off_centre = np.ones(reference.shape[:2], bool)
  off_centre[centre] = False
  assert not ours[off_centre].any() and not reference[off_centre].any()
  np.testing.assert_allclose(ours[centre], reference[centre], rtol=1e-5)
