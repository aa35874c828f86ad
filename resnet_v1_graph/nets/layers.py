"""`tf.compat.v1.layers`-compatible layers on raw ops.

Same function names, arguments, defaults and variable names as
`tf.compat.v1.layers` (`<name>/kernel`, `<name>/bias`, `<name>/{gamma, beta,
moving_mean, moving_variance}`), so checkpoints written by code that used
`tf.layers` in TF 1.x restore unchanged; but no Keras is involved, so they
build on TensorFlow >= 2.16. As with `tf.layers`, a layer without a `name`
gets a unique one (`conv2d`, `conv2d_1`, ...); models here always pass names,
because auto-numbered names are not a stable checkpoint contract.

Typical use:

  x = layers.conv2d(images, 64, 7, strides=2, padding='same',
                    name='First_Conv')
  x = layers.batch_normalization(x, training=is_training,
                                 name='First_Conv_BN')
"""

import tensorflow.compat.v1 as tf

from resnet_v2_slim.layers import apply_batch_norm

# tf.layers.batch_normalization's defaults.
BATCH_NORM_MOMENTUM = 0.99
BATCH_NORM_EPSILON = 1e-3
# Keras' ResNets normalize with this epsilon; networks that reproduce their
# outputs from converted weights (`keras_compatible`) use it too.
KERAS_BATCH_NORM_EPSILON = 1.001e-5

_PADDINGS = {'same': 'SAME', 'valid': 'VALID'}


def _pair(value):
  return (value, value) if isinstance(value, int) else tuple(value)


def _padding(padding):
  try:
    return _PADDINGS[padding.lower()]
  except (KeyError, AttributeError):
    raise ValueError("padding must be 'same' or 'valid', got %r" %
                     (padding,)) from None


def _variable(name, shape, initializer, trainable=True, dtype=tf.float32):
  # Plain get_variable: tf.layers puts its variables in GLOBAL_VARIABLES (and
  # TRAINABLE_VARIABLES), not slim's MODEL_VARIABLES.
  return tf.get_variable(name, shape, dtype, initializer=initializer,
                         trainable=trainable)


def _bias_and_activation(outputs, units, use_bias, bias_initializer,
                         activation, trainable):
  """The tail conv2d and dense share: an optional `bias`, then activation."""
  if use_bias:
    bias = _variable('bias', [units], bias_initializer, trainable,
                     outputs.dtype.base_dtype)
    outputs = tf.nn.bias_add(outputs, bias)
  return activation(outputs) if activation is not None else outputs


def _only_centre_tap(inputs, kernel_h, kernel_w, padding):
  """Whether a 'same' convolution over a 1x1 image sees only its kernel's
  centre (odd sizes; every other tap, at any stride and rate, lies on the
  zero padding).

  Such a convolution is built as a 1x1 one with the centre tap: the same
  outputs, exact zero gradients for the other taps, and no work on padding.
  Built in full, oneDNN's bfloat16 filter gradient (TensorFlow 2.21, stride
  2) returns varying, sometimes NaN, values for the padding-only taps from
  run to run, which made bf16 training of a ResNet on 16x16 images turn
  NaN.
  """
  height, width = inputs.shape[1], inputs.shape[2]
  return (_padding(padding) == 'SAME' and height == 1 and width == 1 and
          kernel_h % 2 == 1 and kernel_w % 2 == 1 and
          (kernel_h, kernel_w) != (1, 1))


