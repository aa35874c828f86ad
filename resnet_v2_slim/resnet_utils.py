"""Blocks, stride planning and the generator behind slim's ResNet v1 and v2.

References:
[1] He et al. 2015, arXiv:1512.03385, "Deep Residual Learning for Image
    Recognition".
[2] He et al. 2016, arXiv:1603.05027, "Identity Mappings in Deep Residual
    Networks".
[3] Chen et al. 2016, arXiv:1606.00915, "DeepLab: Semantic Image
    Segmentation with Deep Convolutional Nets, Atrous Convolution, and Fully
    Connected CRFs".

A network body is a list of `Block`s (defined, with the stride planning, in
`blocks` and re-exported here). `stack_blocks_dense` builds them under
the scopes `blockN/unit_M`; given an `output_stride` it replaces the strides
of later units by atrous rates [3], so a dense-prediction net keeps a finer
feature map while each filter still covers the area it covers in the nominal
net. `resnet` adds the root block and the head; `resnet_v1.resnet_v1` and
`resnet_v2.resnet_v2` call it.

Typical use:

  import tf_slim as slim
  from resnet_v2_slim import resnet_utils, resnet_v2

  # images: [batch, 224, 224, 3] -> features: [batch, 14, 14, 2048].
  with slim.arg_scope(resnet_utils.resnet_arg_scope()):
    features, end_points = resnet_v2.resnet_v2(
        images, resnet_v2.resnet_v2_blocks(50), global_pool=False,
        output_stride=16, is_training=False)
"""

import tensorflow.compat.v1 as tf
from tf_slim import add_arg_scope, arg_scope

from resnet_v2_slim import layers
# Part of this module's API since slim; defined in `blocks`.
from resnet_v2_slim.blocks import Block
from resnet_v2_slim.blocks import BlockPlan
from resnet_v2_slim.blocks import plan_blocks
from resnet_v2_slim.blocks import unit_kwargs
from resnet_v2_slim.blocks import UnitPlan
from resnet_v2_slim.blocks import valid_output_strides

# Units per block of the ImageNet ResNets; the one table behind every depth.
UNITS_PER_BLOCK = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}
BASE_DEPTHS = (64, 128, 256, 512)
# Slim strides in the last unit of a block, not in the first as [1] does.
# There the stride can be lifted out of the block and applied after its
# end_point (`store_non_strided_activations`), which keeps every unit of the
# block at its input resolution. The last block does not stride, so with the
# root (4) the nominal output stride is 4 * 2 * 2 * 2 = 32.
BLOCK_STRIDES = (2, 2, 2, 1)
BOTTLENECK_EXPANSION = 4
ROOT_DEPTH = 64
ROOT_STRIDE = 4  # conv1 stride 2, then pool1 stride 2.
POOL1_SIZE = 3
# Keras' ResNetV2 pads pool1's input with one row and column of zeros on
# every side and pools 'VALID' (`keras_padding`).
KERAS_POOL1_PADDING = 1

WEIGHT_DECAY = 1e-4
BATCH_NORM_DECAY = 0.997
BATCH_NORM_EPSILON = 1e-5



def subsample(inputs, factor, scope=None):
  """Keeps every `factor`-th row and column, starting with the first.

  A 1x1 max pool with stride `factor` does it; it keeps the pixels on which
  `conv2d_same` centres its strided filters, so the two stay aligned.

  Args:
    inputs: A `[batch, height, width, channels]` tensor.
    factor: An int; 1 returns `inputs` itself.
    scope: Optional name scope of the pooling op (it has no variables).

  Returns:
    A `[batch, ceil(height / factor), ceil(width / factor), channels]` tensor.

  Raises:
    ValueError: If `factor` > 1 and `inputs` is not rank 4.
  """
  if factor == 1:
    return inputs
  return layers.max_pool2d(inputs, [1, 1], stride=factor, scope=scope)


