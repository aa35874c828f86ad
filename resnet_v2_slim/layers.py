"""Slim-compatible layers written on raw `tf.compat.v1` ops.

On TensorFlow >= 2.16 `tf_slim.conv2d` and `tf_slim.batch_norm` no longer
build: they are thin wrappers over `tf.compat.v1.layers`, which Keras 3 removed.
These functions take the same arguments, create the same variables under the
same names (`weights`, `biases`, `BatchNorm/{gamma,beta,moving_mean,
moving_variance}`) in the same collections, and compute the same numbers with
the same kernels (`Conv2D`, `FusedBatchNormV3`, `MaxPool`), so checkpoints move
between the two unchanged. They never import tf-keras.

`conv2d`, `fully_connected`, `batch_norm`, `max_pool2d` and `avg_pool2d` are
registered with `tf_slim.add_arg_scope`, so `tf_slim.arg_scope` sets their
defaults exactly as it does for slim's own layers (`softmax` is not).

Typical use:

  import tf_slim as slim
  from resnet_v2_slim import layers

  with slim.arg_scope([layers.conv2d], normalizer_fn=layers.batch_norm,
                      normalizer_params={'is_training': False}):
    net = layers.conv2d(images, 64, [3, 3], scope='conv1')
"""

import tensorflow.compat.v1 as tf
from tf_slim import add_arg_scope
from tf_slim.layers import utils as slim_utils

# Part of this module's API, as in tf_slim; defined in `initializers`.
from resnet_v2_slim.initializers import l2_regularizer
from resnet_v2_slim.initializers import model_variable
from resnet_v2_slim.initializers import variance_scaling_initializer
from resnet_v2_slim.initializers import xavier_initializer

DATA_FORMAT_NHWC = 'NHWC'
DATA_FORMAT_NCHW = 'NCHW'

collect_named_outputs = slim_utils.collect_named_outputs
convert_collection_to_dict = slim_utils.convert_collection_to_dict
last_dimension = slim_utils.last_dimension


def _variable_collections(variables_collections, name):
  if isinstance(variables_collections, dict):
    return variables_collections.get(name)
  return variables_collections


def _pair(value, what):
  if isinstance(value, int):
    return value, value
  value = tuple(value)
  if len(value) != 2 or not all(isinstance(v, int) for v in value):
    raise ValueError('%s must be an int or a pair of ints, got %r' %
                     (what, value))
  return value


def _spatial(pair, data_format):
  """Expands a (height, width) pair to the 4-element list the ops want."""
  if data_format == DATA_FORMAT_NCHW:
    return [1, 1, pair[0], pair[1]]
  return [1, pair[0], pair[1], 1]


def _check_data_format(data_format):
  if data_format not in (None, DATA_FORMAT_NHWC, DATA_FORMAT_NCHW):
    raise ValueError('data_format must be NHWC or NCHW, got %r' % data_format)
  return data_format or DATA_FORMAT_NHWC


def _rank4(inputs, layer):
  inputs = tf.convert_to_tensor(inputs)
  if inputs.shape.ndims != 4:
    raise ValueError(
        '%s expects a rank-4 tensor [batch, height, width, channels], got '
        'shape %s' % (layer, inputs.shape))
  return inputs


def _channels(inputs, data_format, layer):
  axis = 1 if data_format == DATA_FORMAT_NCHW else -1
  channels = tf.compat.dimension_value(inputs.shape[axis])
  if channels is None:
    raise ValueError('%s needs a known channel dimension, got shape %s' %
                     (layer, inputs.shape))
  return channels


