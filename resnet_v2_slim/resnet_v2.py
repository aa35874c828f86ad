"""Pre-activation ResNet v2, variable-for-variable compatible with slim's.

Residual networks (ResNets) were originally proposed in:
[1] Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun
    Deep Residual Learning for Image Recognition. arXiv:1512.03385

The full preactivation 'v2' ResNet variant implemented in this module was
introduced by:
[2] Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun
    Identity Mappings in Deep Residual Networks. arXiv: 1603.05027

The key difference of the full preactivation 'v2' variant compared to the
'v1' variant in [1] is the use of batch normalization before every weight
layer rather than after.

Names, shapes, defaults and numbers are those of `tf_slim.nets.resnet_v2`
(plus `spatial_squeeze` from tensorflow/models), so the published slim
checkpoints restore with a plain `tf.train.Saver`.

Typical use:

  import tf_slim as slim
  from resnet_v2_slim import resnet_v2

  # Image classification (the published checkpoints have 1001 classes).
  with slim.arg_scope(resnet_v2.resnet_arg_scope()):
    logits, end_points = resnet_v2.resnet_v2_101(inputs, 1001,
                                                 is_training=False)

  # Dense prediction: features at 1/16 of the input resolution.
  with slim.arg_scope(resnet_v2.resnet_arg_scope()):
    net, end_points = resnet_v2.resnet_v2_101(inputs, num_classes=None,
                                              is_training=False,
                                              global_pool=False,
                                              output_stride=16)
"""

import tensorflow.compat.v1 as tf
from tf_slim import add_arg_scope

from resnet_v2_slim import layers
from resnet_v2_slim import resnet_utils

resnet_arg_scope = resnet_utils.resnet_arg_scope

DEFAULT_IMAGE_SIZE = 224


@add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, stride, rate=1,
               outputs_collections=None, scope=None):
  """Bottleneck residual unit variant with BN before convolutions.

  This is the full preactivation residual unit variant proposed in [2]. See
  Fig. 1(b) of [2] for its definition. Note that we use here the bottleneck
  variant which has an extra bottleneck layer.

  When putting together two consecutive ResNet blocks that use this unit, one
  should use stride = 2 in the last unit of the first block.

  Args:
    inputs: A tensor of size [batch, height, width, channels].
    depth: The depth of the ResNet unit output.
    depth_bottleneck: The depth of the bottleneck layers.
    stride: The ResNet unit's stride. Determines the amount of downsampling of
      the units output compared to its input.
    rate: An integer, rate for atrous convolution.
    outputs_collections: Collection to add the ResNet unit output.
    scope: Optional variable_scope.

  Returns:
    The ResNet unit's output.
  """
  with tf.variable_scope(scope, 'bottleneck_v2', [inputs]) as sc:
    depth_in = layers.last_dimension(inputs.get_shape(), min_rank=4)
    preact = layers.batch_norm(inputs, activation_fn=tf.nn.relu,
                               scope='preact')
    # An identity shortcut takes the raw input; a projection takes the
    # normalized one, so both branches see the same pre-activation.
    if depth == depth_in:
      shortcut = resnet_utils.subsample(inputs, stride, 'shortcut')
    else:
      shortcut = layers.conv2d(preact, depth, [1, 1], stride=stride,
                               normalizer_fn=None, activation_fn=None,
                               scope='shortcut')
    residual = layers.conv2d(preact, depth_bottleneck, [1, 1], stride=1,
                             scope='conv1')
    residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride,
                                        rate=rate, scope='conv2')
    residual = layers.conv2d(residual, depth, [1, 1], stride=1,
                             normalizer_fn=None, activation_fn=None,
                             scope='conv3')
    output = shortcut + residual
    return layers.collect_named_outputs(outputs_collections, sc.name, output)