def conv2d_same(inputs, num_outputs, kernel_size, stride, rate=1, scope=None):
  """Strided convolution whose sampling grid does not depend on the input size.

  With stride > 1, TensorFlow's 'SAME' padding derives the number of zeros
  from the input size and puts the odd one at the end: a 3x3 stride-2 filter
  is centred on pixels 1, 3, 5, ... of an even-sized input but on 0, 2, 4, ...
  of an odd-sized one. Here the input gets `kernel_size_effective - 1` zeros
  (the dilated kernel's extent minus one), the odd one at the end, and the
  convolution runs 'VALID', so filters are always centred on 0, stride,
  2 * stride, ... For every input size

    conv2d_same(x, 64, 3, stride=2)

  then equals

    subsample(layers.conv2d(x, 64, 3, stride=1, padding='SAME'), 2)

  and that identity is what lets an atrous net (`output_stride`) reproduce
  the strided one on a subsampled grid.

  Args:
    inputs: A `[batch, height, width, channels]` tensor.
    num_outputs: Number of output channels.
    kernel_size: An int; the filter is square.
    stride: An int; 1 gives a plain 'SAME' convolution.
    rate: Atrous rate, an int. `layers.conv2d` refuses rate > 1 together
      with stride > 1.
    scope: Variable scope of the convolution.

  Returns:
    A `[batch, ceil(height / stride), ceil(width / stride), num_outputs]`
    tensor.

  Raises:
    ValueError: From `layers.conv2d`: `inputs` is not rank 4 or its channel
      dimension is unknown, or stride > 1 comes with rate > 1.
  """
  if stride == 1:
    return layers.conv2d(inputs, num_outputs, kernel_size, stride=1, rate=rate,
                         padding='SAME', scope=scope)
  kernel_size_effective = kernel_size + (kernel_size - 1) * (rate - 1)
  pad_total = kernel_size_effective - 1
  pad_beg = pad_total // 2
  pad_end = pad_total - pad_beg
  inputs = tf.pad(inputs,
                  [[0, 0], [pad_beg, pad_end], [pad_beg, pad_end], [0, 0]])
  return layers.conv2d(inputs, num_outputs, kernel_size, stride=stride,
                       rate=rate, padding='VALID', scope=scope)


@add_arg_scope
def stack_blocks_dense(net, blocks, output_stride=None,
                       store_non_strided_activations=False,
                       outputs_collections=None):
  """Builds `blocks` in order, trading strides for atrous rates if asked.

  This is the only function that opens the `blockN/unit_M` scopes, so it
  alone fixes the variable names that checkpoints depend on. Each block's
  output is added to `outputs_collections` under the block's scope name.

  Args:
    net: A `[batch, height, width, channels]` tensor.
    blocks: A list of `Block`s.
    output_stride: None keeps every unit's stride. Otherwise the stride of
      the result relative to `net`, one of `valid_output_strides(blocks)`;
      see `plan_blocks`.
    store_non_strided_activations: See `plan_blocks`.
    outputs_collections: Collection that receives each block's output.

  Returns:
    The last block's output, `[batch, ceil(height / s), ceil(width / s),
    channels_out]`, with `s` the `output_stride` or, if None, the product of
    all unit strides.

  Raises:
    ValueError: If `output_stride` is not in `valid_output_strides(blocks)`.
  """
  for plan in plan_blocks(blocks, output_stride, store_non_strided_activations):
    with tf.variable_scope(plan.block.scope, 'block', [net]) as sc:
      for i, unit in enumerate(plan.units):
        with tf.variable_scope('unit_%d' % (i + 1), values=[net]):
          net = plan.block.unit_fn(net, rate=unit.rate, **unit.kwargs)
      # Before the subsampling, so with store_non_strided_activations the
      # end_point keeps the resolution the block's units ran at.
      net = layers.collect_named_outputs(outputs_collections, sc.name, net)
      net = subsample(net, plan.subsample)
  return net


