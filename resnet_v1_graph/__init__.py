"""The classic session-based ResNet for TensorFlow-1-style graph mode.

Typical use:

  from resnet_v1_graph import ResNet, data

  digits = data.load_digits()
  model = ResNet(depth=18, height=32, width=32, channel=1, num_classes=10)
  model.fit(digits.train, digits.validation)
  print(model.evaluate(digits.test)['accuracy'])
"""

import importlib

# Loaded on first use, so that `resnet-tf1 --help` and the CLI's logging
# settings come before TensorFlow is imported.
_EXPORTS = {
    'Config': ('config', 'Config'),
    'GraphModel': ('model', 'GraphModel'),
    'ResNet': ('model', 'ResNet'),
    'SlimResNet': ('model', 'SlimResNet'),
    'build': ('model', 'build'),
}
_MODULES = ('benchmark', 'checkpoints', 'cli', 'config', 'convert', 'data',
            'export', 'finetune', 'layers', 'model', 'nets', 'preprocessing',
            'trainer')

__all__ = sorted(_EXPORTS) + list(_MODULES)


def __getattr__(name):
  if name in _EXPORTS:
    module, attribute = _EXPORTS[name]
    return getattr(importlib.import_module('resnet_v1_graph.' + module),
                   attribute)
  if name in _MODULES:
    return importlib.import_module('resnet_v1_graph.' + name)
  raise AttributeError('module resnet_v1_graph has no attribute %r' % name)