def _bias_and_activation(outputs, num_outputs, normalizer_fn,
                         normalizer_params, biases_initializer,
                         biases_regularizer, activation_fn,
                         variables_collections, trainable, data_format):
  """The tail shared by conv2d and fully_connected: bias or norm, then act."""
  if normalizer_fn is not None:
    outputs = normalizer_fn(outputs, **(normalizer_params or {}))
  elif biases_initializer is not None:
    biases = model_variable(
        'biases', [num_outputs], biases_initializer, biases_regularizer,
        trainable, _variable_collections(variables_collections, 'biases'),
        outputs.dtype.base_dtype)
    outputs = tf.nn.bias_add(outputs, biases, data_format=data_format)
  if activation_fn is not None:
    outputs = activation_fn(outputs)
  return outputs


@add_arg_scope
def conv2d(inputs,
           num_outputs,
           kernel_size,
           stride=1,
           padding='SAME',
           data_format=None,
           rate=1,
           activation_fn=tf.nn.relu,
           normalizer_fn=None,
           normalizer_params=None,
           weights_initializer=xavier_initializer(),
           weights_regularizer=None,
           biases_initializer=tf.zeros_initializer(),
           biases_regularizer=None,
           reuse=None,
           variables_collections=None,
           outputs_collections=None,
           trainable=True,
           scope=None):
  """2-D convolution with optional normalizer and activation (slim's conv2d).

  Creates `weights` `[kh, kw, in_channels, num_outputs]` and, when there is no
  normalizer and `biases_initializer` is set, `biases` `[num_outputs]`.

  Args:
    inputs: A tensor `[batch, height, width, channels]` (or NCHW).
    num_outputs: Number of output channels.
    kernel_size: An int or a `[kernel_height, kernel_width]` pair.
    stride: An int or a pair.
    padding: 'SAME' or 'VALID'.
    data_format: 'NHWC' (default) or 'NCHW'.
    rate: Atrous rate: an int or a pair. Must be 1 where stride > 1.
    activation_fn: Activation applied last; None for linear.
    normalizer_fn: Normalization applied instead of biases, e.g. `batch_norm`.
    normalizer_params: Keyword arguments for `normalizer_fn`.
    weights_initializer: Initializer for `weights`.
    weights_regularizer: Optional regularizer for `weights`.
    biases_initializer: Initializer for `biases`; None for no biases.
    biases_regularizer: Optional regularizer for `biases`.
    reuse: Reuse the variables of `scope`.
    variables_collections: Extra collections for the variables: a list, or a
      dict keyed by variable name.
    outputs_collections: Collections the output is added to, aliased by scope.
    trainable: Add the variables to TRAINABLE_VARIABLES.
    scope: Variable scope; defaults to 'Conv'.

  Returns:
    The output tensor `[batch, out_height, out_width, num_outputs]`.

  Raises:
    ValueError: If `inputs` is not rank 4 or has an unknown channel dimension,
      if stride > 1 is combined with rate > 1, or on a bad argument.
  """
  data_format = _check_data_format(data_format)
  with tf.variable_scope(scope, 'Conv', [inputs], reuse=reuse) as sc:
    inputs = _rank4(inputs, 'conv2d')
    kernel_h, kernel_w = _pair(kernel_size, 'kernel_size')
    strides = _pair(stride, 'stride')
    rates = _pair(rate, 'rate')
    if max(strides) > 1 and max(rates) > 1:
      raise ValueError('conv2d: stride > 1 cannot be combined with rate > 1 '
                       '(got stride=%r, rate=%r)' % (stride, rate))
    if padding.upper() not in ('SAME', 'VALID'):
      raise ValueError("padding must be 'SAME' or 'VALID', got %r" % padding)
    in_channels = _channels(inputs, data_format, 'conv2d')
    weights = model_variable(
        'weights', [kernel_h, kernel_w, in_channels, num_outputs],
        weights_initializer, weights_regularizer, trainable,
        _variable_collections(variables_collections, 'weights'),
        inputs.dtype.base_dtype)
    outputs = tf.nn.conv2d(
        inputs, weights, strides=_spatial(strides, data_format),
        padding=padding.upper(), data_format=data_format,
        dilations=_spatial(rates, data_format))
    outputs = _bias_and_activation(
        outputs, num_outputs, normalizer_fn, normalizer_params,
        biases_initializer, biases_regularizer, activation_fn,
        variables_collections, trainable, data_format)
    return collect_named_outputs(outputs_collections, sc.name, outputs)


