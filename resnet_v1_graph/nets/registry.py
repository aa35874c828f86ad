"""Every network the project builds, by name, with what callers need to know.

One table, `NETWORKS`, maps a name to a `Network`: its logits builder, its
family, the scope of its classification layer, its family's depth table,
its Keras twin, its default input and class count, and the preprocessing its
checkpoints expect. Model building, checkpoint family detection, conversion,
export, preprocessing, the benchmark and the command line's choices all ask
here; nobody else decides what a name means by looking at its prefix.

`FAMILIES` describes the families a checkpoint can belong to, including the
Keras applications that have no builder here but whose weights convert.

Typical use:

  from resnet_v1_graph.nets import registry

  network = registry.get('resnet_v2_50')
  network.family, network.head_scope, network.keras_twin()
  # ('slim_v2', 'logits', 'ResNet50V2')
  logits = network.logits(images, is_training, config)  # [batch, classes]
"""

import collections
import dataclasses
import functools
from typing import Any, Callable, Mapping, Optional, Tuple

import tf_slim

import resnet_v2_slim
from resnet_v1_graph.nets import classic
from resnet_v1_graph.nets import degradation
from resnet_v1_graph.nets import layers
from resnet_v2_slim import resnet_utils

# ImageNet's classes; slim's published checkpoints add a 'background' class 0.
IMAGENET_CLASSES = 1000
IMAGENET_CLASSES_WITH_BACKGROUND = 1001
# Keras applications have a twin here for these depths.
KERAS_DEPTHS = (50, 101, 152)
# The name of the classic class, whose depth comes from the configuration.
CLASSIC = 'resnet'

FamilySpec = collections.namedtuple(
    'FamilySpec', ['kind', 'title', 'depths', 'head_scope', 'preprocessing'])
FamilySpec.__doc__ = """What all networks of one family share.

  kind: The family's short name, as `checkpoints.recognise` reports it.
  title: The family in words.
  depths: Its depth table, {depth: units per block or stage}.
  head_scope: The scope of its classification layer.
  preprocessing: The `preprocessing.PREPROCESSING` key its weights expect.
"""

FAMILIES = {spec.kind: spec for spec in (
    FamilySpec('resnet', 'the classic ResNet class (resnet_v1_graph)',
               classic.BLOCKS_PER_STACK, 'dense', 'resnet'),
    FamilySpec('slim_v1', 'slim ResNet v1', resnet_utils.UNITS_PER_BLOCK,
               'logits', 'slim_v1'),
    FamilySpec('slim_v2', 'slim ResNet v2', resnet_utils.UNITS_PER_BLOCK,
               'logits', 'slim_v2'),
    FamilySpec('keras_v1', 'Keras applications ResNet (v1)',
               resnet_utils.UNITS_PER_BLOCK, 'predictions', 'keras_v1'),
    FamilySpec('keras_v2', 'Keras applications ResNetV2',
               resnet_utils.UNITS_PER_BLOCK, 'predictions', 'keras_v2'),
    FamilySpec('cifar', 'CIFAR ResNet of He et al. 2015, section 4.2',
               degradation.CIFAR_BLOCKS, 'dense', 'resnet'),
    FamilySpec('resnet30', 'the 30-layer residual net for 32x32 images',
               {30: degradation.RESNET30_BLOCKS}, 'dense', 'resnet'),
    FamilySpec('course', 'the identity/convolutional-block ResNet-50',
               {50: tuple(len(stage[3])
                          for stage in degradation.COURSE_STAGES)},
               'fc', 'resnet'),
)}
# The classification scopes of every family: what fine-tuning leaves out.
HEAD_SCOPES = tuple(sorted({spec.head_scope for spec in FAMILIES.values()}))


