"""Solutions to notebook 3's exercises (slim's generator), checked."""

import pytest
import tensorflow.compat.v1 as tf
import tf_slim

from resnet_v2_slim import resnet_utils
from resnet_v2_slim import resnet_v2

SIZE = 64
NET = 'resnet_v2_50'


def _resnet50(output_stride, size=SIZE):
  """resnet_v2_50's features in a fresh graph: (graph, end_points)."""
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, size, size, 3])
    with tf_slim.arg_scope(resnet_v2.resnet_arg_scope()):
      _, end_points = resnet_v2.resnet_v2_50(
          images, is_training=False, global_pool=False,
          output_stride=output_stride)
  return graph, end_points


def _strides_and_rates(graph):
  """{op name: (type, stride, rate)} of the convolutions and pools."""
  found = {}
  for op in graph.get_operations():
    if op.type in ('Conv2D', 'MaxPool'):
      rate = op.get_attr('dilations')[1] if op.type == 'Conv2D' else 1
      found[op.name] = (op.type, op.get_attr('strides')[1], rate)
  return found


def _variables(graph):
  return {v.op.name: v.shape.as_list()
          for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)}


# Notebook 3, exercise 1: which output strides resnet_v2_50 accepts.


def test_reachable_output_strides_are_the_cumulative_strides():
  # The root block strides 4 (conv1 /2, pool1 /2); after it only the last
  # units of blocks 1 to 3 stride, by 2 each. The reachable output strides
  # are the cumulative strides after the root and after each unit.
  by_hand = [4, 4 * 2, 4 * 2 * 2, 4 * 2 * 2 * 2]
  assert resnet_utils.valid_output_strides(resnet_v2.resnet_v2_blocks(50),
                                           root_stride=4) == by_hand


@pytest.mark.parametrize('output_stride', [2, 12, 64])
def test_unreachable_output_strides_are_refused(output_stride):
  # 2 is finer than the root block, which is never made atrous: `resnet`
  # builds conv1 and pool1 with their fixed strides and hands only
  # output_stride // 4 to stack_blocks_dense. 12 is no product of the
  # strides; 64 is coarser than the whole network (32).
  with pytest.raises(ValueError, match=(
      r'output_stride %d cannot be reached.*one of \[4, 8, 16, 32\]'
      % output_stride)):
    _resnet50(output_stride)


