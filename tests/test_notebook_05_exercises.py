"""Solutions to notebook 5's exercises (residual vs plain), checked."""

import importlib.util
import math
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import data
from resnet_v1_graph.nets import degradation
from resnet_v1_graph.nets import registry

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'scripts',
                      'plain_vs_residual.py')


def _build(name, size, channels, seed=0):
  """(graph, images placeholder, logits) of a registry network at init."""
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(seed)
    images = tf.placeholder(tf.float32, [None, size, size, channels])
    logits = registry.get(name).logits_fn(images, True, 10)
  return graph, images, logits


# Notebook 5, exercise 1: 6n + 2 layers and the parameters by hand.


def _conv_with_batch_norm(channels_in, channels_out):
  """A 3x3 convolution without bias, then batch norm's gamma and beta (its
  moving statistics are not trainable)."""
  return 3 * 3 * channels_in * channels_out + 2 * channels_out


def _parameters_by_hand(n, channels=3, classes=10):
  """Trainable parameters of the CIFAR ResNet with n blocks per stage."""
  total = _conv_with_batch_norm(channels, 16)  # the stem
  width = 16
  for filters in (16, 32, 64):
    # The first block of a stage may widen (its first convolution takes
    # the previous width); option A's shortcut adds nothing.
    total += _conv_with_batch_norm(width, filters)
    total += (2 * n - 1) * _conv_with_batch_norm(filters, filters)
    width = filters
  return total + 64 * classes + classes  # the dense layer and its bias


def test_resnet20_parameters_by_hand():
  # 464 (stem) + 14,016 (stage 1) + 51,072 (stage 2) + 203,520 (stage 3)
  # + 650 (dense), added up on paper: the README's 0.27M.
  assert _parameters_by_hand(3) == 464 + 14016 + 51072 + 203520 + 650
  assert _parameters_by_hand(3) == 269722


@pytest.mark.parametrize('depth', [20, 32, 56])
@pytest.mark.parametrize('kind', ['resnet', 'plain'])
def test_layers_and_parameters_of_the_graph(depth, kind):
  n = degradation.CIFAR_BLOCKS[depth]
  graph, _, _ = _build('cifar_%s%d' % (kind, depth), 32, 3)
  weighted = [op for op in graph.get_operations()
              if op.type in ('Conv2D', 'MatMul')]
  trainable = graph.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES)
  assert depth == 6 * n + 2 == len(weighted)
  assert sum(int(np.prod(v.shape)) for v in trainable) == (
      _parameters_by_hand(n))


# Notebook 5, exercise 2: each block's output at initialisation.


def _block_output_stds(name, batch):
  """The std of each block's output (its last ReLU), in order."""
  graph, images, _ = _build(name, 8, 1)
  outputs = {}
  for op in graph.get_operations():  # in creation order: the last wins
    scope = op.name.split('/')[0]
    if op.type == 'Relu' and scope.startswith('stage_'):
      outputs[scope] = op.outputs[0]
  with tf.Session(graph=graph) as session:
    session.run(tf.global_variables_initializer())
    values = session.run(list(outputs.values()), {images: batch})
  return np.array([value.std() for value in values])


def test_block_outputs_at_initialisation():
  batch = data.load_digits(image_size=8).train.arrays()[0][:64]
  plain = _block_output_stds('cifar_plain56', batch)
  residual = _block_output_stds('cifar_resnet56', batch)
  assert len(plain) == len(residual) == 27
  # Plain: each block ends in batch norm (gamma 1, beta 0, the batch's own
  # statistics) then ReLU. For a standard normal z, ReLU(z) has variance
  # E[z^2]/2 - E[ReLU(z)]^2 = 1/2 - 1/(2 pi): the signal neither shrinks nor
  # grows with depth.
  relu_of_normal = math.sqrt(0.5 - 1 / (2 * math.pi))
  np.testing.assert_allclose(plain, relu_of_normal, atol=0.1)
  # Residual: x + F(x) adds a branch of unit variance to what the shortcut
  # carries, so the variance piles up block after block; it only dips where
  # option A pads new channels with zeros.
  stages = residual.reshape(3, 9)
  assert all(np.all(np.diff(stage) > 0) for stage in stages)
  assert stages[1][0] < stages[0][-1] and stages[2][0] < stages[1][-1]
  assert residual[-1] > 2.5 * residual[0]
  assert residual[-1] > 3 * plain[-1]


# Notebook 5, exercise 3: the script's verdict on given numbers.


@pytest.fixture
def script():
  spec = importlib.util.spec_from_file_location('plain_vs_residual', SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


# Final training errors of a 3-epoch run at 8x8 (seed 1).
ERRORS = {'cifar_plain20': 0.034, 'cifar_plain56': 0.850,
          'cifar_resnet20': 0.002, 'cifar_resnet56': 0.013}


def _results():
  return {name: [{'epoch': [3], 'train_accuracy': [1 - error],
                  'val_accuracy': [0.9], 'seconds': 1.0}]
          for name, error in ERRORS.items()}


def test_verdict_of_a_short_run(script):
  rows, verdict = script.summarize(_results(),
                                   script._pairs('cifar', [20, 56]))
  assert {r['network']: r['train_error'] for r in rows} == pytest.approx(
      ERRORS)
  # By hand: plain-56 0.850 > 0.034 + 0.01, so the plain nets degrade; but
  # resnet-56 0.013 > 0.002 + 0.01 = 0.012, so the rule says the deep
  # residual net degrades too, by a tenth of a point. Both residual nets
  # are near zero; at this budget the 56-layer one is a few batches
  # behind, and a one-point margin is tighter than that.
  assert verdict == {'shallow': 20, 'deep': 56, 'plain_degrades': True,
                     'residual_holds': False, 'shown': False}
  assert 'NOT shown' in script.markdown(rows, verdict)


def test_a_two_point_margin_shows_it(script, monkeypatch):
  monkeypatch.setattr(script, 'DEGRADATION_MARGIN', 0.02)
  _, verdict = script.summarize(_results(), script._pairs('cifar', [20, 56]))
  # By hand: 0.013 <= 0.002 + 0.02 and 0.850 > 0.034 + 0.02.
  assert verdict['plain_degrades'] and verdict['residual_holds']
  assert verdict['shown']