def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding='valid',
           dilation_rate=(1, 1), activation=None, use_bias=True,
           kernel_initializer=None, bias_initializer=tf.zeros_initializer(),
           trainable=True, name=None):
  """2-D convolution, channels last; creates `kernel` and `bias`.

  Args:
    inputs: A tensor `[batch, height, width, channels]`.
    filters: Number of output channels.
    kernel_size: An int or a (height, width) pair.
    strides: An int or a pair.
    padding: 'same' or 'valid' (case-insensitive).
    dilation_rate: An int or a pair.
    activation: Optional activation function.
    use_bias: Add a `bias` variable.
    kernel_initializer: Initializer; None means Glorot uniform.
    bias_initializer: Initializer for `bias`.
    trainable: Add the variables to TRAINABLE_VARIABLES.
    name: Variable scope; defaults to a unique 'conv2d'.

  Returns:
    A tensor `[batch, out_height, out_width, filters]`.

  Raises:
    ValueError: If `inputs` is not rank 4 with known channels, or on a bad
      padding.
  """
  inputs = tf.convert_to_tensor(inputs)
  if inputs.shape.ndims != 4 or inputs.shape[-1] is None:
    raise ValueError('conv2d expects [batch, height, width, channels] with '
                     'known channels, got shape %s' % inputs.shape)
  kernel_h, kernel_w = _pair(kernel_size)
  stride_h, stride_w = _pair(strides)
  rate_h, rate_w = _pair(dilation_rate)
  with tf.variable_scope(name, default_name='conv2d', values=[inputs]):
    kernel = _variable(
        'kernel', [kernel_h, kernel_w, int(inputs.shape[-1]), filters],
        kernel_initializer or tf.glorot_uniform_initializer(), trainable,
        inputs.dtype.base_dtype)
    if _only_centre_tap(inputs, kernel_h, kernel_w, padding):
      centre = kernel[kernel_h // 2:kernel_h // 2 + 1,
                      kernel_w // 2:kernel_w // 2 + 1]
      outputs = tf.nn.conv2d(inputs, centre, [1, 1, 1, 1], 'VALID')
    else:
      outputs = tf.nn.conv2d(inputs, kernel, [1, stride_h, stride_w, 1],
                             _padding(padding),
                             dilations=[1, rate_h, rate_w, 1])
    return _bias_and_activation(outputs, filters, use_bias, bias_initializer,
                                activation, trainable)


def batch_normalization(inputs, axis=-1, momentum=BATCH_NORM_MOMENTUM,
                        epsilon=BATCH_NORM_EPSILON, center=True, scale=True,
                        training=False, trainable=True, name=None,
                        folded_bias=None):
  """Batch normalization with `tf.layers`' defaults and variables.

  Note `training` defaults to False, as in `tf.layers`: a training graph
  must pass True or a boolean tensor, and run the ops in UPDATE_OPS with the
  train op, or the moving statistics never move.

  Args:
    inputs: A tensor with channels on `axis` (-1, or 1 for NCHW images).
    axis: The channel axis: -1 (or rank - 1), or 1 for rank-4 NCHW.
    momentum: Moving-average decay.
    epsilon: Added to the variance.
    center: Create and add `beta`.
    scale: Create and multiply by `gamma`.
    training: A Python bool or a boolean scalar tensor.
    trainable: Add `gamma` and `beta` to TRAINABLE_VARIABLES.
    name: Variable scope; defaults to a unique 'batch_normalization'.
    folded_bias: Not in `tf.layers`: the bias a preceding layer would have
      added to `inputs`, kept out of the graph's arithmetic so that
      TensorFlow can fuse convolution, batch norm and ReLU. The result, the
      gradients and the moving statistics are those of `inputs + bias`
      (see `resnet_v2_slim.layers.apply_batch_norm`'s `mean_offset`).

  Returns:
    The normalized tensor.

  Raises:
    ValueError: On an unsupported `axis` or an unknown channel dimension.
  """
  inputs = tf.convert_to_tensor(inputs)
  rank = inputs.shape.ndims
  if rank is None or axis not in (-1, rank - 1, 1):
    raise ValueError('batch_normalization supports channels on the last axis '
                     '(or axis 1 of NCHW images); got axis=%r for shape %s' %
                     (axis, inputs.shape))
  data_format = 'NCHW' if axis == 1 and rank == 4 else 'NHWC'
  channels = inputs.shape[axis]
  if channels is None:
    raise ValueError('batch_normalization needs a known channel dimension, '
                     'got shape %s' % inputs.shape)
  dtype = inputs.dtype.base_dtype
  if dtype in (tf.float16, tf.bfloat16):
    dtype = tf.float32
  with tf.variable_scope(name, default_name='batch_normalization',
                         values=[inputs]):
    gamma = (_variable('gamma', [channels], tf.ones_initializer(), trainable,
                       dtype) if scale else None)
    beta = (_variable('beta', [channels], tf.zeros_initializer(), trainable,
                      dtype) if center else None)
    moving_mean = _variable('moving_mean', [channels], tf.zeros_initializer(),
                            False, dtype)
    moving_variance = _variable('moving_variance', [channels],
                                tf.ones_initializer(), False, dtype)
    return apply_batch_norm(inputs, gamma, beta, moving_mean,
                            moving_variance, decay=momentum, epsilon=epsilon,
                            is_training=training, data_format=data_format,
                            mean_offset=folded_bias)


def max_pooling2d(inputs, pool_size, strides, padding='valid', name=None):
  """2-D max pooling, channels last."""
  with tf.name_scope(name, 'max_pooling2d', [inputs]):
    return tf.nn.max_pool2d(inputs, _pair(pool_size), _pair(strides),
                            _padding(padding))


def average_pooling2d(inputs, pool_size, strides, padding='valid', name=None):
  """2-D average pooling, channels last."""
  with tf.name_scope(name, 'average_pooling2d', [inputs]):
    return tf.nn.avg_pool2d(inputs, _pair(pool_size), _pair(strides),
                            _padding(padding))


def dense(inputs, units, activation=None, use_bias=True,
          kernel_initializer=None, bias_initializer=tf.zeros_initializer(),
          trainable=True, name=None):
  """Fully connected layer over the last axis; creates `kernel` and `bias`.

  Args:
    inputs: A tensor `[batch, features]`.
    units: Output size.
    activation: Optional activation function.
    use_bias: Add a `bias` variable.
    kernel_initializer: Initializer; None means Glorot uniform.
    bias_initializer: Initializer for `bias`.
    trainable: Add the variables to TRAINABLE_VARIABLES.
    name: Variable scope; defaults to a unique 'dense'.

  Returns:
    A tensor `[batch, units]`.

  Raises:
    ValueError: If `inputs` is not rank 2 with a known last dimension.
  """
  inputs = tf.convert_to_tensor(inputs)
  if inputs.shape.ndims != 2 or inputs.shape[-1] is None:
    raise ValueError('dense expects [batch, features] with known features, '
                     'got shape %s' % inputs.shape)
  with tf.variable_scope(name, default_name='dense', values=[inputs]):
    kernel = _variable('kernel', [int(inputs.shape[-1]), units],
                       kernel_initializer or tf.glorot_uniform_initializer(),
                       trainable, inputs.dtype.base_dtype)
    outputs = tf.matmul(inputs, kernel)
    return _bias_and_activation(outputs, units, use_bias, bias_initializer,
                                activation, trainable)
