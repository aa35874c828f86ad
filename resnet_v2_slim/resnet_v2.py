"""Pre-activation ResNet v2 [2], variable-for-variable compatible with slim's.

[1] He et al. 2015, arXiv:1512.03385, "Deep Residual Learning for Image
    Recognition".
[2] He et al. 2016, arXiv:1603.05027, "Identity Mappings in Deep Residual
    Networks".

v2 moves batch norm and ReLU in front of each convolution ("pre-activation"),
so the shortcut path from one unit to the next is a pure identity; [2] shows
this trains deeper nets more easily than v1's order of [1]. A consequence
here: conv1 has no batch norm, and a batch norm + ReLU ('postnorm') follows
the last block.

Variable names, shapes, defaults and numbers are those of
`tf_slim.nets.resnet_v2` (plus `spatial_squeeze` from tensorflow/models, and
`keras_padding`), so the published slim checkpoints restore with a plain
`tf.train.Saver`.

Typical use:

  import tf_slim as slim
  from resnet_v2_slim import resnet_v2

  # images: [batch, 224, 224, 3]. For classification: the published v2
  # checkpoints have 1001 classes (class 0 is "background").
  with slim.arg_scope(resnet_v2.resnet_arg_scope()):
    logits, end_points = resnet_v2.resnet_v2_101(images, 1001,
                                                 is_training=False)
  # logits: [batch, 1001]

  # Dense prediction: features at 1/16 of the input resolution.
  with slim.arg_scope(resnet_v2.resnet_arg_scope()):
    features, end_points = resnet_v2.resnet_v2_101(images, num_classes=None,
                                                   is_training=False,
                                                   global_pool=False,
                                                   output_stride=16)
  # features: [batch, 14, 14, 2048] for 224 x 224 images
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
  """The full pre-activation unit of [2] (its Fig. 1(b)) in bottleneck form.

  `shortcut + conv3(conv2(conv1(preact)))` with `preact = relu(bn(inputs))`;
  conv1 and conv3 are 1x1, conv2 is 3x3 and carries the stride. conv1 and
  conv2 are followed by batch norm and ReLU under `resnet_arg_scope`; conv3
  is linear, so the output is a plain sum. The shortcut is `inputs`
  (subsampled) when the depth does not change, else a strided, linear 1x1
  projection of `preact`.

  Args:
    inputs: A `[batch, height, width, channels]` tensor.
    depth: Output channels of the unit.
    depth_bottleneck: Output channels of conv1 and conv2.
    stride: Stride of conv2 and of the shortcut; the output is
      `[batch, ceil(height / stride), ceil(width / stride), depth]`.
    rate: Atrous rate of conv2; must be 1 if `stride` > 1.
    outputs_collections: Collection that receives the unit's output.
    scope: Variable scope; defaults to 'bottleneck_v2'.

  Returns:
    The unit's output tensor.

  Raises:
    ValueError: If `inputs` is not rank 4 with a known channel dimension,
      or `stride` > 1 comes with `rate` > 1.
  """
  with tf.variable_scope(scope, 'bottleneck_v2', [inputs]) as sc:
    depth_in = layers.last_dimension(inputs.get_shape(), min_rank=4)
    preact = layers.batch_norm(inputs, activation_fn=tf.nn.relu,
                               scope='preact')
    # The identity path must stay free of batch norm and ReLU: that is the
    # point of [2]. A projection changes the signal anyway, so it can share
    # the residual branch's `preact`.
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
  """Builds a v2 ResNet from `blocks`: root, body, postnorm, pooling, logits.

  The root block is a 7x7 stride-2 `conv1` without batch norm or ReLU (the
  first unit's `preact` normalizes its output) and a 3x3 stride-2 `pool1`.
  Because v2 units end with a bare sum, `postnorm` (batch norm + ReLU)
  follows the last block. `resnet_v2_50` and its siblings call this with the
  ImageNet blocks.

  Shapes: a 224 x 224 image gives a 7 x 7 map after the last block (nominal
  stride 32). For dense prediction pass `global_pool=False` and, e.g.,
  `output_stride=16`; with sides of the form 16k + 1 (321, 513) the map is
  `[(height - 1) / 16 + 1, (width - 1) / 16 + 1]` and its first and last
  pixels sit exactly on the image corners, which eases mapping features
  back to pixels.

  Args:
    inputs: A `[batch, height, width, channels]` tensor.
    blocks: The `resnet_utils.Block`s of the body, e.g.
      `resnet_v2_blocks(50)`.
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
      go straight into the first unit's `preact`, so they should come from
      a convolution with no normalization or activation.
    spatial_squeeze: Squeeze 1x1 logits to `[batch, num_classes]`; False
      leaves them `[batch, 1, 1, num_classes]`.
    reuse: Reuse the variables of `scope`, which must then be given.
    scope: Variable scope; defaults to 'resnet_v2'.
    keras_padding: If True, pool1 zero-pads its input by one pixel and pools
      'VALID', as Keras' ResNet50V2/101V2/152V2 do (slim pools 'SAME'). With
      `resnet_arg_scope(batch_norm_epsilon=1.001e-5)` the network then
      computes what the Keras model computes from the same weights (see
      `resnet_v1_graph.convert`). Variables are the same either way.

  Returns:
    net: The logits if `num_classes` is set: `[batch, num_classes]` with
      `spatial_squeeze`, else `[batch, 1, 1, num_classes]` after global
      pooling or `[batch, h, w, num_classes]` without it. Otherwise the
      features after `postnorm`: `[batch, 1, 1, channels]` with global
      pooling, else `[batch, h, w, channels]`. Here `h = ceil(height / s)`,
      `w = ceil(width / s)`, `s` being `output_stride` or the nominal stride.
    end_points: A dict from scope name to tensor: `<scope>/conv1`, every
      conv inside a unit, every unit and every block (e.g.
      'resnet_v2_50/block1/unit_1/bottleneck_v2/conv2',
      'resnet_v2_50/block1'), `<scope>/logits`, `<scope>/spatial_squeeze`,
      and, without the scope prefix, 'global_pool' and 'predictions' (the
      softmax) when built.

  Raises:
    ValueError: If `inputs` is not rank 4 with a known channel dimension,
      `output_stride` cannot be reached, or `spatial_squeeze` meets logits
      whose known height or width is not 1.
  """
  return resnet_utils.resnet(
      inputs, blocks, bottleneck, preactivation=True, num_classes=num_classes,
      is_training=is_training, global_pool=global_pool,
      output_stride=output_stride, include_root_block=include_root_block,
      spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope,
      default_scope='resnet_v2', keras_padding=keras_padding)


resnet_v2.default_image_size = DEFAULT_IMAGE_SIZE


def resnet_v2_block(scope, base_depth, num_units, stride):
  """A `Block` of v2 `bottleneck` units; see `resnet_utils.bottleneck_block`.

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


def resnet_v2_blocks(depth):
  """The four `Block`s of ImageNet ResNet-`depth` v2.

  Args:
    depth: 50, 101, 152 or 200.

  Returns:
    A list of four `resnet_utils.Block`s.

  Raises:
    ValueError: If `depth` is not one of those listed.
  """
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
  network.__doc__ = ('ResNet-%d v2 [2] on the ImageNet blocks. Arguments and '
                     'returns as in `resnet_v2`.' % depth)
  network.default_image_size = DEFAULT_IMAGE_SIZE
  return network


resnet_v2_50 = _network(50)
resnet_v2_101 = _network(101)
resnet_v2_152 = _network(152)
resnet_v2_200 = _network(200)
