"""The reference implementations our tests compare against (tests only).

`tf_slim.nets.resnet_v1/resnet_v2` and `tf.compat.v1.layers` still build on
TensorFlow 2.21 when tf-keras is installed, `TF_USE_LEGACY_KERAS=1` is set
before TensorFlow is imported (conftest.py does it) and the module path
`tf_keras.legacy_tf_layers`, which TensorFlow's lazy loaders still name, is
pointed at its new home `tf_keras.src.legacy_tf_layers`. Nothing in the
library imports this module.
"""

import importlib
import os
import sys

_LEGACY = 'tf_keras.legacy_tf_layers'
_LEGACY_SOURCE = 'tf_keras.src.legacy_tf_layers'
_SUBMODULES = ('base', 'convolutional', 'core', 'normalization', 'pooling',
               'variable_scope_shim')


def _alias_legacy_layers():
  if os.environ.get('TF_USE_LEGACY_KERAS') != '1':
    raise RuntimeError('set TF_USE_LEGACY_KERAS=1 before importing tensorflow')
  if _LEGACY in sys.modules:
    return
  sys.modules[_LEGACY] = importlib.import_module(_LEGACY_SOURCE)
  for name in _SUBMODULES:
    sys.modules['%s.%s' % (_LEGACY, name)] = importlib.import_module(
        '%s.%s' % (_LEGACY_SOURCE, name))


def slim():
  """Returns the `tf_slim` module with its layers made to build."""
  _alias_legacy_layers()
  import tf_slim
  return tf_slim


def slim_nets():
  """Returns tf-slim 1.1.0's `(resnet_utils, resnet_v1, resnet_v2)`."""
  _alias_legacy_layers()
  from tf_slim.nets import resnet_utils, resnet_v1, resnet_v2
  return resnet_utils, resnet_v1, resnet_v2


def tf_layers():
  """Returns `tf.compat.v1.layers` backed by tf-keras."""
  _alias_legacy_layers()
  import tensorflow.compat.v1 as tf
  return tf.layers