def test_output_stride_4_makes_every_block_atrous():
  graph, end_points = _resnet50(4)
  ops = _strides_and_rates(graph)
  # The root still strides 4 ...
  assert ops[NET + '/conv1/Conv2D'][1] == 2
  assert ops[NET + '/pool1/MaxPool2d'][1] == 2
  # ... and nothing after it strides: every block's map stays 64 / 4.
  assert all(stride == 1 for name, (_, stride, _) in ops.items()
             if '/block' in name)
  sides = [end_points['%s/block%d' % (NET, i)].shape.as_list()[1:3]
           for i in range(1, 5)]
  assert sides == [[SIZE // 4, SIZE // 4]] * 4
  # By hand: block1's units run at rate 1; the stride its last unit gives
  # up doubles the rate of everything after, and so do blocks 2 and 3.
  rates = [{rate for name, (_, _, rate) in ops.items()
            if '/block%d/' % i in name and '/conv2/' in name}
           for i in range(1, 5)]
  assert rates == [{1}, {2}, {4}, {8}]


# Notebook 3, exercise 2: a Block list of our own, counted by hand.


def _conv(kernel, channels_in, channels_out, batch_norm):
  """Trainable parameters of a conv2d: its kernel, then gamma and beta of
  its batch norm, or its biases when it has no normalizer."""
  extra = 2 * channels_out if batch_norm else channels_out
  return kernel * kernel * channels_in * channels_out + extra


def _unit(depth_in, depth, depth_bottleneck):
  """A v2 bottleneck unit: preact (gamma, beta), a linear projection with
  biases if the depth changes, conv1 and conv2 with batch norm, conv3
  linear with biases."""
  total = 2 * depth_in
  if depth != depth_in:
    total += _conv(1, depth_in, depth, batch_norm=False)
  total += _conv(1, depth_in, depth_bottleneck, batch_norm=True)
  total += _conv(3, depth_bottleneck, depth_bottleneck, batch_norm=True)
  total += _conv(1, depth_bottleneck, depth, batch_norm=False)
  return total


def test_custom_blocks_parameter_count_by_hand():
  unit = lambda base, stride=1: {'depth': 4 * base, 'depth_bottleneck': base,
                                 'stride': stride}
  blocks = [resnet_utils.Block('block1', resnet_v2.bottleneck,
                               [unit(4), unit(4, stride=2)]),
            resnet_utils.Block('block2', resnet_v2.bottleneck, [unit(8)])]
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [2, 32, 32, 1])
    with tf_slim.arg_scope(resnet_v2.resnet_arg_scope()):
      logits, _ = resnet_v2.resnet_v2(images, blocks, num_classes=10,
                                      scope='mine')
    trainable = graph.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES)
  by_graph = sum(v.shape.num_elements() for v in trainable)
  by_hand = (_conv(7, 1, 64, batch_norm=False)  # v2's conv1: no batch norm
             + _unit(64, 16, 4) + _unit(16, 16, 4) + _unit(16, 32, 8)
             + 2 * 32  # postnorm
             + 32 * 10 + 10)  # logits, a 1x1 convolution with biases
  assert logits.shape.as_list() == [2, 10]
  assert by_graph == by_hand == 7_194
  # Biases where a convolution has no batch norm after it: bottleneck and
  # resnet pass normalizer_fn=None to these explicitly, which beats the
  # scope's batch_norm.
  biases = {v.op.name for v in trainable if v.op.name.endswith('/biases')}
  assert biases == {
      'mine/conv1/biases', 'mine/logits/biases',
      'mine/block1/unit_1/bottleneck_v2/shortcut/biases',
      'mine/block2/unit_1/bottleneck_v2/shortcut/biases',
      'mine/block1/unit_1/bottleneck_v2/conv3/biases',
      'mine/block1/unit_2/bottleneck_v2/conv3/biases',
      'mine/block2/unit_1/bottleneck_v2/conv3/biases'}


# Notebook 3, exercise 3: what output_stride=16 changes.


def test_output_stride_16_changes_block3_unit6_and_block4_only():
  nominal_graph, nominal_ends = _resnet50(None)
  dense_graph, dense_ends = _resnet50(16)
  nominal, dense = (_strides_and_rates(nominal_graph),
                    _strides_and_rates(dense_graph))
  unit = NET + '/block%d/unit_%d/bottleneck_v2/'
  changed = {name: (nominal[name][1:], dense[name][1:])
             for name in nominal.keys() & dense.keys()
             if nominal[name] != dense[name]}
  # By hand: the cumulative stride reaches 16 inside block3, at its last
  # unit, which gives up its stride 2; that 2 becomes the rate of every
  # conv2 after it, block4's three.
  assert changed == {
      unit % (3, 6) + 'conv2/Conv2D': ((2, 1), (1, 1)),
      unit % (4, 1) + 'conv2/Conv2D': ((1, 1), (1, 2)),
      unit % (4, 2) + 'conv2/Conv2D': ((1, 1), (1, 2)),
      unit % (4, 3) + 'conv2/Conv2D': ((1, 1), (1, 2))}
  # The unit's strided shortcut (a 1x1 max pool /2) is gone: subsample by
  # 1 returns its input unchanged. Nothing new appears.
  assert set(nominal) - set(dense) == {unit % (3, 6) + 'shortcut/MaxPool2d'}
  assert set(dense) <= set(nominal)
  assert _variables(nominal_graph) == _variables(dense_graph)
  sides = {name: ends[NET + '/block4'].shape.as_list()[1]
           for name, ends in (('nominal', nominal_ends),
                              ('dense', dense_ends))}
  assert sides == {'nominal': SIZE // 32, 'dense': SIZE // 16}
