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

from resnet_v1_graph import optimization
from resnet_v1_graph.nets import registry

# Towers (in-graph replicas) take names that say which one built an op; the
# first keeps the variables' names, which do not depend on name scopes.
TOWER_SCOPE = 'tower_%d'
# The second accuracy evaluation reports: the label among the k best.
TOP_K = 5


def tower_devices(num_clones):
  """The devices of `num_clones` towers: one GPU each, else logical CPUs.

  On a CPU-only machine the towers run on logical CPU devices, which a
  session creates when its `ConfigProto.device_count['CPU']` asks for them
  (`training.session` does); slim's `model_deploy` put its clones on GPUs
  the same way, one per clone.
  """
  gpus = len(tf.config.list_physical_devices('GPU'))
  kind = 'GPU' if gpus >= num_clones else 'CPU'
  return ['/device:%s:%d' % (kind, i) for i in range(num_clones)]


def _split_evenly(tensor, parts):
  """Splits the batch axis of `tensor` into `parts` pieces of near-equal size.

  Sizes differ by at most one, so any batch splits (inference batches of
  one image give empty towers, which is harmless without batch statistics).
  """
  size = tf.shape(tensor)[0]
  sizes = [size // parts + tf.cast(i < size % parts, tf.int32)
           for i in range(parts)]
  return tf.split(tensor, tf.stack(sizes), num=parts)


def _cross_entropy(onehot, logits, label_smoothing):
  targets = optimization.smooth_labels(onehot, label_smoothing)
  return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(
      labels=tf.stop_gradient(targets), logits=logits))


def _regularization(cfg):
  """The weight-decay terms: the network's own, else `weight_decay` on
  every kernel."""
  regularization = tf.losses.get_regularization_losses()
  if cfg.weight_decay > 0 and not regularization:
    regularization = [cfg.weight_decay * tf.add_n(
        [tf.nn.l2_loss(v) for v in tf.trainable_variables()
         if 'kernel' in v.op.name or 'weights' in v.op.name])]
  return regularization


def _make_optimizer(model, wrap_optimizer):
  """The configured optimizer (by default the classic decayed Adam),
  loss-scaled for fp16, then `wrap_optimizer`."""
  cfg = model.config
  # int64 'global_step', as tf.train.get_or_create_global_step makes it
  # in the widely copied classic class (the restore takes int32 ones too).
  model.global_step = tf.train.get_or_create_global_step()
  model.learning_rate = optimization.learning_rate(cfg, model.global_step)
  optimizer = optimization.optimizer(cfg, model.learning_rate)
  if cfg.precision == 'fp16':
    # float16 gradients underflow without loss scaling (bfloat16 has
    # float32's range and needs none).
    optimizer = tf.mixed_precision.MixedPrecisionLossScaleOptimizer(
        optimizer, 'dynamic')
  return wrap_optimizer(optimizer) if wrap_optimizer else optimizer


def _sum_gradients(tower_gradients):
  """Adds each variable's gradients over the towers (None stays None)."""
  summed = []
  for pairs in zip(*tower_gradients):
    variable = pairs[0][1]
    grads = [g for g, _ in pairs if g is not None]
    summed.append((tf.add_n(grads) if grads else None, variable))
  return summed