convolution2d = conv2d


@add_arg_scope
def fully_connected(inputs,
                    num_outputs,
                    activation_fn=tf.nn.relu,
                    normalizer_fn=None,
                    normalizer_params=None,
                    weights_initializer=xavier_initializer(),
                    weights_regularizer=None,
                    biases_initializer=tf.zeros_initializer(),
                    biases_regularizer=None,
                    reuse=None,
                    variables_collections=None,
                    outputs_collections=None,
                    trainable=True,
                    scope=None):
  """Dense layer over the last dimension (slim's fully_connected).

  Args:
    inputs: A tensor of rank >= 2 with a known last dimension.
    num_outputs: Number of output units.
    (The rest as in `conv2d`; the default scope is 'fully_connected'.)

  Returns:
    A tensor `inputs.shape[:-1] + [num_outputs]`.

  Raises:
    ValueError: If `inputs` has rank < 2 or an unknown last dimension.
  """
  with tf.variable_scope(scope, 'fully_connected', [inputs],
                         reuse=reuse) as sc:
    inputs = tf.convert_to_tensor(inputs)
    if inputs.shape.ndims is None or inputs.shape.ndims < 2:
      raise ValueError('fully_connected expects rank >= 2, got shape %s' %
                       inputs.shape)
    num_inputs = last_dimension(inputs.shape, min_rank=2)
    weights = model_variable(
        'weights', [num_inputs, num_outputs], weights_initializer,
        weights_regularizer, trainable,
        _variable_collections(variables_collections, 'weights'),
        inputs.dtype.base_dtype)
    if inputs.shape.ndims == 2:
      outputs = tf.matmul(inputs, weights)
    else:
      outputs = tf.tensordot(inputs, weights, [[inputs.shape.ndims - 1], [0]])
    outputs = _bias_and_activation(
        outputs, num_outputs, normalizer_fn, normalizer_params,
        biases_initializer, biases_regularizer, activation_fn,
        variables_collections, trainable, DATA_FORMAT_NHWC)
    return collect_named_outputs(outputs_collections, sc.name, outputs)


def _moving_average_update(variable, value, decay):
  """`variable -= (variable - value) * (1 - decay)`, as tf.layers does it."""
  with tf.name_scope(None, 'AssignMovingAvg', [variable, value]) as scope:
    delta = (variable - tf.cast(value, variable.dtype.base_dtype)) * (
        1.0 - decay)
    return tf.assign_sub(variable, delta, name=scope)


def _static_bool(value):
  """True/False when `value` is known when the graph is built, else None."""
  if isinstance(value, (bool, int)):
    return bool(value)
  static = tf.get_static_value(value)
  return None if static is None else bool(static)


