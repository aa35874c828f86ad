"""The session-based ResNet class: graph construction only.

The network is ResNet v1 [1] as it was written with `tf.layers` in
TensorFlow 1.x: a 7x7/2 convolution `First_Conv` with batch norm and ReLU, a
3x3/2 max pool, four stacks of basic (depths 18, 34) or bottleneck (50, 101,
152) blocks with projection shortcuts where the shape changes, global average
pooling and a dense layer. Variables carry exactly the names that code gave
them (`First_Conv/kernel`, `First_Conv_BN/gamma`, `stack_0_block_0_conv_0/...`,
`stack_1_block_0_shortcut/...`, `dense/kernel`, `global_step`, Adam's slots),
so its checkpoints load.

[1] Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun
    Deep Residual Learning for Image Recognition. arXiv:1512.03385

Every model builds into its own `tf.Graph` and exposes the classic named
tensors: `input_x [None, H, W, C]`, `input_y [None, num_classes]` (one-hot),
`is_training` (default False), `logits`, `prediction`, `probabilities`,
`loss`, `acc`, `global_step`, `learning_rate` and the train op `optimize`.
Sessions, checkpoints and the training loop live in `trainer.py`; `fit`,
`evaluate` and `predict` here hand over to it.

Typical use:

  from resnet_v1_graph import ResNet, data

  digits = data.load_digits()
  model = ResNet(depth=18, height=32, width=32, channel=1, num_classes=10,
                 epoch=10, model_path='runs/model')
  model.fit(digits.train, digits.validation)
  print(model.evaluate(digits.test))
  labels = model.predict(digits.test.arrays()[0])
"""

import tensorflow.compat.v1 as tf
import tf_slim

from resnet_v1_graph import config as config_lib
from resnet_v1_graph import layers
from resnet_v1_graph import trainer as trainer_lib

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
# Keras' ResNets (`keras_compatible`): batch norm epsilon, and the zeros they
# pad before the 7x7/2 convolution and the 3x3/2 max pool ('VALID' after).
KERAS_BATCH_NORM_EPSILON = 1.001e-5
KERAS_CONV1_PADDING = 3
KERAS_POOL_PADDING = 1


def _build_head(model, logits):
  """Adds the classic named tensors on top of `logits` [batch, classes]."""
  cfg = model.config
  model.logits = tf.identity(logits, name='logits')
  # The class with the highest score for each image (axis 1; argmax over
  # axis 0 would pick an image per class).
  model.prediction = tf.argmax(model.logits, axis=1, name='prediction')
  model.probabilities = tf.nn.softmax(model.logits, name='probabilities')
  labels = tf.argmax(model.input_y, axis=1)
  model.acc = tf.reduce_mean(
      tf.cast(tf.equal(model.prediction, labels), tf.float32), name='acc')
  cross_entropy = tf.reduce_mean(
      tf.nn.softmax_cross_entropy_with_logits_v2(
          labels=tf.stop_gradient(model.input_y), logits=model.logits))
  regularization = tf.losses.get_regularization_losses()
  if cfg.weight_decay > 0 and not regularization:
    regularization = [cfg.weight_decay * tf.add_n(
        [tf.nn.l2_loss(v) for v in tf.trainable_variables()
         if 'kernel' in v.op.name or 'weights' in v.op.name])]
  model.loss = tf.add_n([cross_entropy] + regularization, name='loss')
  # The classic tf.Variable(0): int32, named global_step.
  model.global_step = tf.Variable(0, trainable=False, name='global_step')
  tf.add_to_collection(tf.GraphKeys.GLOBAL_STEP, model.global_step)
  model.learning_rate = tf.train.exponential_decay(
      cfg.learning_rate, model.global_step, cfg.learning_decay_steps,
      cfg.learning_decay_rate, staircase=True, name='learning_rate')
  optimizer = tf.train.AdamOptimizer(model.learning_rate)
  if cfg.precision == 'fp16':
    # float16 gradients underflow without loss scaling (bfloat16 has
    # float32's range and needs none).
    optimizer = tf.mixed_precision.MixedPrecisionLossScaleOptimizer(
        optimizer, 'dynamic')
  # Batch norm's moving averages move only if their updates run with the
  # train op; passing global_step makes the learning rate decay.
  with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    model.optimize = optimizer.minimize(model.loss,
                                        global_step=model.global_step,
                                        name='optimize')


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
  epsilon = (KERAS_BATCH_NORM_EPSILON if keras_compatible
             else layers.BATCH_NORM_EPSILON)

  def conv_bn(x, filters, kernel, strides, padding, name):
    """`name`: conv2d with its bias, then `name`_BN: batch norm.

    In an inference graph (`is_training` False in Python) the bias is folded
    into the moving mean (see `layers.batch_normalization`) so convolution,
    batch norm and ReLU fuse; the variables are the same either way.
    """
    fold = is_training is False
    x = layers.conv2d(x, filters, kernel, strides=strides, padding=padding,
                      use_bias=not fold, name=name)
    bias = None
    if fold:
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
    x = layers.max_pooling2d(_zero_pad(x, KERAS_POOL_PADDING), pool_size=3,
                             strides=2, padding='valid', name='max_pool')
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


