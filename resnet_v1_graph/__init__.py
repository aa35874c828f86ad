"""The classic session-based ResNet for TensorFlow-1-style graph mode.

Typical use:

  from resnet_v1_graph import ResNet, data

  digits = data.load_digits()
  model = ResNet(depth=18, height=32, width=32, channel=1, num_classes=10)
  model.fit(digits.train, digits.validation)
  print(model.evaluate(digits.test)['accuracy'])
"""

import importlib

# Loaded on first use, so that `resnet-tf1` sets TensorFlow's logging before
# TensorFlow is imported.
_EXPORTS = {
    'Classifier': ('classifier', 'Classifier'),
    'Config': ('config', 'Config'),
    'GraphModel': ('model', 'GraphModel'),
    'ResNet': ('classifier', 'ResNet'),
    'SlimResNet': ('classifier', 'SlimResNet'),
    'build': ('classifier', 'build'),
}
# Submodules by attribute; the last four are where they lived before the
# package was layered, kept so that older imports still work.
_MODULES = {
    'checkpoints': 'checkpoints',
    'classifier': 'classifier',
    'cli': 'cli',
    'config': 'config',
    'data': 'data',
    'export': 'export',
    'model': 'model',
    'nets': 'nets',
    'preprocessing': 'preprocessing',
    'tools': 'tools',
    'training': 'training',
    'convert': 'checkpoints.convert',
    'finetune': 'training.finetune',
    'layers': 'nets.layers',
    'trainer': 'training.trainer',
}

__all__ = sorted(_EXPORTS) + sorted(_MODULES)


def __getattr__(name):
  if name in _EXPORTS:
    module, attribute = _EXPORTS[name]
    return getattr(importlib.import_module('resnet_v1_graph.' + module),
                   attribute)
  if name in _MODULES:
    return importlib.import_module('resnet_v1_graph.' + _MODULES[name])
  raise AttributeError('module resnet_v1_graph has no attribute %r' % name)