def resnet_arg_scope(weight_decay=WEIGHT_DECAY,
                     batch_norm_decay=BATCH_NORM_DECAY,
                     batch_norm_epsilon=BATCH_NORM_EPSILON,
                     batch_norm_scale=True,
                     activation_fn=tf.nn.relu,
                     use_batch_norm=True,
                     batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS):
  """Layer defaults that the published slim ResNet checkpoints assume.

  Under this scope `layers.conv2d` gets batch norm instead of biases,
  He-initialized and L2-regularized weights, and `layers.max_pool2d` pads
  'SAME'. Without it conv2d creates biases and no batch norm, and the
  variables no longer match the checkpoints.

  Args:
    weight_decay: Scale of the L2 penalty on conv weights; 0 adds none.
    batch_norm_decay: Decay of the moving mean and variance.
    batch_norm_epsilon: Added to the variance before its square root is
      taken. Keras' ResNets use 1.001e-5.
    batch_norm_scale: Whether batch norm learns `gamma` besides `beta`.
    activation_fn: conv2d's default activation, applied after its batch
      norm. v1's unit outputs and v2's `preact` and `postnorm` use ReLU
      whatever this is.
    use_batch_norm: False gives conv2d biases instead of batch norm; batch
      norm layers built directly (v2's `preact`, `postnorm`) stay.
    batch_norm_updates_collections: Collection for the moving-average
      updates; None applies them in place.

  Returns:
    The scope dict, to be used as `with slim.arg_scope(sc): ...`.

  Raises:
    ValueError: If `weight_decay` is negative or not a Python int or float.
  """
  batch_norm_params = {
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'scale': batch_norm_scale,
      'updates_collections': batch_norm_updates_collections,
      # As slim's default: the faster fused kernel wherever the rank allows.
      'fused': None,
  }
  with arg_scope(
      [layers.conv2d],
      weights_regularizer=layers.l2_regularizer(weight_decay),
      weights_initializer=layers.variance_scaling_initializer(),
      activation_fn=activation_fn,
      normalizer_fn=layers.batch_norm if use_batch_norm else None,
      normalizer_params=batch_norm_params):
    with arg_scope([layers.batch_norm], **batch_norm_params):
      # pool1 pads 'SAME' (as fb.resnet.torch does) so features stay aligned
      # for dense prediction; the original Caffe ResNets pad 'VALID'.
      with arg_scope([layers.max_pool2d], padding='SAME') as arg_sc:
        return arg_sc


def resnet_blocks(unit_fn, depth, depth_func=lambda d: d):
  """The four bottleneck blocks of the ImageNet ResNet of a given depth.

  Args:
    unit_fn: The unit function, e.g. `resnet_v2.bottleneck`.
    depth: One of the keys of `UNITS_PER_BLOCK`.
    depth_func: Maps a base depth to the bottleneck depth actually used.

  Returns:
    A list of four `Block`s.

  Raises:
    ValueError: If `depth` is not in the table.
  """
  if depth not in UNITS_PER_BLOCK:
    raise ValueError('Unknown ResNet depth %r; choose one of %s' %
                     (depth, sorted(UNITS_PER_BLOCK)))
  return [bottleneck_block('block%d' % (i + 1), unit_fn, depth_func(base),
                           num_units, stride)
          for i, (num_units, base, stride) in enumerate(
              zip(UNITS_PER_BLOCK[depth], BASE_DEPTHS, BLOCK_STRIDES))]


def bottleneck_block(scope, unit_fn, base_depth, num_units, stride):
  """A `Block` of `num_units` bottleneck units in which only the last strides.

  Args:
    scope: Variable scope of the block, e.g. 'block2'.
    unit_fn: `resnet_v1.bottleneck` or `resnet_v2.bottleneck`.
    base_depth: Channels inside each unit's bottleneck (its 1x1 and 3x3
      convolutions); every unit outputs `4 * base_depth` channels.
    num_units: How many units, at least 1 (smaller values still give one).
    stride: Stride of the last unit; the others use 1.

  Returns:
    A `Block`. For example `bottleneck_block('block1', unit_fn, 64, 3, 2)`
    has units of depth 256 and bottleneck 64 with strides 1, 1, 2.
  """
  unit = {'depth': base_depth * BOTTLENECK_EXPANSION,
          'depth_bottleneck': base_depth, 'stride': 1}
  return Block(scope, unit_fn,
               [unit] * (num_units - 1) + [dict(unit, stride=stride)])


