"""More residual networks, each with a plain twin: the degradation experiments.

ResNets exist because deeper plain networks train worse [1]. Every network
here takes `shortcuts=True/False`; without shortcuts it is its "plain" twin
of equal depth and width, so the two can be trained side by side.

  * `cifar_resnet_logits`: the CIFAR-10 ResNets of [1] section 4.2: a 3x3
    conv with 16 filters, three stages of n basic blocks (16/32/64 filters,
    stride 2 at stages 2 and 3), global average pooling, dense. 6n + 2
    layers: ResNet-20/32/44/56/110 for n = 3/5/7/9/18. Shortcuts are the
    paper's option A (identity, subsampled and zero-padded where the shape
    changes), so residual and plain nets have identical parameters.
  * `resnet30_logits`: a 30-layer net for 32x32 images: batch norm on the
    input, 3x3 conv 64, residual blocks [2, 5, 5, 2] at 64/128/256/512
    filters (a 1x1 stride-2 projection where it downsamples), ReLU before
    batch norm, 4x4 average pooling, dense. Its plain twin has the same
    [4, 10, 10, 4] convolutions.
  * `course_resnet50_logits`: the ResNet-50 built from `identity_block` and
    `convolutional_block` for the 64x64 hand-signs (6 classes), with that
    code's names (`conv1`, `bn_conv1`, `res2a_branch2a`, `bn2a_branch1`,
    `fc6`, ...) and glorot-uniform initialisation from a fixed seed.

[1] Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun
    Deep Residual Learning for Image Recognition. arXiv:1512.03385

Typical use:

  logits = degradation.cifar_resnet_logits(images, is_training, depth=56,
                                           num_classes=10)
  plain = degradation.cifar_resnet_logits(images, is_training, depth=56,
                                          num_classes=10, shortcuts=False)

or by name through `registry.get('cifar_plain56')`.
"""

import tensorflow.compat.v1 as tf

from resnet_v1_graph.nets import layers

# [1] section 4.2: n blocks per stage gives 6n + 2 weighted layers.
CIFAR_BLOCKS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}
CIFAR_FILTERS = (16, 32, 64)

RESNET30_BLOCKS = (2, 5, 5, 2)
RESNET30_FILTERS = (64, 128, 256, 512)
RESNET30_POOL = 4

COURSE_STAGES = (  # (stage, filters, stride, blocks)
    (2, (64, 64, 256), 1, 'abc'),
    (3, (128, 128, 512), 2, 'abcd'),
    (4, (256, 256, 1024), 2, 'abcdef'),
    (5, (512, 512, 2048), 2, 'abc'),
)
COURSE_SEED = 0
COURSE_POOL = 2


def _normalizer(is_training, momentum):
  """`bn(x, name, relu_before=False, relu_after=False)` for one network."""
  def bn(x, name, relu_before=False, relu_after=False):
    if relu_before:
      x = tf.nn.relu(x)
    x = layers.batch_normalization(x, momentum=momentum,
                                   training=is_training, name=name)
    return tf.nn.relu(x) if relu_after else x
  return bn


def _option_a_shortcut(x, filters, stride):
  """Identity shortcut: subsample, then zero-pad the new channels."""
  if stride > 1:
    x = x[:, ::stride, ::stride, :]
  extra = filters - int(x.shape[-1])
  if extra:
    x = tf.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
  return x


def cifar_resnet_logits(images, is_training, depth, num_classes,
                        shortcuts=True,
                        batch_norm_momentum=layers.BATCH_NORM_MOMENTUM):
  """A CIFAR ResNet of [1] section 4.2 (or its plain twin).

  Args:
    images: [batch, height, width, channels], 32x32 in the paper.
    is_training: A Python bool or boolean scalar tensor.
    depth: One of `CIFAR_BLOCKS` (20, 32, 44, 56, 110).
    num_classes: Width of the dense layer.
    shortcuts: False builds the plain twin.
    batch_norm_momentum: Decay of batch norm's moving averages.

  Returns:
    Logits [batch, num_classes].

  Raises:
    ValueError: If `depth` is not in the table.
  """
  if depth not in CIFAR_BLOCKS:
    raise ValueError('unknown CIFAR ResNet depth %r; choose one of %s' %
                     (depth, sorted(CIFAR_BLOCKS)))
  bn = _normalizer(is_training, batch_norm_momentum)
  x = layers.conv2d(images, CIFAR_FILTERS[0], 3, padding='same',
                    use_bias=False, name='conv')
  x = bn(x, 'conv_BN', relu_after=True)
  for i, filters in enumerate(CIFAR_FILTERS):
    for j in range(CIFAR_BLOCKS[depth]):
      name = 'stage_%d_block_%d' % (i, j)
      stride = 2 if i > 0 and j == 0 else 1
      with tf.name_scope(name):
        y = layers.conv2d(x, filters, 3, strides=stride, padding='same',
                          use_bias=False, name=name + '_conv_0')
        y = bn(y, name + '_conv_0_BN', relu_after=True)
        y = layers.conv2d(y, filters, 3, padding='same', use_bias=False,
                          name=name + '_conv_1')
        y = bn(y, name + '_conv_1_BN')
        if shortcuts:
          with tf.name_scope('shortcut_connect'):
            y += _option_a_shortcut(x, filters, stride)
        x = tf.nn.relu(y)
  x = tf.reduce_mean(x, [1, 2])
  return layers.dense(x, num_classes, name='dense')