class GraphModel:
  """A classifier in its own graph, with the classic tensors and run loop.

  Subclasses implement `build_logits(images, is_training)`.

  Attributes:
    config: The validated `config.Config`.
    graph: The `tf.Graph` holding everything.
    input_x, input_y, is_training, logits, prediction, probabilities, loss,
    acc, global_step, learning_rate, optimize: The named tensors and ops.
  """

  def __init__(self, config):
    self.config = config
    self.graph = tf.Graph()
    with self.graph.as_default():
      tf.set_random_seed(config.seed)
      shape = [None, config.height, config.width, config.channel]
      # The placeholders read from the training pipeline unless fed, so fit
      # streams through tf.data and predict feeds arrays, on one graph.
      self.dataset_handle = tf.placeholder(tf.string, [], 'dataset_handle')
      iterator = tf.data.Iterator.from_string_handle(
          self.dataset_handle, (tf.float32, tf.int64),
          (tf.TensorShape(shape), tf.TensorShape([None])))
      images, labels = iterator.get_next()
      self.input_x = tf.placeholder_with_default(images, shape, 'input_x')
      self.input_y = tf.placeholder_with_default(
          tf.one_hot(labels, config.num_classes),
          [None, config.num_classes], 'input_y')
      self.is_training = tf.placeholder_with_default(False, [], 'is_training')
      logits = self.build_logits(self.input_x, self.is_training)
      _build_head(self, logits)
    self._trainer = None

  def build_logits(self, images, is_training):
    """Returns logits [batch, num_classes] for images [batch, H, W, C]."""
    raise NotImplementedError

  @property
  def trainer(self):
    """The `trainer.Trainer` that runs this model (created on first use)."""
    if self._trainer is None:
      self._trainer = trainer_lib.Trainer(self)
    return self._trainer

  def fit(self, train, validation=None):
    """Trains on `train` (a `data.Split`); see `Trainer.fit`."""
    return self.trainer.fit(train, validation)

  def evaluate(self, split):
    """Returns {'loss', 'accuracy'} over a `data.Split`."""
    return self.trainer.evaluate(split)

  def predict(self, images):
    """One label per image of `images` [N, H, W, C] (or one [H, W, C])."""
    return self.trainer.predict(images)

  def predict_proba(self, images):
    """Class probabilities [N, num_classes] for `images`."""
    return self.trainer.predict_proba(images)

  def restore(self, checkpoint=None):
    """Loads `checkpoint` (default: best, else latest in model_path)."""
    return self.trainer.restore(checkpoint)

  def close(self):
    """Closes the session, if one is open."""
    if self._trainer is not None:
      self._trainer.close()


def _config(config, **fields):
  """`config` (default DEFAULTS) with the fields given explicitly."""
  changes = {k: v for k, v in fields.items() if v is not None}
  return (config or config_lib.DEFAULTS).replace(**changes)


