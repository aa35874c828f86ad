"""Which Keras application weight becomes which variable here.

Two pairs of architectures hold the same weights under different names
(see `convert`): Keras ResNet50V2/101V2/152V2 and slim's
`resnet_v2_50/101/152`, and Keras ResNet50/101/152 and the classic `ResNet`
class of depth 50/101/152. Which network has which twin is
`nets.registry`'s to say (`Network.keras_twin`); this module spells out how
the names pair up, array for array, in Keras' order.

Typical use:

  from resnet_v1_graph.checkpoints import keras_names

  keras_names.keras_application('resnet_v2_50')       # 'ResNet50V2'
  for pair in keras_names.weight_pairs('resnet', depth=50):
    pair.keras, pair.ours   # 'conv1_conv/kernel', 'First_Conv/kernel'
"""

import collections

from resnet_v1_graph.nets import layers
from resnet_v1_graph.nets import registry

# The families with Keras twins, and the family of their twins' weights as
# `family.recognise` names it.
SLIM_V2 = 'slim_v2'
CLASSIC_FAMILY = 'resnet'
KERAS_FAMILY_OF = {SLIM_V2: 'keras_v2', CLASSIC_FAMILY: 'keras_v1'}
# Keras numbers its stages conv2..conv5 and their blocks from 1.
KERAS_FIRST_STAGE = 2
BATCH_NORM_FIELDS = ('gamma', 'beta', 'moving_mean', 'moving_variance')

Pair = collections.namedtuple('Pair', ['keras', 'ours'])


def _conv(keras, ours, bias_names=('bias', 'biases'), kernel='weights'):
  pairs = [Pair(keras + '/kernel', '%s/%s' % (ours, kernel))]
  if bias_names:
    pairs.append(Pair(keras + '/' + bias_names[0],
                      '%s/%s' % (ours, bias_names[1])))
  return pairs


def _batch_norm(keras, ours):
  return [Pair('%s/%s' % (keras, f), '%s/%s' % (ours, f))
          for f in BATCH_NORM_FIELDS]


def _slim_v2_pairs(units_per_block, scope):
  """Keras ResNet<depth>V2 names against slim's resnet_v2_<depth>."""
  pairs = _conv('conv1_conv', scope + '/conv1')
  for block, units in enumerate(units_per_block):
    for unit in range(units):
      keras = 'conv%d_block%d_' % (block + KERAS_FIRST_STAGE, unit + 1)
      ours = '%s/block%d/unit_%d/bottleneck_v2/' % (scope, block + 1,
                                                    unit + 1)
      pairs += _batch_norm(keras + 'preact_bn', ours + 'preact')
      if unit == 0:  # The first unit of a block widens: a projection.
        pairs += _conv(keras + '0_conv', ours + 'shortcut')
      pairs += _conv(keras + '1_conv', ours + 'conv1', bias_names=None)
      pairs += _batch_norm(keras + '1_bn', ours + 'conv1/BatchNorm')
      pairs += _conv(keras + '2_conv', ours + 'conv2', bias_names=None)
      pairs += _batch_norm(keras + '2_bn', ours + 'conv2/BatchNorm')
      pairs += _conv(keras + '3_conv', ours + 'conv3')
  pairs += _batch_norm('post_bn', scope + '/postnorm')
  pairs += _conv('predictions', scope + '/logits')
  return pairs


def _classic_pairs(blocks_per_stack):
  """Keras ResNet<depth> names against the classic class of that depth."""
  def conv_bn(keras, ours):
    return (_conv(keras + '_conv', ours, ('bias', 'bias'), kernel='kernel') +
            _batch_norm(keras + '_bn', ours + '_BN'))

  pairs = conv_bn('conv1', 'First_Conv')
  for stack, blocks in enumerate(blocks_per_stack):
    for block in range(blocks):
      keras = 'conv%d_block%d_' % (stack + KERAS_FIRST_STAGE, block + 1)
      ours = 'stack_%d_block_%d' % (stack, block)
      if block == 0:
        pairs += conv_bn(keras + '0', ours + '_shortcut')
      for layer in range(3):
        pairs += conv_bn(keras + str(layer + 1), '%s_conv_%d' % (ours, layer))
  pairs += [Pair('predictions/kernel', 'dense/kernel'),
            Pair('predictions/bias', 'dense/bias')]
  return pairs


def twin(model, depth=None):
  """(network, depth, Keras application) of a network with a Keras twin.

  Raises:
    ValueError: If `model` (at `depth`) has none; the message lists those
      that have one.
  """
  network = registry.NETWORKS.get(model)
  if network is not None:
    depth = network.depth or depth
    application = network.keras_twin(depth)
    if application is not None:
      return network, depth, application
  twins = ['%s (Keras %s)' % (name if other.depth else
                              '%s with depth %d' % (name, twin_depth),
                              twin)
           for name, other in registry.NETWORKS.items()
           for twin_depth, twin in sorted(other.keras.items())]
  raise ValueError(
      'no Keras counterpart of %r (depth %r); convert one of %s; slim v1 '
      'strides where Keras does not' % (model, depth, ', '.join(twins)))


def weight_pairs(model, depth=None, scope=None):
  """Every Keras weight name with the variable it becomes, in Keras order.

  Args:
    model: 'resnet_v2_50', 'resnet_v2_101' or 'resnet_v2_152' (Keras
      ResNet*V2), or 'resnet' with `depth` 50, 101 or 152 (Keras ResNet*).
    depth: The depth of 'resnet'.
    scope: The slim scope (default the network name).

  Returns:
    A list of `Pair(keras, ours)`.

  Raises:
    ValueError: For a model Keras has no counterpart of.
  """
  network, depth, _ = twin(model, depth)
  if network.family == SLIM_V2:
    return _slim_v2_pairs(network.depths[depth], scope or model)
  return _classic_pairs(network.depths[depth])


def keras_application(model, depth=None):
  """The name of the Keras application matching `model` ('ResNet50V2', ...).

  Raises:
    ValueError: For a model Keras has no counterpart of.
  """
  return twin(model, depth)[2]


def keras_graph_options(model):
  """What makes our graph compute what Keras computes from the same weights.

  Returns:
    For slim v2 networks, {'keras_padding': True, 'batch_norm_epsilon':
    1.001e-5} (a network argument and a `resnet_arg_scope` argument); for
    the classic class, {'keras_compatible': True} (a `Config` field).

  Raises:
    ValueError: If `model` is not a network of `nets.registry`.
  """
  if registry.get(model).family == SLIM_V2:
    return {'keras_padding': True,
            'batch_norm_epsilon': layers.KERAS_BATCH_NORM_EPSILON}
  return {'keras_compatible': True}
