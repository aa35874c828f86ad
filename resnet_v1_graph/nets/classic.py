"""The classic ResNet v1 network, as TensorFlow 1.x built it with `tf.layers`.

A 7x7/2 convolution `First_Conv` with batch norm and ReLU, a 3x3/2 max pool,
four stacks of basic (depths 18, 34) or bottleneck (50, 101, 152) blocks with
projection shortcuts where the shape changes, global average pooling and a
dense layer [1]. Variables carry exactly the names that code gave them
(`First_Conv/kernel`, `First_Conv_BN/gamma`, `stack_0_block_0_conv_0/...`,
`stack_1_block_0_shortcut/...`, `dense/kernel`), so its checkpoints load.
This module only builds the network, images to logits; the placeholders,
loss and optimizer around it are `model.GraphModel`'s.

[1] Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun
    Deep Residual Learning for Image Recognition. arXiv:1512.03385

Typical use:

  images = tf.placeholder(tf.float32, [None, 224, 224, 3])
  logits = classic.resnet_logits(images, is_training=False, depth=50,
                                 num_classes=1000)   # [None, 1000]
"""

import tensorflow.compat.v1 as tf

from resnet_v1_graph.nets import layers
from resnet_v2_slim import resnet_utils

# Blocks per stack, by depth; the one table behind every ResNet here.
BLOCKS_PER_STACK = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
STACK_FILTERS = (64, 128, 256, 512)
# Depths from here on use bottleneck blocks, whose outputs are 4x wider.
BOTTLENECK_FROM_DEPTH = 50
BOTTLENECK_EXPANSION = 4
ROOT_FILTERS = 64
ROOT_KERNEL = 7
DENSE_INIT_STDDEV = 0.1
# Keras' ResNets (`keras_compatible`) pad 3 zeros before the 7x7/2
# convolution and convolve 'VALID' (its pool pads as slim's v2 does).
KERAS_CONV1_PADDING = 3


def _zero_pad(x, pixels):
  return tf.pad(x, [[0, 0], [pixels, pixels], [pixels, pixels], [0, 0]])


def resnet_logits(images, is_training, depth, num_classes,
                  batch_norm_momentum=layers.BATCH_NORM_MOMENTUM,
                  keras_compatible=False):
  """The classic ResNet v1 network, from images to logits.

  Args:
    images: A tensor [batch, height, width, channels].
    is_training: A Python bool or boolean scalar tensor for batch norm.
    depth: A key of `BLOCKS_PER_STACK`.
    num_classes: Width of the dense layer.
    batch_norm_momentum: Decay of batch norm's moving averages.
    keras_compatible: Compute what Keras' ResNet50/101/152 compute from the
      same weights (see `convert`): zero-pad 3 pixels before First_Conv and
      1 before the max pool, both then 'VALID' (on even sizes 'same' pads
      2 and 3, and 0 and 1, so the windows would sit one pixel off), and
      batch norm epsilon 1.001e-5 instead of 1e-3. Variables are the same
      either way.

  Returns:
    Logits [batch, num_classes].
  """
  epsilon = (layers.KERAS_BATCH_NORM_EPSILON if keras_compatible
             else layers.BATCH_NORM_EPSILON)

  def conv_bn(x, filters, kernel, strides, padding, name):
    """`name`: conv2d and its bias, then `name`_BN: batch norm.

    The bias is folded into batch norm (see `layers.batch_normalization`)
    rather than added to the convolution's output, in training as in
    inference, so TensorFlow can fuse convolution, batch norm and ReLU; the
    variables, their names and what they hold are `tf.layers`'.
    """
    x = layers.conv2d(x, filters, kernel, strides=strides, padding=padding,
                      use_bias=False, name=name)
    with tf.variable_scope(name):
      bias = tf.get_variable('bias', [filters],
                             initializer=tf.zeros_initializer())
    return layers.batch_normalization(x, momentum=batch_norm_momentum,
                                      epsilon=epsilon, training=is_training,
                                      name=name + '_BN', folded_bias=bias)

  if keras_compatible:
    x = conv_bn(_zero_pad(images, KERAS_CONV1_PADDING), ROOT_FILTERS,
                ROOT_KERNEL, 2, 'valid', 'First_Conv')
  else:
    x = conv_bn(images, ROOT_FILTERS, ROOT_KERNEL, 2, 'same', 'First_Conv')
  x = tf.nn.relu(x)
  if keras_compatible:
    x = layers.max_pooling2d(_zero_pad(x, resnet_utils.KERAS_POOL1_PADDING),
                             pool_size=3, strides=2, padding='valid',
                             name='max_pool')
  else:
    x = layers.max_pooling2d(x, pool_size=3, strides=2, padding='same',
                             name='max_pool')
  bottleneck = depth >= BOTTLENECK_FROM_DEPTH
  for i, (blocks, filters) in enumerate(
      zip(BLOCKS_PER_STACK[depth], STACK_FILTERS)):
    with tf.name_scope('stack_%d' % i):
      for j in range(blocks):
        # The first block of stacks 1-3 halves the resolution.
        stride = 2 if i > 0 and j == 0 else 1
        x = _residual_block(x, filters, stride, 'stack_%d_block_%d' % (i, j),
                            bottleneck, conv_bn)
  with tf.name_scope('global_pool'):
    x = tf.reduce_mean(x, [1, 2])
  return layers.dense(
      x, num_classes,
      kernel_initializer=tf.truncated_normal_initializer(
          stddev=DENSE_INIT_STDDEV),
      name='dense')


def _residual_block(inputs, filters, stride, name, bottleneck, conv_bn):
  """A basic (two 3x3) or bottleneck (1x1, 3x3, 1x1) residual block.

  The stride sits in the block's first convolution, as in [1].
  """
  if bottleneck:
    shapes = [(1, filters), (3, filters), (1, filters * BOTTLENECK_EXPANSION)]
  else:
    shapes = [(3, filters), (3, filters)]
  out_filters = shapes[-1][1]
  with tf.name_scope(name):
    x = inputs
    for k, (kernel, layer_filters) in enumerate(shapes):
      with tf.name_scope('%s_layer_%d' % (name, k)):
        x = conv_bn(x, layer_filters, kernel, stride if k == 0 else 1, 'same',
                    '%s_conv_%d' % (name, k))
        if k < len(shapes) - 1:
          x = tf.nn.relu(x)
    shortcut = inputs
    if stride != 1 or inputs.shape[-1] != out_filters:
      shortcut = conv_bn(inputs, out_filters, 1, stride, 'same',
                         name + '_shortcut')
    with tf.name_scope('shortcut_connect'):
      return tf.nn.relu(x + shortcut)
