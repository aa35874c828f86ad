"""ResNet v1, variable-for-variable compatible with slim's `resnet_v1`.

Residual networks (ResNets) were proposed in:
[1] Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun
    Deep Residual Learning for Image Recognition. arXiv:1512.03385

This is slim's variant: the stride sits in the 3x3 convolution of the last
unit of each block (the Caffe release strides the first 1x1), and pool1 pads
'SAME' under `resnet_arg_scope`. Names, shapes and numbers are those of
`tf_slim.nets.resnet_v1`, so the published slim v1 checkpoints restore with a
plain `tf.train.Saver`.

Typical use:

  import tf_slim as slim
  from resnet_v2_slim import resnet_v1

  with slim.arg_scope(resnet_v1.resnet_arg_scope()):
    logits, end_points = resnet_v1.resnet_v1_50(inputs, 1000,
                                                is_training=False)
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
  """Bottleneck residual unit variant with BN after convolutions.

  This is the original residual unit proposed in [1]. See Fig. 1(a) of [1]
  for its definition, with the extra bottleneck layer.

  Args:
    inputs: A tensor of size [batch, height, width, channels].
    depth: The depth of the ResNet unit output.
    depth_bottleneck: The depth of the bottleneck layers.
    stride: The ResNet unit's stride. Determines the amount of downsampling of
      the units output compared to its input.
    rate: An integer, rate for atrous convolution.
    outputs_collections: Collection to add the ResNet unit output.
    scope: Optional variable_scope.
    use_bounded_activations: Whether or not to use bounded activations.
      Bounded activations better lend themselves to quantized inference.

  Returns:
    The ResNet unit's output.
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
      # Clipping bounds the sum so a quantized graph can use a fixed range.
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
  """Generator for v1 ResNet models.

  Args:
    inputs: A tensor of size [batch, height_in, width_in, channels].
    blocks: A list of `resnet_utils.Block`s.
    num_classes: Number of predicted classes; 0 or None returns features.
    is_training: whether batch_norm layers are in training mode: a Python
      bool or a boolean scalar tensor.
    global_pool: If True, average-pool globally before the logits.
    output_stride: None for the nominal stride (32), else the requested
      ratio of input to output spatial resolution.
    include_root_block: If True, include the initial convolution followed by
      max-pooling.
    spatial_squeeze: if True, logits is of shape [B, C], if false logits is
      of shape [B, 1, 1, C].
    store_non_strided_activations: If True, each block's end_point is taken
      before the stride of its last unit, i.e. at the higher resolution; the
      network output is unchanged.
    reuse: whether or not the network and its variables should be reused.
    scope: Optional variable_scope.

  Returns:
    net, end_points as in `resnet_v2.resnet_v2`.

  Raises:
    ValueError: If the target output_stride is not valid, the inputs are not
      rank 4, or spatial_squeeze meets logits that are not 1x1.
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
  """Helper function for creating a resnet_v1 bottleneck block.

  Args:
    scope: The scope of the block.
    base_depth: The depth of the bottleneck layer for each unit.
    num_units: The number of units in the block.
    stride: The stride of the block, implemented as a stride in the last unit.
      All other units have stride=1.

  Returns:
    A resnet_v1 bottleneck block.
  """
  return resnet_utils.bottleneck_block(scope, bottleneck, base_depth,
                                       num_units, stride)


def resnet_v1_blocks(depth, min_base_depth=MIN_BASE_DEPTH, depth_multiplier=1):
  """The blocks of ResNet-`depth` v1, depth one of 50, 101, 152, 200."""
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
  network.__doc__ = ('ResNet-%d v1 model of [1]. See resnet_v1() for arg and '
                     'return description.' % depth)
  network.default_image_size = DEFAULT_IMAGE_SIZE
  return network


resnet_v1_50 = _network(50)
resnet_v1_101 = _network(101)
resnet_v1_152 = _network(152)
resnet_v1_200 = _network(200)