@add_arg_scope
def batch_norm(inputs,
               decay=0.999,
               center=True,
               scale=False,
               epsilon=0.001,
               activation_fn=None,
               param_initializers=None,
               param_regularizers=None,
               updates_collections=tf.GraphKeys.UPDATE_OPS,
               is_training=True,
               reuse=None,
               variables_collections=None,
               outputs_collections=None,
               trainable=True,
               fused=None,
               data_format=DATA_FORMAT_NHWC,
               scope=None):
  """Batch normalization (Ioffe & Szegedy 2015) as slim's batch_norm does it.

  Creates `gamma` (if `scale`), `beta` (if `center`), `moving_mean` and
  `moving_variance`. In training the layer normalizes with the batch
  statistics and adds the moving-average updates
  `moving -= (moving - batch_stat) * (1 - decay)` to `updates_collections`
  (the variance is the unbiased batch variance on the fused path, as the fused
  kernel reports it); run them with the train op, e.g. under
  `tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS))`.

  Args:
    inputs: A tensor of rank >= 2; channels last, or axis 1 with NCHW.
    decay: Moving-average decay (Keras calls it momentum).
    center: Add the learned offset `beta`.
    scale: Multiply by the learned `gamma`. Can stay off when the next layer
      is linear (or a ReLU followed by one), which absorbs the scale.
    epsilon: Small float added to the variance to avoid dividing by zero.
    activation_fn: Optional activation applied to the output.
    param_initializers: Optional dict of initializers keyed by `beta`,
      `gamma`, `moving_mean`, `moving_variance`.
    param_regularizers: Optional dict of regularizers for `beta`, `gamma`.
    updates_collections: Where the update ops go; None runs them in place
      before the output is returned.
    is_training: A Python bool or a boolean scalar tensor (e.g. a
      placeholder): normalize with batch statistics and update the moving
      averages, or use the moving averages.
    reuse: Reuse the variables of `scope`.
    variables_collections: Extra collections: a list, or a dict keyed by
      variable name.
    outputs_collections: Collections the output is added to.
    trainable: Add `beta` and `gamma` to TRAINABLE_VARIABLES.
    fused: None or True uses the fused kernel for rank-2 and rank-4 inputs
      (the moving variance then tracks the unbiased batch variance, as in
      slim); False uses `tf.nn.moments` (biased batch variance), as the
      non-fused tf.layers does.
    data_format: 'NHWC' or 'NCHW' (channel axis 1).
    scope: Variable scope; defaults to 'BatchNorm'.

  Returns:
    The normalized tensor, same shape as `inputs`.

  Raises:
    ValueError: If `inputs` has unknown rank, rank below 2 or an unknown
      channel dimension, `data_format` is neither 'NHWC' nor 'NCHW', or
      an 'NCHW' input is not rank 4.
  """
  data_format = _check_data_format(data_format)
  with tf.variable_scope(scope, 'BatchNorm', [inputs], reuse=reuse) as sc:
    inputs = tf.convert_to_tensor(inputs)
    rank = inputs.shape.ndims
    if rank is None or rank < 2:
      raise ValueError('batch_norm expects rank >= 2, got shape %s' %
                       inputs.shape)
    if data_format == DATA_FORMAT_NCHW and rank != 4:
      raise ValueError('batch_norm: NCHW needs a rank-4 input, got shape %s' %
                       inputs.shape)
    channels = _channels(inputs, data_format, 'batch_norm')
    initializers = param_initializers or {}
    regularizers = param_regularizers or {}
    # Half-precision activations keep float32 statistics, as the fused
    # kernel requires.
    param_dtype = inputs.dtype.base_dtype
    if param_dtype in (tf.float16, tf.bfloat16):
      param_dtype = tf.float32

    def param(name, default_init, trainable_param):
      return model_variable(
          name, [channels], initializers.get(name, default_init),
          regularizers.get(name), trainable_param,
          _variable_collections(variables_collections, name), param_dtype)

    # tf.layers creates gamma before beta; keep its order.
    gamma = param('gamma', tf.ones_initializer(), trainable) if scale else None
    beta = param('beta', tf.zeros_initializer(), trainable) if center else None
    moving_mean = param('moving_mean', tf.zeros_initializer(), False)
    moving_variance = param('moving_variance', tf.ones_initializer(), False)

    outputs = apply_batch_norm(
        inputs, gamma, beta, moving_mean, moving_variance, decay=decay,
        epsilon=epsilon, is_training=is_training, fused=fused,
        data_format=data_format, updates_collections=updates_collections)
    if activation_fn is not None:
      outputs = activation_fn(outputs)
    return collect_named_outputs(outputs_collections, sc.name, outputs)


