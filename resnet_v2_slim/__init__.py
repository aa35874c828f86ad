"""Slim's ResNet v1 and v2 on TensorFlow 2.x graph mode, without tf-keras.

`resnet_v2` and `resnet_v1` mirror `tf_slim.nets.resnet_v2/resnet_v1` (and
their tensorflow/models versions): same functions, arguments, variable names
and numbers, so slim checkpoints load unchanged.

Typical use:

  import tensorflow.compat.v1 as tf
  import tf_slim as slim
  from resnet_v2_slim import resnet_v2

  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [None, 224, 224, 3])
    with slim.arg_scope(resnet_v2.resnet_arg_scope()):
      logits, end_points = resnet_v2.resnet_v2_50(images, 1001,
                                                  is_training=False)
"""

from resnet_v2_slim import layers
from resnet_v2_slim import resnet_utils
from resnet_v2_slim import resnet_v1
from resnet_v2_slim import resnet_v2
from resnet_v2_slim.resnet_utils import Block
from resnet_v2_slim.resnet_utils import resnet_arg_scope

NETWORKS = {
    'resnet_v1_%d' % d: getattr(resnet_v1, 'resnet_v1_%d' % d)
    for d in resnet_utils.UNITS_PER_BLOCK
}
NETWORKS.update({
    'resnet_v2_%d' % d: getattr(resnet_v2, 'resnet_v2_%d' % d)
    for d in resnet_utils.UNITS_PER_BLOCK
})


def get_network(name):
  """Returns the network function called `name`, e.g. 'resnet_v2_50'.

  Raises:
    ValueError: If there is no such network; the message lists the names.
  """
  try:
    return NETWORKS[name]
  except KeyError:
    raise ValueError('Unknown network %r; choose one of %s' %
                     (name, ', '.join(sorted(NETWORKS)))) from None


__all__ = ['Block', 'NETWORKS', 'get_network', 'layers', 'resnet_arg_scope',
           'resnet_utils', 'resnet_v1', 'resnet_v2']