def resnet30_logits(images, is_training, num_classes, shortcuts=True,
                    batch_norm_momentum=layers.BATCH_NORM_MOMENTUM):
  """The 30-layer residual net for 32x32 images (or its plain twin).

  Args:
    images: [batch, 32, 32, channels].
    is_training: A Python bool or boolean scalar tensor.
    num_classes: Width of the dense layer.
    shortcuts: False builds the plain twin with the same convolutions.
    batch_norm_momentum: Decay of batch norm's moving averages.

  Returns:
    Logits [batch, num_classes].
  """
  bn = _normalizer(is_training, batch_norm_momentum)
  x = bn(images, 'input_BN')
  x = bn(layers.conv2d(x, RESNET30_FILTERS[0], 3, padding='same',
                       name='conv'), 'conv_BN', relu_before=True)
  for i, (blocks, filters) in enumerate(zip(RESNET30_BLOCKS,
                                            RESNET30_FILTERS)):
    for j in range(blocks):
      name = 'stage_%d_block_%d' % (i, j)
      stride = 2 if i > 0 and j == 0 else 1
      with tf.name_scope(name):
        y = layers.conv2d(x, filters, 3, strides=stride, padding='same',
                          name=name + '_conv_0')
        y = bn(y, name + '_conv_0_BN', relu_before=True)
        y = layers.conv2d(y, filters, 3, padding='same',
                          name=name + '_conv_1')
        if shortcuts:
          shortcut = x
          if stride != 1 or int(x.shape[-1]) != filters:
            shortcut = layers.conv2d(x, filters, 1, strides=stride,
                                     name=name + '_projection')
          with tf.name_scope('shortcut_connect'):
            y += shortcut
        x = bn(y, name + '_conv_1_BN', relu_before=True)
  x = layers.average_pooling2d(x, RESNET30_POOL, RESNET30_POOL)
  x = tf.reshape(x, [-1, int(x.shape[1]) * int(x.shape[2]) *
                     int(x.shape[3])])
  return layers.dense(x, num_classes, name='dense')


def _course_block(x, filters, stride, stage, block, bn, shortcuts,
                  projection):
  conv_base = 'res%d%s_branch' % (stage, block)
  bn_base = 'bn%d%s_branch' % (stage, block)
  init = tf.glorot_uniform_initializer(seed=COURSE_SEED)
  f1, f2, f3 = filters
  with tf.name_scope(conv_base):
    y = layers.conv2d(x, f1, 1, strides=stride, padding='valid',
                      kernel_initializer=init, name=conv_base + '2a')
    y = bn(y, bn_base + '2a', relu_after=True)
    y = layers.conv2d(y, f2, 3, padding='same', kernel_initializer=init,
                      name=conv_base + '2b')
    y = bn(y, bn_base + '2b', relu_after=True)
    y = layers.conv2d(y, f3, 1, padding='valid', kernel_initializer=init,
                      name=conv_base + '2c')
    y = bn(y, bn_base + '2c')
    if shortcuts:
      shortcut = x
      if projection:
        shortcut = layers.conv2d(x, f3, 1, strides=stride, padding='valid',
                                 kernel_initializer=init,
                                 name=conv_base + '1')
        shortcut = bn(shortcut, bn_base + '1')
      y += shortcut
    return tf.nn.relu(y)


def course_resnet50_logits(images, is_training, num_classes=6,
                           shortcuts=True,
                           batch_norm_momentum=layers.BATCH_NORM_MOMENTUM):
  """The identity/convolutional-block ResNet-50 (64x64 hand-signs).

  Args:
    images: [batch, 64, 64, 3].
    is_training: A Python bool or boolean scalar tensor.
    num_classes: 6 for the hand-signs; names the dense layer `fc<classes>`.
    shortcuts: False drops every shortcut, projections included.
    batch_norm_momentum: Decay of batch norm's moving averages (Keras'
      0.99 by default).

  Returns:
    Logits [batch, num_classes] (the softmax is the head's).
  """
  init = tf.glorot_uniform_initializer(seed=COURSE_SEED)
  bn = _normalizer(is_training, batch_norm_momentum)
  x = tf.pad(images, [[0, 0], [3, 3], [3, 3], [0, 0]])
  x = layers.conv2d(x, 64, 7, strides=2, padding='valid',
                    kernel_initializer=init, name='conv1')
  x = bn(x, 'bn_conv1', relu_after=True)
  x = layers.max_pooling2d(x, 3, 2)
  for stage, filters, stride, blocks in COURSE_STAGES:
    for block in blocks:
      first = block == 'a'
      x = _course_block(x, filters, stride if first else 1, stage, block,
                        bn, shortcuts, projection=first)
  x = layers.average_pooling2d(x, COURSE_POOL, COURSE_POOL, name='avg_pool')
  x = tf.reshape(x, [-1, int(x.shape[1]) * int(x.shape[2]) *
                     int(x.shape[3])])
  return layers.dense(x, num_classes, kernel_initializer=init,
                      name='fc%d' % num_classes)
