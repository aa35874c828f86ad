"""ResNet v1 [1], variable-for-variable compatible with slim's `resnet_v1`.

[1] He et al. 2015, arXiv:1512.03385, "Deep Residual Learning for Image
    Recognition".

Each unit is a bottleneck (1x1, 3x3, 1x1 convolutions) with batch norm after
every convolution and ReLU after the addition. This is slim's variant: the
stride sits in the 3x3 convolution of the last unit of each block (the Caffe
release strides the first 1x1 of the first unit), and pool1 pads 'SAME'
under `resnet_arg_scope`. Variable names, shapes and numbers are those of
`tf_slim.nets.resnet_v1` (plus the extra arguments of the tensorflow/models
version), so the published slim v1 checkpoints restore with a plain
`tf.train.Saver`.

Typical use:

  import tf_slim as slim
  from resnet_v2_slim import resnet_v1

  # images: [batch, 224, 224, 3]; the slim v1 checkpoints have 1000 classes.
  with slim.arg_scope(resnet_v1.resnet_arg_scope()):
    logits, end_points = resnet_v1.resnet_v1_50(images, 1000,
                                                is_training=False)
  # logits: [batch, 1000]; end_points['predictions'] holds the softmax.
"""

import tensorflow.compat.v1 as tf
from tf_slim import add_arg_scope

from resnet_v2_slim import layers
from resnet_v2_slim import resnet_utils

resnet_arg_scope = resnet_utils.resnet_arg_scope

DEFAULT_IMAGE_SIZE = 224
MIN_BASE_DEPTH = 8


@add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, stride, rate=1,
               outputs_collections=None, scope=None,
               use_bounded_activations=False):
  """The bottleneck unit of [1] (its Fig. 5, right): normalize after each conv.

  `relu(shortcut + conv3(conv2(conv1(inputs))))`, where conv1 and conv3 are
  1x1 and conv2 is 3x3 and carries the stride. The shortcut is `inputs`
  (subsampled) when the depth does not change, else a strided 1x1
  projection (with batch norm under `resnet_arg_scope`).

  Args:
    inputs: A `[batch, height, width, channels]` tensor.
    depth: Output channels of the unit.
    depth_bottleneck: Output channels of conv1 and conv2.
    stride: Stride of conv2 and of the shortcut; the output is
      `[batch, ceil(height / stride), ceil(width / stride), depth]`.
    rate: Atrous rate of conv2; must be 1 if `stride` > 1.
    outputs_collections: Collection that receives the unit's output.
    scope: Variable scope; defaults to 'bottleneck_v1'.
    use_bounded_activations: ReLU6 on the projection shortcut and on the
      output, and the residual clipped to [-6, 6]: fixed ranges suit
      quantized inference. `resnet_v1` does not pass it; set it with
      `arg_scope([resnet_v1.bottleneck], use_bounded_activations=True)`.

  Returns:
    The unit's output tensor.

  Raises:
    ValueError: If `inputs` is not rank 4 with a known channel dimension,
      or `stride` > 1 comes with `rate` > 1.
  """
  with tf.variable_scope(scope, 'bottleneck_v1', [inputs]) as sc:
    depth_in = layers.last_dimension(inputs.get_shape(), min_rank=4)
    if depth == depth_in:
      shortcut = resnet_utils.subsample(inputs, stride, 'shortcut')
    else:
      shortcut = layers.conv2d(
          inputs, depth, [1, 1], stride=stride,
          activation_fn=tf.nn.relu6 if use_bounded_activations else None,
          scope='shortcut')
    residual = layers.conv2d(inputs, depth_bottleneck, [1, 1], stride=1,
                             scope='conv1')
    residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride,
                                        rate=rate, scope='conv2')
    residual = layers.conv2d(residual, depth, [1, 1], stride=1,
                             activation_fn=None, scope='conv3')
    if use_bounded_activations:
      # The residual has no activation of its own; clipping gives it the
      # fixed range a quantized graph needs.
      residual = tf.clip_by_value(residual, -6.0, 6.0)
      output = tf.nn.relu6(shortcut + residual)
    else:
      output = tf.nn.relu(shortcut + residual)
    return layers.collect_named_outputs(outputs_collections, sc.name, output)