class ResNet(GraphModel):
  """ResNet v1 with the classic graph, names and API.

  Every argument left at None takes its value from `config` (default
  `config.DEFAULTS`), where the defaults are documented and validated.

  Args:
    depth: 18, 34, 50, 101 or 152.
    height, width, channel: Input image shape.
    num_classes: Number of classes.
    learning_rate, learning_decay_rate, learning_decay_steps: Staircase
      exponential decay of Adam's learning rate.
    epoch, batch_size: Training length and batch size for `fit`.
    model_path: Checkpoint directory.
    summary_path: TensorBoard and curves directory.
    config: A `config.Config` to start from.
    **options: Any other `config.Config` field.

  Raises:
    ValueError: On an unknown depth or any invalid setting; the message
      names each one.
  """

  def __init__(self, depth=None, height=None, width=None, channel=None,
               num_classes=None, learning_rate=None, learning_decay_rate=None,
               learning_decay_steps=None, epoch=None, batch_size=None,
               model_path=None, summary_path=None, config=None, **options):
    cfg = _config(config, depth=depth, height=height, width=width,
                  channel=channel, num_classes=num_classes,
                  learning_rate=learning_rate,
                  learning_decay_rate=learning_decay_rate,
                  learning_decay_steps=learning_decay_steps, epoch=epoch,
                  batch_size=batch_size, model_path=model_path,
                  summary_path=summary_path, **options)
    self.depth = cfg.depth
    super().__init__(cfg)

  def build_logits(self, images, is_training):
    return resnet_logits(images, is_training, self.depth,
                         self.config.num_classes,
                         self.config.batch_norm_momentum,
                         keras_compatible=self.config.keras_compatible)


class SlimResNet(GraphModel):
  """A `resnet_v2_slim` network behind the same placeholders and run loop.

  Args:
    name: A network of `resnet_v2_slim.NETWORKS`, e.g. 'resnet_v2_50'.
    config: A `config.Config` (shape, classes, training settings); its
      `weight_decay` feeds `resnet_arg_scope`.
    **options: Any `config.Config` field.

  Raises:
    ValueError: On an unknown network name or invalid settings.
  """

  def __init__(self, name, config=None, **options):
    import resnet_v2_slim  # Only models of this kind need it.
    self.network = resnet_v2_slim.get_network(name)
    self.name = name
    self._arg_scope = resnet_v2_slim.resnet_arg_scope
    cfg = _config(config, **options)
    if cfg.keras_compatible and not name.startswith('resnet_v2_'):
      raise ValueError(
          'keras_compatible applies to resnet_v2_* (Keras ResNet*V2) and '
          'the classic class (Keras ResNet*); %s has no Keras counterpart'
          % name)
    super().__init__(cfg)

  def build_logits(self, images, is_training):
    scope_options, network_options = {}, {}
    if self.config.keras_compatible:
      scope_options['batch_norm_epsilon'] = KERAS_BATCH_NORM_EPSILON
      network_options['keras_padding'] = True
    with tf_slim.arg_scope(
        self._arg_scope(weight_decay=self.config.weight_decay,
                        **scope_options)):
      logits, _ = self.network(images, self.config.num_classes,
                               is_training=is_training, spatial_squeeze=True,
                               **network_options)
    return logits


class NetworkModel(GraphModel):
  """A network of `nets` (CIFAR ResNets, resnet30, the course ResNet-50 and
  their plain twins) behind the same placeholders and run loop.

  Args:
    name: One of `nets.names()`, e.g. 'cifar_resnet20' or 'cifar_plain20'.
    config: A `config.Config`.
    **options: Any `config.Config` field.

  Raises:
    ValueError: On an unknown network name or invalid settings.
  """

  def __init__(self, name, config=None, **options):
    from resnet_v1_graph import nets
    self.name = name
    self._logits_fn = nets.network_fn(name)
    super().__init__(_config(config, **options))

  def build_logits(self, images, is_training):
    return self._logits_fn(
        images, is_training, self.config.num_classes,
        batch_norm_momentum=self.config.batch_norm_momentum)


def build(model='resnet', config=None, **options):
  """A model by name: 'resnet' (the class above), a slim network name
  ('resnet_v2_50', ...) or a network of `nets` ('cifar_plain56', ...).

  Raises:
    ValueError: If `model` is unknown; the message lists the names.
  """
  from resnet_v1_graph import nets
  if model == 'resnet':
    return ResNet(config=config, **options)
  if model.startswith('resnet_v'):
    return SlimResNet(model, config=config, **options)
  if model in nets.names():
    return NetworkModel(model, config=config, **options)
  import resnet_v2_slim
  raise ValueError('unknown model %r; choose resnet, one of %s, or one of %s'
                   % (model, ', '.join(sorted(resnet_v2_slim.NETWORKS)),
                      ', '.join(nets.names())))