def resnet_v2(inputs,
              blocks,
              num_classes=None,
              is_training=True,
              global_pool=True,
              output_stride=None,
              include_root_block=True,
              spatial_squeeze=True,
              reuse=None,
              scope=None,
              keras_padding=False):
  """Generator for v2 (preactivation) ResNet models.

  Training for image classification on Imagenet is usually done with [224,
  224] inputs, resulting in [7, 7] feature maps at the output of the last
  ResNet block. For dense prediction use inputs of size 32k + 1 (e.g. 321),
  `global_pool=False` and `output_stride=16`: the output then has spatial
  shape [(height - 1) / 16 + 1, (width - 1) / 16 + 1] with corners aligned
  to the input's.

  Args:
    inputs: A tensor of size [batch, height_in, width_in, channels].
    blocks: A list of length equal to the number of ResNet blocks. Each
      element is a resnet_utils.Block object describing the units in the
      block.
    num_classes: Number of predicted classes for classification tasks. If 0
      or None, we return the features before the logit layer.
    is_training: whether batch_norm layers are in training mode: a Python
      bool or a boolean scalar tensor.
    global_pool: If True, we perform global average pooling before computing
      the logits. Set to True for image classification, False for dense
      prediction.
    output_stride: If None, then the output will be computed at the nominal
      network stride. If output_stride is not None, it specifies the
      requested ratio of input to output spatial resolution.
    include_root_block: If True, include the initial convolution followed by
      max-pooling, if False excludes it. If excluded, `inputs` should be the
      results of an activation-less convolution.
    spatial_squeeze: if True, logits is of shape [B, C], if false logits is
      of shape [B, 1, 1, C], where B is batch_size and C is number of
      classes.
    reuse: whether or not the network and its variables should be reused. To
      be able to reuse 'scope' must be given.
    scope: Optional variable_scope.
    keras_padding: If True, pool1 zero-pads its input by one pixel and pools
      'VALID', as Keras' ResNet50V2/101V2/152V2 do (slim pools 'SAME'). With
      `resnet_arg_scope(batch_norm_epsilon=1.001e-5)` the network then
      computes what the Keras model computes from the same weights (see
      `resnet_v1_graph.convert`). Variables are the same either way.

  Returns:
    net: A rank-4 tensor of size [batch, height_out, width_out, channels_out].
      If global_pool is False, then height_out and width_out are reduced by a
      factor of output_stride compared to the respective height_in and
      width_in, else both height_out and width_out equal one. If num_classes
      is 0 or None, then net is the output of the last ResNet block,
      potentially after global average pooling. If num_classes is a non-zero
      integer, net contains the pre-softmax activations (squeezed to
      [batch, num_classes] with spatial_squeeze).
    end_points: A dictionary from components of the network to the
      corresponding activation.

  Raises:
    ValueError: If the target output_stride is not valid, the inputs are not
      rank 4, or spatial_squeeze meets logits that are not 1x1.
  """
  return resnet_utils.resnet(
      inputs, blocks, bottleneck, preactivation=True, num_classes=num_classes,
      is_training=is_training, global_pool=global_pool,
      output_stride=output_stride, include_root_block=include_root_block,
      spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope,
      default_scope='resnet_v2', keras_padding=keras_padding)


resnet_v2.default_image_size = DEFAULT_IMAGE_SIZE


def resnet_v2_block(scope, base_depth, num_units, stride):
  """Helper function for creating a resnet_v2 bottleneck block.

  Args:
    scope: The scope of the block.
    base_depth: The depth of the bottleneck layer for each unit.
    num_units: The number of units in the block.
    stride: The stride of the block, implemented as a stride in the last unit.
      All other units have stride=1.

  Returns:
    A resnet_v2 bottleneck block.
  """
  return resnet_utils.bottleneck_block(scope, bottleneck, base_depth,
                                       num_units, stride)


def resnet_v2_blocks(depth):
  """The blocks of ResNet-`depth` v2, depth one of 50, 101, 152, 200."""
  return resnet_utils.resnet_blocks(bottleneck, depth)


def _network(depth):
  """Builds the thin `resnet_v2_<depth>` wrapper over `resnet_v2`."""

  def network(inputs, num_classes=None, is_training=True, global_pool=True,
              output_stride=None, spatial_squeeze=True, reuse=None,
              scope='resnet_v2_%d' % depth, keras_padding=False):
    return resnet_v2(inputs, resnet_v2_blocks(depth), num_classes,
                     is_training=is_training, global_pool=global_pool,
                     output_stride=output_stride, include_root_block=True,
                     spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope,
                     keras_padding=keras_padding)

  network.__name__ = network.__qualname__ = 'resnet_v2_%d' % depth
  network.__doc__ = ('ResNet-%d v2 model of [2]. See resnet_v2() for arg and '
                     'return description.' % depth)
  network.default_image_size = DEFAULT_IMAGE_SIZE
  return network


resnet_v2_50 = _network(50)
resnet_v2_101 = _network(101)
resnet_v2_152 = _network(152)
resnet_v2_200 = _network(200)