@dataclasses.dataclass(frozen=True)
class Network:
  """One buildable network.

  Attributes:
    name: The name users type ('resnet', 'resnet_v2_50', 'cifar_plain56').
    family: A key of `FAMILIES`.
    builder: `(images, is_training, num_classes, **options, **settings)`
      -> logits [batch, num_classes].
    options: Fixed keyword arguments of `builder` for this network.
    settings: `config.Config` fields `builder` also takes by name.
    depth: The depth, or None where it comes from `config.depth`.
    keras: {depth: Keras application name} of its Keras twins.
    image_size: The input height and width it was designed for.
    num_classes: The class count of its usual checkpoints.
    shortcuts: False for the plain twin of a residual network.
  """
  name: str
  family: str
  builder: Callable[..., Any]
  options: Mapping[str, Any]
  settings: Tuple[str, ...]
  depth: Optional[int]
  keras: Mapping[int, str]
  image_size: int
  num_classes: int
  shortcuts: bool = True

  @property
  def spec(self):
    return FAMILIES[self.family]

  @property
  def head_scope(self):
    return self.spec.head_scope

  @property
  def depths(self):
    return self.spec.depths

  @property
  def preprocessing(self):
    return self.spec.preprocessing

  @property
  def keras_compatible(self):
    """True if it can pad and normalize as Keras' ResNets do."""
    return 'keras_compatible' in self.settings

  @property
  def logits_fn(self):
    """`(images, is_training, num_classes, **settings) -> logits`."""
    return functools.partial(self.builder, **self.options)

  def logits(self, images, is_training, config):
    """Logits [batch, config.num_classes] for images [batch, H, W, C].

    Args:
      images: A float tensor [batch, height, width, channels].
      is_training: A Python bool or a boolean scalar tensor.
      config: A `config.Config` (or anything with the fields `settings`
        names, and `num_classes`).
    """
    settings = {name: getattr(config, name) for name in self.settings}
    return self.logits_fn(images, is_training, config.num_classes,
                          **settings)

  def keras_twin(self, depth=None):
    """The Keras application with the same weights ('ResNet50V2'), or None."""
    return self.keras.get(self.depth or depth)


def _classic_logits(images, is_training, num_classes, depth,
                    batch_norm_momentum=layers.BATCH_NORM_MOMENTUM,
                    keras_compatible=False):
  return classic.resnet_logits(images, is_training, depth, num_classes,
                               batch_norm_momentum,
                               keras_compatible=keras_compatible)


def _slim_logits(images, is_training, num_classes, network,
                 weight_decay=resnet_utils.WEIGHT_DECAY,
                 keras_compatible=False):
  scope_options, network_options = {}, {}
  if keras_compatible:
    scope_options['batch_norm_epsilon'] = layers.KERAS_BATCH_NORM_EPSILON
    network_options['keras_padding'] = True
  with tf_slim.arg_scope(resnet_v2_slim.resnet_arg_scope(
      weight_decay=weight_decay, **scope_options)):
    logits, _ = network(images, num_classes, is_training=is_training,
                        spatial_squeeze=True, **network_options)
  return logits


def _cifar_logits(images, is_training, num_classes, depth, **options):
  return degradation.cifar_resnet_logits(images, is_training, depth,
                                         num_classes, **options)


def _networks():
  """Builds the table: the classic class, slim v1/v2, the degradation nets."""
  classic_keras = {d: 'ResNet%d' % d for d in KERAS_DEPTHS}
  entries = [Network(
      CLASSIC, 'resnet', _classic_logits, {},
      ('depth', 'batch_norm_momentum', 'keras_compatible'), None,
      classic_keras, 224, IMAGENET_CLASSES)]
  for version in (1, 2):
    for depth in resnet_utils.UNITS_PER_BLOCK:
      name = 'resnet_v%d_%d' % (version, depth)
      function = resnet_v2_slim.get_network(name)
      keras = ({depth: 'ResNet%dV2' % depth}
               if version == 2 and depth in KERAS_DEPTHS else {})
      # Keras' padding is a v2 option, whether or not Keras has that depth.
      settings = ('weight_decay',) + (
          ('keras_compatible',) if version == 2 else ())
      entries.append(Network(
          name, 'slim_v%d' % version, _slim_logits, {'network': function},
          settings, depth, keras, function.default_image_size,
          IMAGENET_CLASSES_WITH_BACKGROUND))
  for shortcuts, kind in ((True, 'resnet'), (False, 'plain')):
    for depth in sorted(degradation.CIFAR_BLOCKS):
      entries.append(Network(
          'cifar_%s%d' % (kind, depth), 'cifar', _cifar_logits,
          {'depth': depth, 'shortcuts': shortcuts}, ('batch_norm_momentum',),
          depth, {}, 32, 10, shortcuts))
  for name, family, builder, depth, size, classes in (
      ('%s30', 'resnet30', degradation.resnet30_logits, 30, 32, 10),
      ('course_%s50', 'course', degradation.course_resnet50_logits, 50, 64,
       6)):
    for shortcuts, kind in ((True, 'resnet'), (False, 'plain')):
      entries.append(Network(
          name % kind, family, builder, {'shortcuts': shortcuts},
          ('batch_norm_momentum',), depth, {}, size, classes, shortcuts))
  return {network.name: network for network in entries}


NETWORKS = _networks()


def names():
  """Every network name, in table order."""
  return list(NETWORKS)


def get(name):
  """The `Network` called `name`.

  Raises:
    ValueError: If there is none; the message lists the names.
  """
  try:
    return NETWORKS[name]
  except KeyError:
    raise ValueError('unknown network %r; choose one of %s' %
                     (name, ', '.join(NETWORKS))) from None

