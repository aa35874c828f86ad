"""Building blocks shared by the slim ResNet v1 and v2 generators.

Residual networks (ResNets) were proposed in:
[1] Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun
    Deep Residual Learning for Image Recognition. arXiv:1512.03385
[2] Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun
    Identity Mappings in Deep Residual Networks. arXiv: 1603.05027

A network is a list of `Block`s; `stack_blocks_dense` stacks them under the
scopes `blockN/unit_M` and, given an `output_stride`, swaps strides for atrous
rates so that dense-prediction features keep a chosen resolution [3].

[3] Liang-Chieh Chen et al. DeepLab: Semantic Image Segmentation with Deep
    Convolutional Nets, Atrous Convolution, and Fully Connected CRFs.
    arXiv:1606.00915

Typical use:

  import tf_slim as slim
  from resnet_v2_slim import resnet_utils, resnet_v2

  with slim.arg_scope(resnet_utils.resnet_arg_scope()):
    net, end_points = resnet_v2.resnet_v2_50(images, 1000, is_training=False)
"""

import collections

import tensorflow.compat.v1 as tf
from tf_slim import add_arg_scope, arg_scope

from resnet_v2_slim import layers

# Units per block of the ImageNet ResNets; the one table behind every depth.
UNITS_PER_BLOCK = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}
BASE_DEPTHS = (64, 128, 256, 512)
# Slim strides in the last unit of a block rather than the first (as in [1]),
# so each block's output end_point is taken before any subsampling; the last
# block does not stride, giving a nominal output stride of 32 with the root.
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

_UNIT_TUPLE_KEYS = ('depth', 'depth_bottleneck', 'stride')


class Block(collections.namedtuple('Block', ['scope', 'unit_fn', 'args'])):
  """A named ResNet block.

  Its parts are:
    scope: The scope of the `Block`, e.g. 'block1'.
    unit_fn: The ResNet unit function which takes as input a `Tensor` and
      returns another `Tensor` with the output of the ResNet unit.
    args: A list of length equal to the number of units in the `Block`. Each
      element is a dict of keyword arguments for `unit_fn` (slim's form), or a
      `(depth, depth_bottleneck, stride)` tuple (the older form).

  Raises:
    ValueError: If `args` is not a list of dicts or 3-tuples of ints.
  """
  __slots__ = ()

  def __new__(cls, scope, unit_fn, args):
    for unit in args:
      unit_kwargs(unit, scope)
    return super().__new__(cls, scope, unit_fn, args)


def unit_kwargs(unit, scope='block'):
  """Returns the keyword arguments one entry of `Block.args` stands for.

  Raises:
    ValueError: If `unit` is neither a dict nor a 3-tuple of ints.
  """
  if isinstance(unit, dict):
    return dict(unit)
  if (isinstance(unit, (tuple, list)) and len(unit) == 3 and
      all(isinstance(v, int) and not isinstance(v, bool) for v in unit)):
    return dict(zip(_UNIT_TUPLE_KEYS, unit))
  raise ValueError(
      'Block %r: each unit must be a dict of unit_fn keyword arguments or a '
      '(depth, depth_bottleneck, stride) tuple of ints, got %r' % (scope, unit))


def subsample(inputs, factor, scope=None):
  """Subsamples the input along the spatial dimensions.

  Args:
    inputs: A `Tensor` of size [batch, height_in, width_in, channels].
    factor: The subsampling factor.
    scope: Optional variable_scope.

  Returns:
    output: A `Tensor` of size [batch, height_out, width_out, channels] with the
      input, either intact (if factor == 1) or subsampled (if factor > 1).
  """
  if factor == 1:
    return inputs
  return layers.max_pool2d(inputs, [1, 1], stride=factor, scope=scope)


