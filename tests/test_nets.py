"""resnet_v1_graph.nets: layer and parameter counts, names, plain twins."""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph.nets import degradation
from resnet_v1_graph.nets import registry


def _build(fn, shape, num_classes, **kwargs):
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, shape)
    logits = fn(images, False, num_classes=num_classes, **kwargs)
  return graph, images, logits


def _network_fn(name):
  return registry.get(name).logits_fn


def _trainable(graph):
  return {v.op.name: v.shape.as_list()
          for v in graph.get_collection('trainable_variables')}


def _cifar_parameters(n, classes=10):
  """[1] section 4.2 by hand: convs without bias, BN gamma+beta, dense."""
  convs = 3 * 3 * 3 * 16
  bn = 16
  for i, filters in enumerate((16, 32, 64)):
    fan_in = 16 if i == 0 else filters // 2
    convs += 9 * fan_in * filters + (2 * n - 1) * 9 * filters * filters
    bn += 2 * n * filters
  return convs + 2 * bn + 64 * classes + classes


@pytest.mark.parametrize('depth,approx', [(20, 0.27e6), (32, 0.46e6),
                                          (56, 0.85e6), (110, 1.7e6)])
def test_cifar_resnet_parameters(depth, approx):
  graph, _, logits = _build(
      lambda images, is_training, num_classes: degradation.cifar_resnet_logits(
          images, is_training, depth, num_classes), [None, 32, 32, 3], 10)
  total = sum(np.prod(s) for s in _trainable(graph).values())
  assert total == _cifar_parameters(degradation.CIFAR_BLOCKS[depth])
  assert total == pytest.approx(approx, rel=0.03)
  kernels = [n for n in _trainable(graph) if n.endswith('kernel')]
  assert len(kernels) == depth  # 6n + 2 weighted layers.
  assert logits.shape.as_list() == [None, 10]


@pytest.mark.parametrize('name,twin,size,classes', [
    ('cifar_resnet20', 'cifar_plain20', 32, 10),
    ('resnet30', 'plain30', 32, 10),
    ('course_resnet50', 'course_plain50', 64, 6),
])
def test_plain_twin_has_no_shortcuts_and_same_shapes(name, twin, size,
                                                     classes):
  graphs = {}
  for net in (name, twin):
    graphs[net], _, logits = _build(_network_fn(net),
                                    [None, size, size, 3], classes)
    assert logits.shape.as_list() == [None, classes]
  residual, plain = _trainable(graphs[name]), _trainable(graphs[twin])
  projections = {n for n in residual
                 if n.split('/')[0].endswith(('_projection', 'branch1'))
                 or n.split('/')[0].startswith('bn') and
                 n.split('/')[0].endswith('branch1')}
  assert {n: s for n, s in residual.items() if n not in projections} == plain
  shortcut_ops = [op.name for op in graphs[twin].get_operations()
                  if 'shortcut_connect' in op.name or 'branch1' in op.name]
  assert not shortcut_ops
  adds = lambda g: sum(op.type in ('Add', 'AddV2') for op in g.get_operations())
  assert adds(graphs[name]) > adds(graphs[twin])


def test_resnet30_has_30_weighted_layers():
  graph, _, _ = _build(_network_fn('plain30'), [None, 32, 32, 3], 10)
  kernels = [n for n in _trainable(graph) if n.endswith('kernel')]
  assert len(kernels) == 30  # conv + 28 in blocks + dense.


def test_course_resnet50_names_and_shapes():
  graph, _, _ = _build(_network_fn('course_resnet50'), [None, 64, 64, 3],
                       6)
  names = _trainable(graph)
  assert names['conv1/kernel'] == [7, 7, 3, 64]
  assert names['bn_conv1/gamma'] == [64]
  assert names['res2a_branch2a/kernel'] == [1, 1, 64, 64]
  assert names['res2a_branch1/kernel'] == [1, 1, 64, 256]
  assert names['bn2a_branch1/beta'] == [256]
  assert names['res3d_branch2c/kernel'] == [1, 1, 128, 512]
  assert names['res4f_branch2b/kernel'] == [3, 3, 256, 256]
  assert names['res5c_branch2c/bias'] == [2048]
  assert names['fc6/kernel'] == [2048, 6]
  blocks = {n.split('_')[0] for n in names if n.startswith('res')}
  assert blocks == {'res2a', 'res2b', 'res2c', 'res3a', 'res3b', 'res3c',
                    'res3d', 'res4a', 'res4b', 'res4c', 'res4d', 'res4e',
                    'res4f', 'res5a', 'res5b', 'res5c'}
  # The course's Keras model summary: 23,600,006 parameters, of which
  # 23,546,886 trainable (the rest are batch norm's moving statistics).
  assert sum(np.prod(s) for s in names.values()) == 23546886
  every = sum(v.shape.num_elements() for v in graph.get_collection('variables'))
  assert every == 23600006


def test_fixed_seed_initialisation_is_reproducible():
  values = []
  for _ in range(2):
    graph, _, _ = _build(_network_fn('course_resnet50'),
                         [None, 64, 64, 3], 6)
    with graph.as_default(), tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      kernel = [v for v in tf.global_variables()
                if v.op.name == 'conv1/kernel'][0]
      values.append(sess.run(kernel))
  np.testing.assert_array_equal(values[0], values[1])


def test_unknown_network_lists_names():
  with pytest.raises(ValueError, match='cifar_plain110'):
    _network_fn('cifar_resnet21')


# The registry: every name builds what its entry says.

# A size every network accepts that keeps the deep slim graphs cheap.
REGISTRY_SIZE = 64


@pytest.mark.parametrize('name', registry.names())
def test_every_registered_network_builds_as_its_entry_says(name):
  network = registry.get(name)
  assert network.family in registry.FAMILIES
  depth = network.depth or 18
  assert depth in network.depths
  options = {'depth': depth} if network.depth is None else {}
  classes = 7
  graph, _, logits = _build(network.logits_fn,
                            [None, REGISTRY_SIZE, REGISTRY_SIZE, 3], classes,
                            **options)
  assert logits.shape.as_list() == [None, classes]
  # The classification layer sits under the entry's head scope, and only
  # it has one output per class.
  heads = {n: shape for n, shape in _trainable(graph).items()
           if any(part.startswith(network.head_scope)
                  for part in n.split('/')[:-1])}
  assert heads
  assert all(shape[-1] == classes for shape in heads.values())


def test_registry_families_and_twins():
  assert registry.names()[0] == registry.CLASSIC
  assert registry.get('resnet').keras_twin(50) == 'ResNet50'
  assert registry.get('resnet').keras_twin(18) is None
  assert registry.get('resnet_v2_101').keras_twin() == 'ResNet101V2'
  assert registry.get('resnet_v1_50').keras_twin() is None
  assert not registry.get('resnet_v1_50').keras_compatible
  assert registry.get('resnet_v2_200').keras_compatible
  assert registry.get('cifar_plain56').shortcuts is False
  assert registry.get('course_resnet50').image_size == 64
  assert registry.get('resnet_v2_50').num_classes == (
      registry.IMAGENET_CLASSES_WITH_BACKGROUND)
  assert set(registry.HEAD_SCOPES) >= {'dense', 'logits', 'predictions'}