def apply_batch_norm(inputs, gamma, beta, moving_mean, moving_variance, decay,
                     epsilon, is_training, fused=None,
                     data_format=DATA_FORMAT_NHWC,
                     updates_collections=tf.GraphKeys.UPDATE_OPS,
                     mean_offset=None):
  """Normalizes `inputs` with existing batch-norm variables.

  The computation behind `batch_norm` (and tf.layers-style wrappers), apart
  from variable creation: batch statistics and moving-average updates in
  training, moving statistics in inference.

  Args:
    inputs: A tensor of rank >= 2, channels last or (NCHW) on axis 1.
    gamma: Scale `[channels]`, or None for 1.
    beta: Offset `[channels]`, or None for 0.
    moving_mean: Variable `[channels]`.
    moving_variance: Variable `[channels]`.
    decay: Moving-average decay.
    epsilon: Added to the variance.
    is_training: A Python bool or a boolean scalar tensor.
    fused: As in `batch_norm`.
    data_format: 'NHWC' or 'NCHW'.
    updates_collections: Where the update ops go; None runs them in place.
    mean_offset: `[channels]` or None: a bias the layer before left out of
      `inputs` (added to every position of a channel), so that convolution
      and batch norm can fuse. The result, its gradients and the moving
      statistics are those of `inputs + mean_offset`: in training a
      batch's mean absorbs the offset, and `moving_mean` learns the batch
      mean plus the offset; in inference, normalizing with mean
      `moving_mean - mean_offset` is adding `gamma * mean_offset /
      sqrt(moving_variance + epsilon)` to `beta`, which is where the
      offset goes (the fused kernel passes gradients to its offset input,
      not to its mean).

  Returns:
    The normalized tensor.
  """
  rank = inputs.shape.ndims
  param_dtype = moving_mean.dtype.base_dtype
  if mean_offset is not None:
    mean_offset = tf.cast(mean_offset, param_dtype)
  if fused is None or fused:
    fused = rank in (2, 4)

  def normalize(training):
    offset = beta
    if mean_offset is not None:
      if training:
        # No effect on the result; it keeps the bias a gradient of exactly
        # zero rather than none, so optimizers keep slots for it.
        shift = 0.0 * mean_offset
      else:
        shift = mean_offset * tf.math.rsqrt(moving_variance + epsilon)
        if gamma is not None:
          shift *= gamma
      offset = shift if beta is None else beta + shift
    if fused:
      return _fused_normalizer(inputs, gamma, offset, moving_mean,
                               moving_variance, epsilon, data_format,
                               param_dtype)(training)
    return _moments_normalizer(inputs, gamma, offset, moving_mean,
                               moving_variance, epsilon, data_format)(training)

  training = _static_bool(is_training)
  if training is None:
    outputs, mean, variance = tf.cond(is_training,
                                      lambda: normalize(True),
                                      lambda: normalize(False))
    decay = tf.cond(is_training, lambda: tf.constant(decay, param_dtype),
                    lambda: tf.constant(1.0, param_dtype))
  else:
    outputs, mean, variance = normalize(training)
  if training is None or training:
    if mean_offset is not None:
      mean += mean_offset
    updates = [_moving_average_update(moving_mean, mean, decay),
               _moving_average_update(moving_variance, variance, decay)]
    if updates_collections is None:
      with tf.control_dependencies(updates):
        outputs = tf.identity(outputs)
    else:
      for collection in ([updates_collections]
                         if isinstance(updates_collections, str)
                         else updates_collections):
        for update in updates:
          tf.add_to_collection(collection, update)
  return outputs


def _fused_normalizer(inputs, gamma, beta, moving_mean, moving_variance,
                      epsilon, data_format, param_dtype):
  channels = moving_mean.shape
  if gamma is None:
    gamma = tf.ones(channels, param_dtype)
  if beta is None:
    beta = tf.zeros(channels, param_dtype)

  # A [batch, channels] input runs through the same kernel as [batch, 1, 1,
  # channels], as slim does it.
  images = inputs if inputs.shape.ndims == 4 else inputs[:, None, None, :]

  def normalize(training):
    # In training the kernel ignores the moving statistics it is given;
    # passing them keeps the graph the one tf.layers builds.
    outputs, mean, variance = tf.nn.fused_batch_norm(
        images, gamma, beta, mean=moving_mean, variance=moving_variance,
        epsilon=epsilon, data_format=data_format, is_training=training)
    if inputs.shape.ndims != 4:
      outputs = outputs[:, 0, 0, :]
    return outputs, mean, variance

  return normalize


