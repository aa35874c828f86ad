"""The reference implementations: tf-slim's own nets and the classic class.

Two independent builds that our code must match: tf-slim 1.1.0's
`tf_slim.nets.resnet_v1/resnet_v2`, and the classic TF 1.x ResNet class
written directly against `tf.compat.v1.layers`. The tests compare our
networks and layers with them, and the benchmark times tf-slim's nets beside
ours.

They need what the library does not: tf-keras installed (`pip install
--no-deps tf-keras`, see scripts/install.sh) and `TF_USE_LEGACY_KERAS=1` set
before TensorFlow is imported (tests/conftest.py and the benchmark set it).
TensorFlow's lazy loaders still name `tf_keras.legacy_tf_layers`, which
tf-keras moved to `tf_keras.src.legacy_tf_layers`; every function here points
the old name at the new home first. Nothing in the library core imports this
module: only `tools` and the tests do.

Typical use:

  from resnet_v1_graph.tools import references

  _, reference_v1, reference_v2 = references.slim_nets()
  tensors = references.classic_resnet(18, 32, 32, 1, 10)  # default graph
"""

import importlib
import os
import sys

import tensorflow.compat.v1 as tf
import tf_slim

_LEGACY = 'tf_keras.legacy_tf_layers'
_LEGACY_SOURCE = 'tf_keras.src.legacy_tf_layers'
_SUBMODULES = ('base', 'convolutional', 'core', 'normalization', 'pooling',
               'variable_scope_shim')


def _alias_legacy_layers():
  if os.environ.get('TF_USE_LEGACY_KERAS') != '1':
    raise RuntimeError('set TF_USE_LEGACY_KERAS=1 before importing tensorflow')
  if _LEGACY in sys.modules:
    return
  sys.modules[_LEGACY] = importlib.import_module(_LEGACY_SOURCE)
  for name in _SUBMODULES:
    sys.modules['%s.%s' % (_LEGACY, name)] = importlib.import_module(
        '%s.%s' % (_LEGACY_SOURCE, name))


def slim():
  """Returns the `tf_slim` module with its layers made to build."""
  _alias_legacy_layers()
  return tf_slim


def slim_nets():
  """Returns tf-slim 1.1.0's `(resnet_utils, resnet_v1, resnet_v2)`."""
  _alias_legacy_layers()
  # Imported here: only the paths that compare with tf-slim need them.
  from tf_slim.nets import resnet_utils, resnet_v1, resnet_v2
  return resnet_utils, resnet_v1, resnet_v2


def tf_layers():
  """Returns `tf.compat.v1.layers` backed by tf-keras."""
  _alias_legacy_layers()
  return tf.layers


def classic_resnet(depth, height, width, channel, num_classes,
                   learning_rate=1e-3, decay_rate=0.96, decay_steps=100):
  """The classic TF 1.x ResNet class, built with `tf.compat.v1.layers`.

  Builds into the default graph: placeholders `input_x`, `input_y`,
  `is_training`, the network, softmax cross-entropy, `global_step`,
  staircase exponential decay and Adam. Returns a dict of the tensors.
  Written directly against tf.layers, independently of the library.
  """
  layers = tf_layers()
  units = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3],
           101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}[depth]
  input_x = tf.placeholder(tf.float32, [None, height, width, channel],
                           name='input_x')
  input_y = tf.placeholder(tf.float32, [None, num_classes], name='input_y')
  is_training = tf.placeholder_with_default(False, [], name='is_training')

  def conv_bn(x, filters, kernel, strides, name, relu):
    x = layers.conv2d(x, filters, kernel, strides=strides, padding='same',
                      name=name)
    x = layers.batch_normalization(x, training=is_training, name=name + '_BN')
    return tf.nn.relu(x) if relu else x

  x = conv_bn(input_x, 64, 7, 2, 'First_Conv', True)
  x = layers.max_pooling2d(x, 3, 2, padding='same')
  for i, blocks in enumerate(units):
    filters = 64 * 2 ** i
    for j in range(blocks):
      name = 'stack_%d_block_%d' % (i, j)
      stride = 2 if (i > 0 and j == 0) else 1
      if depth >= 50:
        plan = [(filters, 1), (filters, 3), (4 * filters, 1)]
      else:
        plan = [(filters, 3), (filters, 3)]
      y = x
      for k, (f, kernel) in enumerate(plan):
        y = conv_bn(y, f, kernel, stride if k == 0 else 1,
                    '%s_conv_%d' % (name, k), k < len(plan) - 1)
      out = plan[-1][0]
      shortcut = x
      if stride != 1 or x.shape[-1] != out:
        shortcut = conv_bn(x, out, 1, stride, name + '_shortcut', False)
      x = tf.nn.relu(y + shortcut)
  x = tf.reduce_mean(x, [1, 2])
  logits = layers.dense(
      x, num_classes,
      kernel_initializer=tf.truncated_normal_initializer(stddev=0.1))
  prediction = tf.argmax(logits, 1)
  loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(
      labels=input_y, logits=logits))
  # As the class is usually written: an int64 step.
  global_step = tf.train.get_or_create_global_step()
  lr = tf.train.exponential_decay(learning_rate, global_step, decay_steps,
                                  decay_rate, staircase=True)
  with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    optimize = tf.train.AdamOptimizer(lr).minimize(loss,
                                                   global_step=global_step)
  return dict(input_x=input_x, input_y=input_y, is_training=is_training,
              logits=logits, prediction=prediction, loss=loss,
              optimize=optimize, global_step=global_step)