def resnet_v1(inputs,
              blocks,
              num_classes=None,
              is_training=True,
              global_pool=True,
              output_stride=None,
              include_root_block=True,
              spatial_squeeze=True,
              store_non_strided_activations=False,
              reuse=None,
              scope=None):
  """Builds a v1 ResNet from `blocks`: root, body, optional pooling and logits.

  The root block is a 7x7 stride-2 `conv1` (with batch norm and ReLU under
  `resnet_arg_scope`) and a 3x3 stride-2 `pool1`. `resnet_v1_50` and its
  siblings call this with the ImageNet blocks.

  Args:
    inputs: A `[batch, height, width, channels]` tensor.
    blocks: The `resnet_utils.Block`s of the body, e.g.
      `resnet_v1_blocks(50)`.
    num_classes: Classes of the 1x1 `logits` convolution; 0 or None builds
      no logits and returns the features.
    is_training: Batch norm mode: a Python bool, or a boolean scalar tensor
      to switch at run time.
    global_pool: Average the final map over height and width (end_point
      'global_pool'). False keeps the map, for dense prediction.
    output_stride: None for the nominal stride (32 with the ImageNet
      blocks). Otherwise the input-to-output stride to keep, using atrous
      convolution past that point; it must be a cumulative stride the net
      reaches (4, 8, 16 or 32 for the ImageNet blocks with the root).
    include_root_block: Build `conv1` and `pool1`. Without them `inputs`
      go straight into the first block.
    spatial_squeeze: Squeeze 1x1 logits to `[batch, num_classes]`; False
      leaves them `[batch, 1, 1, num_classes]`.
    store_non_strided_activations: Run each block's last unit without its
      stride and subsample afterwards, so the block's end_point has the
      block's input resolution. The network output stays the same; the
      price is computing each last unit at full resolution.
    reuse: Reuse the variables of `scope`, which must then be given.
    scope: Variable scope; defaults to 'resnet_v1'.

  Returns:
    `(net, end_points)` as described in `resnet_v2.resnet_v2`.

  Raises:
    ValueError: If `inputs` is not rank 4 with a known channel dimension,
      `output_stride` cannot be reached, or `spatial_squeeze` meets logits
      whose known height or width is not 1.
  """
  return resnet_utils.resnet(
      inputs, blocks, bottleneck, preactivation=False, num_classes=num_classes,
      is_training=is_training, global_pool=global_pool,
      output_stride=output_stride, include_root_block=include_root_block,
      spatial_squeeze=spatial_squeeze,
      store_non_strided_activations=store_non_strided_activations,
      reuse=reuse, scope=scope, default_scope='resnet_v1')


resnet_v1.default_image_size = DEFAULT_IMAGE_SIZE


def resnet_v1_block(scope, base_depth, num_units, stride):
  """A `Block` of v1 `bottleneck` units; see `resnet_utils.bottleneck_block`.

  Args:
    scope: Variable scope of the block, e.g. 'block1'.
    base_depth: Bottleneck channels; the units output `4 * base_depth`.
    num_units: How many units.
    stride: Stride of the last unit; the others use 1.

  Returns:
    A `resnet_utils.Block`.
  """
  return resnet_utils.bottleneck_block(scope, bottleneck, base_depth,
                                       num_units, stride)


def resnet_v1_blocks(depth, min_base_depth=MIN_BASE_DEPTH, depth_multiplier=1):
  """The four `Block`s of ImageNet ResNet-`depth` v1.

  Args:
    depth: 50, 101, 152 or 200.
    min_base_depth: Lower bound on each block's bottleneck channels after
      `depth_multiplier` is applied.
    depth_multiplier: Scales the bottleneck channels (64, 128, 256, 512) to
      make thinner or wider nets; the result is truncated to an int.

  Returns:
    A list of four `resnet_utils.Block`s.

  Raises:
    ValueError: If `depth` is not one of those listed.
  """
  return resnet_utils.resnet_blocks(
      bottleneck, depth,
      depth_func=lambda d: max(int(d * depth_multiplier), min_base_depth))


def _network(depth):
  """Builds the thin `resnet_v1_<depth>` wrapper over `resnet_v1`."""

  def network(inputs, num_classes=None, is_training=True, global_pool=True,
              output_stride=None, spatial_squeeze=True,
              store_non_strided_activations=False,
              min_base_depth=MIN_BASE_DEPTH, depth_multiplier=1, reuse=None,
              scope='resnet_v1_%d' % depth):
    blocks = resnet_v1_blocks(depth, min_base_depth, depth_multiplier)
    return resnet_v1(inputs, blocks, num_classes, is_training=is_training,
                     global_pool=global_pool, output_stride=output_stride,
                     include_root_block=True, spatial_squeeze=spatial_squeeze,
                     store_non_strided_activations=store_non_strided_activations,
                     reuse=reuse, scope=scope)

  network.__name__ = network.__qualname__ = 'resnet_v1_%d' % depth
  network.__doc__ = ('ResNet-%d v1 [1] on the ImageNet blocks. Arguments and '
                     'returns as in `resnet_v1`, plus `min_base_depth` and '
                     '`depth_multiplier` of `resnet_v1_blocks`.' % depth)
  network.default_image_size = DEFAULT_IMAGE_SIZE
  return network


resnet_v1_50 = _network(50)
resnet_v1_101 = _network(101)
resnet_v1_152 = _network(152)
resnet_v1_200 = _network(200)