def check_inputs(inputs):
  """Converts `inputs` to a tensor and checks it is [batch, h, w, channels].

  Returns:
    The tensor.

  Raises:
    ValueError: Unless `inputs` has a static rank of 4 and a known channel
      dimension.
  """
  inputs = tf.convert_to_tensor(inputs)
  if inputs.shape.ndims != 4:
    raise ValueError('ResNet inputs must be a rank-4 tensor '
                     '[batch, height, width, channels], got shape %s' %
                     inputs.shape)
  if tf.compat.dimension_value(inputs.shape[-1]) is None:
    raise ValueError('ResNet inputs need a known channel dimension, got %s' %
                     inputs.shape)
  return inputs


def resnet(inputs, blocks, unit_fn, preactivation, num_classes=None,
           is_training=True, global_pool=True, output_stride=None,
           include_root_block=True, spatial_squeeze=True,
           store_non_strided_activations=False, reuse=None, scope=None,
           default_scope='resnet', keras_padding=False):
  """The generator behind `resnet_v1.resnet_v1` and `resnet_v2.resnet_v2`.

  Args:
    inputs: A `[batch, height, width, channels]` tensor.
    blocks: The `Block`s of the body.
    unit_fn: The module's unit function; it receives `outputs_collections`
      through arg_scope so its outputs become end_points.
    preactivation: True for v2 [2]: conv1 has no batch norm or activation
      (the first unit normalizes its input) and the last block is followed by
      batch norm + ReLU ('postnorm'), since v2 units end with an addition.
    keras_padding: Pad pool1's input with zeros and pool 'VALID', as Keras'
      applications do, instead of pooling 'SAME'. The windows then start one
      pixel earlier on even sizes, and in v2, where pool1 sees conv1's raw
      output, a zero can win the max; weights converted from Keras need it.
    default_scope: Variable scope used when `scope` is None.
    (The rest as in `resnet_v1.resnet_v1`.)

  Returns:
    `(net, end_points)` as described in `resnet_v2.resnet_v2`.

  Raises:
    ValueError: If `inputs` is not rank 4 or its channel dimension is
      unknown; if `output_stride` is not in `valid_output_strides(blocks,
      4 if include_root_block else 1)`; if `num_classes` and
      `spatial_squeeze` are set and the logits' static height or width is
      known and not 1. TensorFlow raises one too for `reuse=True` without a
      `scope`.
  """
  inputs = check_inputs(inputs)
  root_stride = ROOT_STRIDE if include_root_block else 1
  if output_stride is not None:
    if output_stride not in valid_output_strides(blocks, root_stride):
      raise ValueError(
          'The target output_stride %r cannot be reached; with these blocks '
          'it must be one of %s.' %
          (output_stride, valid_output_strides(blocks, root_stride)))
    output_stride //= root_stride
  with tf.variable_scope(scope, default_scope, [inputs], reuse=reuse) as sc:
    end_points_collection = sc.original_name_scope + '_end_points'
    with arg_scope([layers.conv2d, unit_fn, stack_blocks_dense],
                   outputs_collections=end_points_collection):
      with arg_scope([layers.batch_norm], is_training=is_training):
        net = inputs
        if include_root_block:
          if preactivation:
            with arg_scope([layers.conv2d], activation_fn=None,
                           normalizer_fn=None):
              net = conv2d_same(net, ROOT_DEPTH, 7, stride=2, scope='conv1')
          else:
            net = conv2d_same(net, ROOT_DEPTH, 7, stride=2, scope='conv1')
          if keras_padding:
            net = tf.pad(net, [[0, 0], [KERAS_POOL1_PADDING] * 2,
                               [KERAS_POOL1_PADDING] * 2, [0, 0]])
            net = layers.max_pool2d(net, [POOL1_SIZE, POOL1_SIZE], stride=2,
                                    padding='VALID', scope='pool1')
          else:
            net = layers.max_pool2d(net, [POOL1_SIZE, POOL1_SIZE], stride=2,
                                    scope='pool1')
        net = stack_blocks_dense(net, blocks, output_stride,
                                 store_non_strided_activations)
        if preactivation:
          net = layers.batch_norm(net, activation_fn=tf.nn.relu,
                                  scope='postnorm')
        end_points = layers.convert_collection_to_dict(end_points_collection)
        if global_pool:
          net = tf.reduce_mean(net, [1, 2], name='pool5', keepdims=True)
          end_points['global_pool'] = net
        if num_classes:
          net = layers.conv2d(net, num_classes, [1, 1], activation_fn=None,
                              normalizer_fn=None, scope='logits')
          end_points[sc.name + '/logits'] = net
          if spatial_squeeze:
            spatial = net.shape[1:3].as_list()
            if any(d is not None and d != 1 for d in spatial):
              raise ValueError(
                  'spatial_squeeze needs 1x1 logits, got %s; pass '
                  'global_pool=True or spatial_squeeze=False' % net.shape)
            net = tf.squeeze(net, [1, 2], name='SpatialSqueeze')
            end_points[sc.name + '/spatial_squeeze'] = net
          end_points['predictions'] = layers.softmax(net, scope='predictions')
        return net, end_points


