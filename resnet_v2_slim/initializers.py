"""Slim's weight initializers, L2 regularizer and model variables, on raw
`tf.compat.v1` ops.

`layers` re-exports them: `layers.variance_scaling_initializer` is the
default initializer of `conv2d` and `fully_connected` weights, and
`resnet_arg_scope` regularizes weights with `layers.l2_regularizer`.

Typical use:

  initializer = initializers.variance_scaling_initializer()  # He et al.
  regularizer = initializers.l2_regularizer(1e-4)
"""

import math

import tensorflow.compat.v1 as tf

# Variance-scaling draws from a normal truncated at two standard deviations;
# 1.3 restores the variance the truncation removes (slim's constant).
TRUNCATED_NORMAL_VARIANCE_CORRECTION = 1.3


def l2_regularizer(scale, scope=None):
  """Returns a function computing `scale * sum(weights ** 2) / 2`.

  Args:
    scale: A non-negative Python number. 0 disables the regularizer.
    scope: Optional name scope for the loss op.

  Returns:
    A function `f(weights)` returning a scalar loss tensor, or None when
    `scale` is 0.

  Raises:
    ValueError: If `scale` is negative or not a number.
  """
  if isinstance(scale, bool) or not isinstance(scale, (int, float)):
    raise ValueError('l2_regularizer scale must be a number, got %r' % (scale,))
  if scale < 0.:
    raise ValueError('l2_regularizer scale must be >= 0, got %g' % scale)
  if scale == 0.:
    return lambda _: None

  def l2(weights):
    with tf.name_scope(scope, 'l2_regularizer', [weights]) as name:
      my_scale = tf.convert_to_tensor(
          scale, dtype=weights.dtype.base_dtype, name='scale')
      return tf.multiply(my_scale, tf.nn.l2_loss(weights), name=name)

  return l2


def add_regularization_loss(variable, regularizer):
  """Adds `regularizer(variable)`, unless it or the loss is None, to
  REGULARIZATION_LOSSES, named after the variable ('.../weights/Regularizer/
  l2_regularizer').

  `tf.get_variable(regularizer=...)` is not used for this: it builds the
  loss once to see whether it is None, once more to keep, and again every
  time the collection's entry is used, so a loss summed in two places was
  computed twice and two copies per variable hung unused in every graph
  (108 dead L2Loss ops in resnet_v2_50's). Here it is built once.
  """
  if regularizer is None:
    return
  with tf.name_scope(variable.op.name + '/Regularizer/'):
    loss = regularizer(variable)
  if loss is not None:
    tf.add_to_collection(tf.GraphKeys.REGULARIZATION_LOSSES, loss)


def variance_scaling_initializer(factor=2.0, mode='FAN_IN', uniform=False,
                                 seed=None, dtype=tf.float32):
  """He/Glorot-style initializer with slim's conventions.

  With the defaults this is He et al.'s initializer for ReLU networks: a
  truncated normal with variance `2 / fan_in`.

  Args:
    factor: Multiplicative factor on the variance.
    mode: 'FAN_IN', 'FAN_OUT' or 'FAN_AVG'.
    uniform: Draw from a uniform distribution instead of a truncated normal.
    seed: Optional Python integer seed.
    dtype: The floating point type of the values.

  Returns:
    An initializer `f(shape, dtype=dtype, partition_info=None)`.

  Raises:
    TypeError: If `dtype` is not floating point.
    ValueError: If `mode` is unknown.
  """
  if not dtype.is_floating:
    raise TypeError('Cannot create initializer for non-floating point type.')
  if mode not in ('FAN_IN', 'FAN_OUT', 'FAN_AVG'):
    raise ValueError('Unknown mode %r: use FAN_IN, FAN_OUT or FAN_AVG' % mode)

  def initializer(shape, dtype=dtype, partition_info=None):
    del partition_info  # Unused; part of the initializer protocol.
    shape = [int(d) for d in shape]
    receptive_field = 1
    for d in shape[:-2]:
      receptive_field *= d
    fan_in = shape[-2] * receptive_field if len(shape) > 1 else shape[-1]
    fan_out = shape[-1] * receptive_field
    fan = {'FAN_IN': fan_in, 'FAN_OUT': fan_out,
           'FAN_AVG': (fan_in + fan_out) / 2.0}[mode]
    if uniform:
      limit = math.sqrt(3.0 * factor / fan)
      return tf.random_uniform(shape, -limit, limit, dtype, seed=seed)
    stddev = math.sqrt(TRUNCATED_NORMAL_VARIANCE_CORRECTION * factor / fan)
    return tf.truncated_normal(shape, 0.0, stddev, dtype, seed=seed)

  return initializer


def xavier_initializer(uniform=True, seed=None, dtype=tf.float32):
  """Glorot & Bengio's initializer: slim's default for `weights`."""
  return variance_scaling_initializer(factor=1.0, mode='FAN_AVG',
                                      uniform=uniform, seed=seed, dtype=dtype)


def model_variable(name, shape, initializer, regularizer=None, trainable=True,
                   collections=None, dtype=tf.float32):
  """Creates or reuses a variable in GLOBAL_VARIABLES and MODEL_VARIABLES.

  Args:
    name: Variable name inside the current variable scope.
    shape: List of ints.
    initializer: An initializer function.
    regularizer: Optional function of the variable returning a loss tensor
      or None; the loss joins REGULARIZATION_LOSSES when the variable is
      created, not when it is reused.
    trainable: Also add the variable to TRAINABLE_VARIABLES.
    collections: Extra collection names for this variable.
    dtype: Variable dtype.

  Returns:
    The variable.
  """
  collections = list(collections or [])
  collections += [tf.GraphKeys.GLOBAL_VARIABLES, tf.GraphKeys.MODEL_VARIABLES]
  known = len(tf.global_variables())
  variable = tf.get_variable(name, shape=shape, dtype=dtype,
                             initializer=initializer, trainable=trainable,
                             collections=collections)
  if len(tf.global_variables()) > known:  # created, not reused
    add_regularization_loss(variable, regularizer)
  return variable
