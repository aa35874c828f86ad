"""The classic session-based ResNet for TensorFlow-1-style graph mode.

Typical use:

  from resnet_v1_graph import ResNet, data

  digits = data.load_digits()
  model = ResNet(depth=18, height=32, width=32, channel=1, num_classes=10)
  model.fit(digits.train, digits.validation)
  print(model.evaluate(digits.test)['accuracy'])
"""

from resnet_v1_graph import config
from resnet_v1_graph import data
from resnet_v1_graph.config import Config
from resnet_v1_graph.model import GraphModel, ResNet, SlimResNet, build

__all__ = ['Config', 'GraphModel', 'ResNet', 'SlimResNet', 'build', 'config',
           'data']
