"""The networks, from images to logits, and the one table that names them.

  * `layers`: `tf.compat.v1.layers`-compatible layers on raw ops;
  * `classic`: the classic ResNet v1 class's network (depths 18-152);
  * `degradation`: the CIFAR ResNets, resnet30 and the course ResNet-50,
    each with a plain twin;
  * `registry`: every network by name (these and slim's, from
    `resnet_v2_slim`), with its family, head scope, depth table, Keras twin,
    default input and preprocessing.

Nothing here opens a session or knows about training.
"""

from resnet_v1_graph.nets import classic
from resnet_v1_graph.nets import degradation
from resnet_v1_graph.nets import layers
from resnet_v1_graph.nets import registry

__all__ = ['classic', 'degradation', 'layers', 'registry']