def _build_head(model, tower_logits, update_ops, wrap_optimizer):
  """Adds the classic named tensors and the train op over the towers.

  With one tower the graph is the classic class's. With several, each tower
  scores its slice of the batch; the loss is the mean of their cross
  entropies plus the weight decay, counted once, and the gradients are the
  sum of each tower's share, which is the gradient of that loss. Batch
  norm's moving averages follow the first tower only (`update_ops`), as in
  slim's `model_deploy`.
  """
  cfg = model.config
  towers = len(tower_logits)
  logits = tower_logits[0] if towers == 1 else tf.concat(tower_logits, 0)
  model.logits = tf.identity(logits, name='logits')
  # The class with the highest score for each image (axis 1; argmax over
  # axis 0 would pick an image per class).
  model.prediction = tf.argmax(model.logits, axis=1, name='prediction')
  model.probabilities = tf.nn.softmax(model.logits, name='probabilities')
  labels = tf.argmax(model.input_y, axis=1)
  model.acc = tf.reduce_mean(
      tf.cast(tf.equal(model.prediction, labels), tf.float32), name='acc')
  # slim's evaluation reports recall at 5 beside accuracy.
  model.top5 = tf.reduce_mean(tf.cast(tf.nn.in_top_k(
      model.logits, labels, min(TOP_K, cfg.num_classes)), tf.float32),
                              name='acc_top5')
  onehots = ([model.input_y] if towers == 1 else
             _split_evenly(model.input_y, towers))
  cross_entropies = [_cross_entropy(onehot, tower, cfg.label_smoothing)
                     for onehot, tower in zip(onehots, tower_logits)]
  regularization = _regularization(cfg)
  # The network's own variables (weights and batch-norm statistics), before
  # the optimizer adds its slots: what a moving average follows, as slim
  # averages its model variables.
  network_variables = tf.global_variables()
  trainable = optimization.trainable_variables(cfg)
  model.loss = tf.add_n([tf.add_n(cross_entropies) / towers if towers > 1
                         else cross_entropies[0]] + regularization,
                        name='loss')
  optimizer = _make_optimizer(model, wrap_optimizer)
  if towers == 1:
    gradients = optimizer.compute_gradients(model.loss, var_list=trainable)
  else:
    tower_gradients = []
    for i, (device, entropy) in enumerate(zip(model.tower_devices,
                                              cross_entropies)):
      share = entropy / towers + (tf.add_n(regularization)
                                  if regularization and i == 0 else 0.0)
      with tf.name_scope(TOWER_SCOPE % i), tf.device(device):
        tower_gradients.append(optimizer.compute_gradients(
            share, var_list=trainable))
    gradients = _sum_gradients(tower_gradients)
  # Batch norm's moving averages move only if their updates run with the
  # train op (grouped, as slim does, not as control dependencies: those
  # would reach the ops a wrapping optimizer adds, such as
  # SyncReplicasOptimizer's readiness check, and make them need a batch);
  # passing global_step makes the learning rate decay.
  model.gradients = gradients
  apply = optimizer.apply_gradients(gradients, global_step=model.global_step)
  model.moving_average = None
  if cfg.moving_average_decay:
    # After the step's updates (weights and batch-norm statistics), so
    # that the average takes in each step's values.
    model.moving_average = optimization.MovingAverage(
        cfg.moving_average_decay, model.global_step, network_variables,
        after=tf.group(apply, *update_ops))
    update_ops = list(update_ops) + [model.moving_average.update]
  model.optimize = tf.group(apply, *update_ops, name='optimize')
  model.optimizer = optimizer


def title(config):
  """The network of `config` for people: 'ResNet-18', 'resnet_v2_50', ..."""
  if config.model == registry.CLASSIC:
    return 'ResNet-%d' % config.depth
  return config.model