def summarize(end_points, blocks, output_stride=None, include_root_block=True,
              store_non_strided_activations=False):
  """A per-block table for teaching: output shape, stride, rate, parameters.

  Args:
    end_points: The end_points of a network built from `blocks`.
    blocks: The `Block`s it was built from.
    output_stride, include_root_block, store_non_strided_activations: As
      passed to the network.

  Returns:
    A list of dicts with keys `name`, `shape`, `stride`, `rate`, `params`:
    one row for the root block (if included; its shape is conv1's, before
    pool1), one per block (its end_point), then 'postnorm' and 'logits' when
    the network has them. `params` counts the trainable variables under each
    scope.

  Raises:
    ValueError: If `end_points` hold none of the blocks, or `output_stride`
      cannot be reached with them.
  """
  block_names = {plan.block.scope for plan in plan_blocks(blocks)}
  scopes = [k for k in end_points
            if k.rsplit('/', 1)[-1] in block_names and '/' in k]
  if not scopes:
    raise ValueError('end_points hold none of the blocks %s' %
                     sorted(block_names))
  net_scope = scopes[0].rsplit('/', 1)[0]
  graph = end_points[scopes[0]].graph
  root_stride = ROOT_STRIDE if include_root_block else 1
  stride_in_blocks = (None if output_stride is None
                      else output_stride // root_stride)
  plans = plan_blocks(blocks, stride_in_blocks, store_non_strided_activations)

  def params(prefix):
    variables = graph.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES)
    return sum(v.shape.num_elements() for v in variables
               if v.op.name.startswith(prefix + '/'))

  rows = []
  if include_root_block:
    rows.append({'name': 'conv1+pool1',
                 'shape': end_points[net_scope + '/conv1'].shape.as_list(),
                 'stride': root_stride, 'rate': 1,
                 'params': params(net_scope + '/conv1')})
  for plan in plans:
    name = net_scope + '/' + plan.block.scope
    # The end_point precedes the block's subsampling.
    rows.append({'name': plan.block.scope,
                 'shape': end_points[name].shape.as_list(),
                 'stride': root_stride * plan.stride // plan.subsample,
                 'rate': max(unit.rate for unit in plan.units),
                 'params': params(name)})
  post = params(net_scope + '/postnorm')
  if post:
    rows.append({'name': 'postnorm', 'shape': rows[-1]['shape'],
                 'stride': rows[-1]['stride'], 'rate': rows[-1]['rate'],
                 'params': post})
  logits = end_points.get(net_scope + '/logits')
  if logits is not None:
    rows.append({'name': 'logits', 'shape': logits.shape.as_list(),
                 'stride': None, 'rate': 1,
                 'params': params(net_scope + '/logits')})
  return rows


def format_summary(rows):
  """Renders `summarize` rows as a fixed-width text table with a total."""
  lines = ['%-12s %-22s %6s %4s %12s' %
           ('scope', 'output shape', 'stride', 'rate', 'params')]
  for row in rows:
    lines.append('%-12s %-22s %6s %4s %12s' % (
        row['name'], row['shape'],
        '-' if row['stride'] is None else row['stride'], row['rate'],
        '{:,}'.format(row['params'])))
  lines.append('%-12s %-22s %6s %4s %12s' % (
      'total', '', '', '', '{:,}'.format(sum(r['params'] for r in rows))))
  return '\n'.join(lines)