def conv2d_same(inputs, num_outputs, kernel_size, stride, rate=1, scope=None):
  """Strided 2-D convolution with 'SAME' padding that does not depend on size.

  TensorFlow's 'SAME' padding puts the extra pixel of an even pad at the end,
  and how much it pads depends on the input size; for stride > 1 the sampled
  positions then shift between odd and even inputs. Padding explicitly by the
  effective kernel size and convolving 'VALID' makes

     net = conv2d_same(inputs, num_outputs, 3, stride=stride)

  equal to

     net = conv2d(inputs, num_outputs, 3, stride=1, padding='SAME')
     net = subsample(net, factor=stride)

  for every input size, which is what makes atrous and strided nets agree.

  Args:
    inputs: A 4-D tensor of size [batch, height_in, width_in, channels].
    num_outputs: An integer, the number of output filters.
    kernel_size: An int with the kernel_size of the filters.
    stride: An integer, the output stride.
    rate: An integer, rate for atrous convolution.
    scope: Scope.

  Returns:
    output: A 4-D tensor of size [batch, height_out, width_out, channels] with
      the convolution output.
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


UnitPlan = collections.namedtuple('UnitPlan', ['kwargs', 'rate'])
BlockPlan = collections.namedtuple(
    'BlockPlan', ['block', 'units', 'subsample', 'stride', 'rate'])


def valid_output_strides(blocks, root_stride=1):
  """The output strides `blocks` can reach: cumulative strides at each unit.

  Args:
    blocks: A list of `Block`s.
    root_stride: Stride of whatever precedes the blocks (4 for the root block).

  Returns:
    A sorted list of ints.
  """
  strides = {root_stride}
  current = root_stride
  for block in blocks:
    for unit in block.args:
      current *= unit_kwargs(unit, block.scope).get('stride', 1)
      strides.add(current)
  return sorted(strides)


def plan_blocks(blocks, output_stride=None,
                store_non_strided_activations=False):
  """Decides each unit's stride and atrous rate for a target output stride.

  Once the cumulative stride reaches `output_stride`, every later unit runs
  with stride 1 and an atrous rate multiplied by the stride it gave up, so the
  receptive fields stay those of the nominal network.

  Args:
    blocks: A list of `Block`s.
    output_stride: None for the nominal stride, else the requested ratio of
      input to output resolution.
    store_non_strided_activations: Move the stride of each block's last unit
      to a subsampling after the block, so the block's end_point keeps the
      higher resolution.

  Returns:
    A list of `BlockPlan(block, units, subsample, stride, rate)`, `units` a
    list of `UnitPlan(kwargs, rate)`; `stride` and `rate` are the cumulative
    stride and the atrous rate after the block.

  Raises:
    ValueError: If `output_stride` cannot be reached by these blocks.
  """
  def unreachable():
    return ValueError(
        'The target output_stride %r cannot be reached; with these blocks it '
        'must be one of %s.' % (output_stride, valid_output_strides(blocks)))

  current_stride = 1
  rate = 1
  plans = []
  for block in blocks:
    units = []
    block_stride = 1
    for i, unit in enumerate(block.args):
      kwargs = unit_kwargs(unit, block.scope)
      if store_non_strided_activations and i == len(block.args) - 1:
        block_stride = kwargs.get('stride', 1)
        kwargs['stride'] = 1
      unit_stride = kwargs.get('stride', 1)
      if output_stride is not None and current_stride == output_stride:
        units.append(UnitPlan(dict(kwargs, stride=1), rate))
        rate *= unit_stride
      else:
        units.append(UnitPlan(kwargs, 1))
        current_stride *= unit_stride
        if output_stride is not None and current_stride > output_stride:
          raise unreachable()
    if output_stride is not None and current_stride == output_stride:
      rate *= block_stride
      subsample_factor = 1
    else:
      subsample_factor = block_stride
      current_stride *= block_stride
      if output_stride is not None and current_stride > output_stride:
        raise unreachable()
    plans.append(BlockPlan(block, units, subsample_factor, current_stride,
                           rate))
  if output_stride is not None and current_stride != output_stride:
    raise unreachable()
  return plans


@add_arg_scope
def stack_blocks_dense(net, blocks, output_stride=None,
                       store_non_strided_activations=False,
                       outputs_collections=None):
  """Stacks ResNet `Blocks` and controls output feature density.

  This is the one place that opens the `blockN/unit_M` scopes: the variable
  names every checkpoint depends on.

  Args:
    net: A `Tensor` of size [batch, height, width, channels].
    blocks: A list of length equal to the number of ResNet `Blocks`.
    output_stride: If `None`, the output is computed at the nominal network
      stride. Otherwise the requested ratio of input to output spatial
      resolution, which must be the product of unit strides from the start up
      to some level of the ResNet (see `valid_output_strides`).
    store_non_strided_activations: See `plan_blocks`.
    outputs_collections: Collection to add the ResNet block outputs.

  Returns:
    net: Output tensor with stride equal to the specified output_stride.

  Raises:
    ValueError: If the target output_stride is not valid.
  """
  for plan in plan_blocks(blocks, output_stride, store_non_strided_activations):
    with tf.variable_scope(plan.block.scope, 'block', [net]) as sc:
      for i, unit in enumerate(plan.units):
        with tf.variable_scope('unit_%d' % (i + 1), values=[net]):
          net = plan.block.unit_fn(net, rate=unit.rate, **unit.kwargs)
      # The end_point is taken before the subsampling.
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
  """Defines the default ResNet arg scope.

  Without it conv2d has biases and no batch norm, and the graph no longer
  matches the published checkpoints.

  Args:
    weight_decay: The weight decay to use for regularizing the model.
    batch_norm_decay: The moving average decay when estimating layer
      activation statistics in batch normalization.
    batch_norm_epsilon: Small constant to prevent division by zero when
      normalizing activations by their variance in batch normalization.
    batch_norm_scale: If True, uses an explicit `gamma` multiplier to scale
      the activations in the batch normalization layer.
    activation_fn: The activation function which is used in ResNet.
    use_batch_norm: Whether or not to use batch normalization.
    batch_norm_updates_collections: Collection for the update ops for
      batch norm.

  Returns:
    An `arg_scope` to use for the resnet models.
  """
  batch_norm_params = {
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'scale': batch_norm_scale,
      'updates_collections': batch_norm_updates_collections,
      'fused': None,  # Use fused batch norm if possible.
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
  """A block of `num_units` bottleneck units; only the last one strides.

  Args:
    scope: The scope of the block.
    unit_fn: The bottleneck unit function.
    base_depth: The depth of the bottleneck layer for each unit; the unit
      outputs have `4 * base_depth` channels.
    num_units: The number of units in the block.
    stride: The stride of the block, implemented as a stride in the last unit.

  Returns:
    A `Block`.
  """
  unit = {'depth': base_depth * BOTTLENECK_EXPANSION,
          'depth_bottleneck': base_depth, 'stride': 1}
  return Block(scope, unit_fn,
               [unit] * (num_units - 1) + [dict(unit, stride=stride)])


def check_inputs(inputs):
  """Converts `inputs` to a tensor and checks it is [batch, h, w, channels].

  Raises:
    ValueError: If `inputs` is not rank 4 or has no channel dimension.
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
    inputs: A tensor of size [batch, height_in, width_in, channels].
    blocks: A list of `Block`s.
    unit_fn: The module's unit function; it receives `outputs_collections`
      through arg_scope so its outputs become end_points.
    preactivation: True for v2 [2]: conv1 has no batch norm or activation
      (the first unit normalizes its input) and the last block is followed by
      batch norm + ReLU ('postnorm'), since v2 units end with an addition.
    keras_padding: Pad pool1's input with zeros and pool 'VALID', as Keras'
      applications do, instead of pooling 'SAME'. The windows then start one
      pixel earlier on even sizes, and in v2, where pool1 sees conv1's raw
      output, a zero can win the max; weights converted from Keras need it.
    (The rest as in `resnet_v2.resnet_v2`.)

  Returns:
    net, end_points.

  Raises:
    ValueError: On a non-rank-4 input, an output_stride the blocks cannot
      reach, or `spatial_squeeze` of a map that is not 1x1.
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
    A list of dicts with keys `name`, `shape`, `stride`, `rate`, `params`;
    the first row is the root block (when present), the last the logits (when
    present). Parameters count trainable variables under each scope.
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