class GraphModel:
  """A classifier in its own graph, with the classic named tensors.

  Args:
    config: A validated `config.Config`; `config.model` names the network
      and `config.num_clones` how many towers share one batch.
    device: A device name or function for every op, such as
      `tf.train.replica_device_setter` for a cluster (default: none).
    wrap_optimizer: A function from the optimizer to the one that applies
      the gradients, such as a `tf.train.SyncReplicasOptimizer` (default:
      the optimizer itself).

  Attributes:
    config: The `config.Config`.
    network: Its `registry.Network`.
    graph: The `tf.Graph` holding everything.
    tower_devices: The device of each tower; `[None]` for one tower.
    optimizer: The optimizer that applies the gradients (the wrapped one).
    gradients: The (gradient, variable) pairs it applies; with towers, the
      sum of the towers' shares.
    input_x, input_y, is_training, logits, prediction, probabilities, loss,
    acc, global_step, learning_rate, optimize: The named tensors and ops.
    top5: The share of examples whose label is among the 5 highest logits.
    moving_average: An `optimization.MovingAverage` when
      `config.moving_average_decay` is set, else None.
  """

  def __init__(self, config, device=None, wrap_optimizer=None):
    self.config = config
    self.network = registry.get(config.model)
    self.tower_devices = (tower_devices(config.num_clones)
                          if config.num_clones > 1 else [None])
    self.graph = tf.Graph()
    with self.graph.as_default(), tf.device(device):
      tf.set_random_seed(config.seed)
      shape = [None, config.height, config.width, config.channel]
      # The placeholders read from the training pipeline unless fed, so fit
      # streams through tf.data and predict feeds arrays, on one graph.
      # Unfed, the handle names a pipeline of one blank example, so that a
      # step fed input_x and input_y alone (the classic class's way) runs:
      # TensorFlow's graph optimizer may tie a training step to the input_x
      # node itself (a shape of the first convolution's gradient, folded to
      # a constant, keeps a control edge to it), and that node then pulls
      # its default from the pipeline.
      blank = tf.data.Dataset.from_tensors((
          tf.zeros([1] + shape[1:]), tf.zeros([1], tf.int64))).repeat()
      self.dataset_handle = tf.placeholder_with_default(
          tf.data.make_one_shot_iterator(blank).string_handle(), [],
          'dataset_handle')
      iterator = tf.data.Iterator.from_string_handle(
          self.dataset_handle, (tf.float32, tf.int64),
          (tf.TensorShape(shape), tf.TensorShape([None])))
      images, labels = iterator.get_next()
      if config.labels_offset:
        labels -= config.labels_offset
      self.input_x = tf.placeholder_with_default(images, shape, 'input_x')
      self.input_y = tf.placeholder_with_default(
          tf.one_hot(labels, config.num_classes),
          [None, config.num_classes], 'input_y')
      self.is_training = tf.placeholder_with_default(False, [], 'is_training')
      tower_logits, update_ops = self._build_towers()
      _build_head(self, tower_logits, update_ops, wrap_optimizer)

  def _build_towers(self):
    """Logits of each tower, and the batch-norm updates of the first."""
    if len(self.tower_devices) == 1:
      logits = self.build_logits(self.input_x, self.is_training)
      return [logits], tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    tower_logits = []
    slices = _split_evenly(self.input_x, len(self.tower_devices))
    for i, (device, images) in enumerate(zip(self.tower_devices, slices)):
      updates_before = len(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
      # The first tower creates the variables; the others share them.
      with tf.variable_scope(tf.get_variable_scope(), reuse=i > 0), \
          tf.name_scope(TOWER_SCOPE % i), tf.device(device):
        if i == 0:  # Never empty: it takes the first of an uneven split.
          logits = self.build_logits(images, self.is_training)
        else:
          # A batch smaller than the towers leaves the last ones empty, and
          # oneDNN's convolution of an empty batch returns a tensor of the
          # wrong shape on some CPUs (AVX-512): an empty tower runs on one
          # zero image instead, and keeps none of its logits.
          count = tf.shape(images)[0]
          filled = tf.pad(images, [[0, tf.maximum(0, 1 - count)], [0, 0],
                                   [0, 0], [0, 0]])
          logits = self.build_logits(filled, self.is_training)[:count]
        tower_logits.append(logits)
      if i == 0:
        update_ops = tf.get_collection(
            tf.GraphKeys.UPDATE_OPS)[updates_before:]
    return tower_logits, update_ops

  def build_logits(self, images, is_training):
    """Returns logits [batch, num_classes] for images [batch, H, W, C].

    Builds into the default graph, so an inference graph (export) can hold
    the same network without this model's placeholders and optimizer.
    """
    return self.network.logits(images, is_training, self.config)

  @property
  def title(self):
    """The network's name for people: 'ResNet-18', 'resnet_v2_50', ..."""
    return title(self.config)

  def describe(self):
    """The model in words: 'ResNet-18 with 10 classes and 32x32x1 inputs'."""
    cfg = self.config
    return '%s with %d classes and %dx%dx%d inputs' % (
        self.title, cfg.num_classes, cfg.height, cfg.width, cfg.channel)