def _moments_normalizer(inputs, gamma, beta, moving_mean, moving_variance,
                        epsilon, data_format):
  rank = inputs.shape.ndims
  channel_axis = 1 if data_format == DATA_FORMAT_NCHW else rank - 1
  axes = [i for i in range(rank) if i != channel_axis]
  broadcast = [1] * rank
  broadcast[channel_axis] = -1

  def shaped(t):
    return None if t is None else tf.reshape(t, broadcast)

  def normalize(training):
    if training:
      mean, variance = tf.nn.moments(inputs, axes)
    else:
      mean, variance = tf.identity(moving_mean), tf.identity(moving_variance)
    outputs = tf.nn.batch_normalization(
        inputs, shaped(mean), shaped(variance), shaped(beta), shaped(gamma),
        epsilon)
    return outputs, mean, variance

  return normalize


@add_arg_scope
def max_pool2d(inputs,
               kernel_size,
               stride=2,
               padding='VALID',
               data_format=DATA_FORMAT_NHWC,
               outputs_collections=None,
               scope=None):
  """2-D max pooling (slim's max_pool2d; note slim's default is VALID).

  Args:
    inputs: A tensor `[batch, height, width, channels]` (or NCHW).
    kernel_size: An int or a pair.
    stride: An int or a pair.
    padding: 'SAME' or 'VALID'.
    data_format: 'NHWC' or 'NCHW'.
    outputs_collections: Collections the output is added to.
    scope: Name scope; defaults to 'MaxPool2D'.

  Returns:
    The pooled tensor.

  Raises:
    ValueError: If `inputs` is not rank 4 or on a bad argument.
  """
  data_format = _check_data_format(data_format)
  with tf.name_scope(scope, 'MaxPool2D', [inputs]) as sc:
    inputs = _rank4(inputs, 'max_pool2d')
    outputs = tf.nn.max_pool2d(
        inputs, _spatial(_pair(kernel_size, 'kernel_size'), data_format),
        _spatial(_pair(stride, 'stride'), data_format), padding.upper(),
        data_format=data_format)
    return collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def avg_pool2d(inputs,
               kernel_size,
               stride=2,
               padding='VALID',
               data_format=DATA_FORMAT_NHWC,
               outputs_collections=None,
               scope=None):
  """2-D average pooling; arguments as in `max_pool2d`."""
  data_format = _check_data_format(data_format)
  with tf.name_scope(scope, 'AvgPool2D', [inputs]) as sc:
    inputs = _rank4(inputs, 'avg_pool2d')
    outputs = tf.nn.avg_pool2d(
        inputs, _spatial(_pair(kernel_size, 'kernel_size'), data_format),
        _spatial(_pair(stride, 'stride'), data_format), padding.upper(),
        data_format=data_format)
    return collect_named_outputs(outputs_collections, sc, outputs)


def softmax(logits, scope=None):
  """Softmax over the last dimension of a tensor of any rank >= 2.

  Args:
    logits: A tensor `[..., num_classes]`.
    scope: Optional variable scope; defaults to 'softmax'.

  Returns:
    Probabilities with the shape of `logits`.

  Raises:
    ValueError: If `logits` has unknown rank, rank below 2 or an unknown
      last dimension.
  """
  with tf.variable_scope(scope, 'softmax', [logits]):
    num_logits = last_dimension(logits.shape, min_rank=2)
    logits_2d = tf.reshape(logits, [-1, num_logits])
    predictions = tf.reshape(tf.nn.softmax(logits_2d), tf.shape(logits))
    predictions.set_shape(logits.shape)
    return predictions
