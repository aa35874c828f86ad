"""A classifier's graph: the network from the registry and the classic tensors.

Every model builds into its own `tf.Graph` and exposes the named tensors of
the classic session-based ResNet class: `input_x [None, H, W, C]`, `input_y
[None, num_classes]` (one-hot), `is_training` (default False), `logits`,
`prediction`, `probabilities`, `loss`, `acc`, `global_step`, `learning_rate`
and the train op `optimize`. This module only adds ops; sessions, savers and
the run loop are `training`'s, and `classifier` joins the two behind the
classic `ResNet(...).fit/evaluate/predict` face.

Typical use:

  from resnet_v1_graph import config, model

  graph_model = model.GraphModel(config.Config(model='resnet_v2_50',
                                               height=224, width=224,
                                               channel=3, num_classes=1001))
  with tf.Session(graph=graph_model.graph) as session:
    ...
"""

import tensorflow.compat.v1 as tf

from resnet_v1_graph.nets import registry

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


class GraphModel:
  """A classifier in its own graph, with the classic named tensors.

  Args:
    config: A validated `config.Config`; `config.model` names the network.

  Attributes:
    config: The `config.Config`.
    network: Its `registry.Network`.
    graph: The `tf.Graph` holding everything.
    input_x, input_y, is_training, logits, prediction, probabilities, loss,
    acc, global_step, learning_rate, optimize: The named tensors and ops.
  """

  def __init__(self, config):
    self.config = config
    self.network = registry.get(config.model)
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

  def build_logits(self, images, is_training):
    """Returns logits [batch, num_classes] for images [batch, H, W, C].

    Builds into the default graph, so an inference graph (export) can hold
    the same network without this model's placeholders and optimizer.
    """
    return self.network.logits(images, is_training, self.config)

  @property
  def title(self):
    """The network's name for people: 'ResNet-18', 'resnet_v2_50', ..."""
    if self.config.model == registry.CLASSIC:
      return 'ResNet-%d' % self.config.depth
    return self.config.model

  def describe(self):
    """The model in words: 'ResNet-18 with 10 classes and 32x32x1 inputs'."""
    cfg = self.config
    return '%s with %d classes and %dx%dx%d inputs' % (
        self.title, cfg.num_classes, cfg.height, cfg.width, cfg.channel)
