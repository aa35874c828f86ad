"""The classic face: a graph model that fits, evaluates and predicts.

`model.GraphModel` only builds a graph and `training.Trainer` only runs one;
`Classifier` joins them so that user code reads as it did with the classic
TF 1.x class: `ResNet(depth=18, ...)`, then `fit`, `evaluate`, `predict`.

Typical use:

  from resnet_v1_graph import ResNet, build, data

  digits = data.load_digits()
  model = ResNet(depth=18, height=32, width=32, channel=1, num_classes=10,
                 epoch=10, model_path='runs/model')
  model.fit(digits.train, digits.validation)
  print(model.evaluate(digits.test))
  labels = model.predict(digits.test.arrays()[0])

  slim = build('resnet_v2_50', height=224, width=224, channel=3,
               num_classes=5, model_path='runs/flowers')
"""

from resnet_v1_graph import config as config_lib
from resnet_v1_graph import model as model_lib
from resnet_v1_graph.training import trainer as trainer_lib


def _config(config, **fields):
  """`config` (default DEFAULTS) with the fields given explicitly."""
  changes = {k: v for k, v in fields.items() if v is not None}
  return (config or config_lib.DEFAULTS).replace(**changes)


class Classifier(model_lib.GraphModel):
  """A `GraphModel` with its `Trainer`, which it creates on first use.

  Args:
    config: A `config.Config`; `config.model` names the network.
  """

  def __init__(self, config):
    super().__init__(config)
    self._trainer = None

  @property
  def trainer(self):
    """The `training.trainer.Trainer` that runs this model."""
    if self._trainer is None:
      self._trainer = trainer_lib.Trainer(self)
    return self._trainer

  def fit(self, train, validation=None):
    """Trains on `train` (a `data.Split`); see `Trainer.fit`."""
    return self.trainer.fit(train, validation)

  def evaluate(self, split):
    """Returns {'loss', 'accuracy', 'top5'} over a `data.Split`."""
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

  def load_weights(self, checkpoint):
    """Loads every network weight of `checkpoint` for inference (training
    state starts fresh); see `Trainer.load_weights`."""
    return self.trainer.load_weights(checkpoint)

  def close(self):
    """Closes the session, if one is open."""
    if self._trainer is not None:
      self._trainer.close()


class ResNet(Classifier):
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
    cfg = _config(config, model='resnet', depth=depth, height=height,
                  width=width, channel=channel, num_classes=num_classes,
                  learning_rate=learning_rate,
                  learning_decay_rate=learning_decay_rate,
                  learning_decay_steps=learning_decay_steps, epoch=epoch,
                  batch_size=batch_size, model_path=model_path,
                  summary_path=summary_path, **options)
    self.depth = cfg.depth
    super().__init__(cfg)


class SlimResNet(Classifier):
  """A `resnet_v2_slim` network behind the same placeholders and run loop.

  Args:
    name: A slim network name, e.g. 'resnet_v2_50'.
    config: A `config.Config` (shape, classes, training settings); its
      `weight_decay` feeds `resnet_arg_scope`.
    **options: Any `config.Config` field.

  Raises:
    ValueError: On an unknown network name or invalid settings.
  """

  def __init__(self, name, config=None, **options):
    super().__init__(_config(config, model=name, **options))


def build(model='resnet', config=None, **options):
  """A `Classifier` of any network of `nets.registry` by name.

  Args:
    model: 'resnet' (the classic class, at `depth`), a slim network
      ('resnet_v2_50', ...) or a degradation net ('cifar_plain56', ...).
    config: A `config.Config` to start from (default `config.DEFAULTS`).
    **options: Any `config.Config` field.

  Raises:
    ValueError: If `model` is unknown (the message lists the names) or a
      setting is invalid.
  """
  return Classifier(_config(config, model=model, **options))
