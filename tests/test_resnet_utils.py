"""The slim ResNet test matrix, on tiny networks (base depths 1-8).

Each test builds in a fresh graph and runs in milliseconds; the reference
equivalence at full depth lives in test_resnet_equivalence.py.
"""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim

from resnet_v2_slim import layers
from resnet_v2_slim import resnet_utils
from resnet_v2_slim import resnet_v1
from resnet_v2_slim import resnet_v2

VERSIONS = {'v1': (resnet_v1, resnet_v1.resnet_v1, resnet_v1.resnet_v1_block),
            'v2': (resnet_v2, resnet_v2.resnet_v2, resnet_v2.resnet_v2_block)}


def create_test_input(batch, height, width, channels):
  """x[b, i, j, c] = i + j: a ramp whose convolutions are easy by hand."""
  if None in (batch, height, width, channels):
    return tf.placeholder(tf.float32, (batch, height, width, channels))
  ramp = np.arange(height)[:, None] + np.arange(width)[None, :]
  return tf.constant(np.tile(ramp[None, :, :, None], (batch, 1, 1, channels)),
                     tf.float32)


def tiny_blocks(version, last_stride=1):
  block = VERSIONS[version][2]
  return [block('block1', base_depth=1, num_units=2, stride=2),
          block('block2', base_depth=2, num_units=2, stride=2),
          block('block3', base_depth=4, num_units=2, stride=2),
          block('block4', base_depth=8, num_units=2, stride=last_stride)]


def tiny_net(version, inputs, num_classes=None, **kwargs):
  _, generator, _ = VERSIONS[version]
  kwargs.setdefault('scope', 'tiny')
  with tf_slim.arg_scope(resnet_utils.resnet_arg_scope()):
    return generator(inputs, tiny_blocks(version), num_classes, **kwargs)


def randomize_variables(sess, seed=0):
  """Random weights and non-trivial batch-norm statistics."""
  rng = np.random.RandomState(seed)
  for v in tf.global_variables():
    name = v.op.name
    if name.endswith(('gamma', 'moving_variance')):
      value = rng.uniform(0.5, 1.5, v.shape)
    else:
      value = rng.normal(0.0, 0.3, v.shape)
    v.load(value.astype(np.float32), sess)


def conv2d_by_hand(x, w, stride, pad_beg, pad_end):
  """Direct cross-correlation with explicit zero padding, in numpy."""
  x = np.pad(x, ((pad_beg, pad_end), (pad_beg, pad_end)))
  k = w.shape[0]
  out = (x.shape[0] - k) // stride + 1
  return np.array([[np.sum(x[i * stride:i * stride + k,
                             j * stride:j * stride + k] * w)
                    for j in range(out)] for i in range(out)])


@pytest.mark.parametrize('n', [4, 5])
def test_conv2d_same_hand_computed(n):
  graph = tf.Graph()
  with graph.as_default():
    x = create_test_input(1, n, n, 1)
    w = np.add.outer(np.arange(3), np.arange(3)).astype(np.float32)
    init = tf.constant_initializer(w.reshape(3, 3, 1, 1))
    with tf_slim.arg_scope([layers.conv2d], weights_initializer=init,
                           biases_initializer=tf.zeros_initializer(),
                           activation_fn=None):
      y1 = layers.conv2d(x, 1, [3, 3], stride=1, scope='conv')
      y2 = resnet_utils.subsample(y1, 2)
      y3 = resnet_utils.conv2d_same(x, 1, 3, stride=2, scope='conv_same')
      y4 = layers.conv2d(x, 1, [3, 3], stride=2, scope='conv_strided')
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      y1, y2, y3, y4 = [y[0, :, :, 0] for y in sess.run([y1, y2, y3, y4])]
  ramp = np.add.outer(np.arange(n), np.arange(n)).astype(np.float64)
  same = conv2d_by_hand(ramp, w, 1, 1, 1)
  np.testing.assert_allclose(y1, same)
  np.testing.assert_allclose(y2, same[::2, ::2])
  # conv2d_same with stride 2 equals stride-1 SAME then subsample, any n.
  np.testing.assert_allclose(y3, same[::2, ::2])
  # TF's own strided SAME pads (0, 1) on even inputs, so it samples elsewhere.
  pad = max((n + 1) // 2 * 2 + 1 - n, 0)
  np.testing.assert_allclose(y4, conv2d_by_hand(ramp, w, 2, pad // 2,
                                                pad - pad // 2))
  if n == 4:  # The values slim's own test lists for this input.
    np.testing.assert_allclose(y1, [[14, 28, 43, 26], [28, 48, 66, 37],
                                    [43, 66, 84, 46], [26, 37, 46, 22]])
    np.testing.assert_allclose(y4, [[48, 37], [37, 22]])


def test_end_points_are_exactly_the_scope_names():
  with tf.Graph().as_default():
    inputs = create_test_input(2, 32, 16, 3)
    block = resnet_v2.resnet_v2_block
    blocks = [block('block1', base_depth=1, num_units=2, stride=2),
              block('block2', base_depth=2, num_units=1, stride=1)]
    with tf_slim.arg_scope(resnet_utils.resnet_arg_scope()):
      _, end_points = resnet_v2.resnet_v2(inputs, blocks, num_classes=5,
                                          scope='tiny')
  assert sorted(end_points) == sorted([
      'tiny/conv1',
      'tiny/block1/unit_1/bottleneck_v2/shortcut',
      'tiny/block1/unit_1/bottleneck_v2/conv1',
      'tiny/block1/unit_1/bottleneck_v2/conv2',
      'tiny/block1/unit_1/bottleneck_v2/conv3',
      'tiny/block1/unit_1/bottleneck_v2',
      'tiny/block1/unit_2/bottleneck_v2/conv1',
      'tiny/block1/unit_2/bottleneck_v2/conv2',
      'tiny/block1/unit_2/bottleneck_v2/conv3',
      'tiny/block1/unit_2/bottleneck_v2',
      'tiny/block1',
      'tiny/block2/unit_1/bottleneck_v2/shortcut',
      'tiny/block2/unit_1/bottleneck_v2/conv1',
      'tiny/block2/unit_1/bottleneck_v2/conv2',
      'tiny/block2/unit_1/bottleneck_v2/conv3',
      'tiny/block2/unit_1/bottleneck_v2',
      'tiny/block2',
      'global_pool',
      'tiny/logits',
      'tiny/spatial_squeeze',
      'predictions',
  ])


def _shape_after(size, strides):
  for s in strides:
    size = -(-size // s)  # SAME padding: ceil division.
  return size


@pytest.mark.parametrize('version', ['v1', 'v2'])
@pytest.mark.parametrize('size', [64, 65])
@pytest.mark.parametrize('output_stride', [None, 4, 8, 16, 32])
def test_block_shapes(version, size, output_stride):
  with tf.Graph().as_default():
    inputs = create_test_input(2, size, size, 3)
    _, end_points = tiny_net(version, inputs, global_pool=False,
                             output_stride=output_stride)
  # Each block strides in its last unit, before its end_point; the root
  # block strides 4, the last block not at all. Atrous convolution caps the
  # stride at output_stride.
  nominal = [8, 16, 32, 32]
  depths = [4, 8, 16, 32]
  for i, (stride, depth) in enumerate(zip(nominal, depths)):
    effective = stride if output_stride is None else min(stride, output_stride)
    strides = [2, 2] + [2] * (int(np.log2(effective)) - 2)
    side = _shape_after(size, strides)
    assert end_points['tiny/block%d' % (i + 1)].shape.as_list() == [
        2, side, side, depth]


@pytest.mark.parametrize('version', ['v1', 'v2'])
@pytest.mark.parametrize('num_classes,global_pool,squeeze,expected', [
    (10, True, True, [2, 10]),
    (10, True, False, [2, 1, 1, 10]),
    (10, False, False, [2, 3, 3, 10]),
    (None, True, True, [2, 1, 1, 32]),
    (None, False, True, [2, 3, 3, 32]),
])
def test_output_shapes(version, num_classes, global_pool, squeeze, expected):
  with tf.Graph().as_default():
    inputs = create_test_input(2, 65, 65, 3)
    net, end_points = tiny_net(version, inputs, num_classes,
                               global_pool=global_pool,
                               spatial_squeeze=squeeze)
    assert net.shape.as_list() == expected
    if num_classes:
      assert end_points['predictions'].shape.as_list() == expected


@pytest.mark.parametrize('version', ['v1', 'v2'])
@pytest.mark.parametrize('size', [17, 18])
def test_atrous_equals_nominal_stride_then_subsample(version, size):
  """Dense features at output_stride s, subsampled, equal the nominal net."""
  nominal_stride = 8
  graph = tf.Graph()
  with graph.as_default(), tf.Session() as sess:
    inputs = create_test_input(2, size, size, 3)
    outputs = {}
    for output_stride in [1, 2, 4, 8, None]:
      with tf_slim.arg_scope(resnet_utils.resnet_arg_scope()):
        with tf_slim.arg_scope([layers.batch_norm], is_training=False):
          with tf.variable_scope('net', reuse=tf.AUTO_REUSE):
            output = resnet_utils.stack_blocks_dense(
                inputs, tiny_blocks(version), output_stride)
      factor = 1 if output_stride is None else nominal_stride // output_stride
      outputs[output_stride] = resnet_utils.subsample(output, factor)
    randomize_variables(sess)
    values = sess.run(outputs)
  for output_stride in [1, 2, 4, 8]:
    np.testing.assert_allclose(values[output_stride], values[None],
                               rtol=1e-4, atol=1e-4)
  assert np.abs(values[None]).max() > 1e-2  # Not trivially all zeros.


@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_store_non_strided_activations(version):
  with tf.Graph().as_default(), tf.Session() as sess:
    inputs = create_test_input(1, 64, 64, 3)
    _, generator, _ = VERSIONS[version]
    outputs = {}
    for store in (False, True):
      with tf_slim.arg_scope(resnet_utils.resnet_arg_scope()):
        with tf_slim.arg_scope([layers.batch_norm], is_training=False):
          with tf.variable_scope('net', reuse=tf.AUTO_REUSE):
            outputs[store] = resnet_utils.stack_blocks_dense(
                inputs, tiny_blocks(version, last_stride=2),
                store_non_strided_activations=store,
                outputs_collections='ends_%s' % store)
    randomize_variables(sess)
    plain, stored = sess.run([outputs[False], outputs[True]])
    # The output is the same; the block end_point keeps twice the resolution.
    np.testing.assert_allclose(plain, stored, rtol=1e-5, atol=1e-5)
    ends = {k: tf.get_collection('ends_%s' % k)[-1].shape.as_list()
            for k in (False, True)}
    assert ends[False] == [1, 4, 4, 32] and ends[True] == [1, 8, 8, 32]


@pytest.mark.parametrize('version', ['v1', 'v2'])
@pytest.mark.parametrize('output_stride', [None, 8])
def test_unknown_batch_size(version, output_stride):
  with tf.Graph().as_default(), tf.Session() as sess:
    inputs = create_test_input(None, 33, 33, 3)
    logits, _ = tiny_net(version, inputs, 7, output_stride=output_stride)
    assert logits.shape.as_list() == [None, 7]
    sess.run(tf.global_variables_initializer())
    value = sess.run(logits, {inputs: np.zeros((3, 33, 33, 3))})
  assert value.shape == (3, 7)


@pytest.mark.parametrize('version', ['v1', 'v2'])
@pytest.mark.parametrize('output_stride,side', [(None, 3), (8, 9)])
def test_unknown_height_and_width(version, output_stride, side):
  with tf.Graph().as_default(), tf.Session() as sess:
    inputs = create_test_input(2, None, None, 3)
    net, _ = tiny_net(version, inputs, global_pool=False,
                      output_stride=output_stride)
    assert net.shape.as_list() == [2, None, None, 32]
    sess.run(tf.global_variables_initializer())
    value = sess.run(net, {inputs: np.zeros((2, 65, 65, 3))})
  assert value.shape == (2, side, side, 32)


def test_block_accepts_tuples_like_dicts():
  unit = resnet_v2.bottleneck
  as_tuples = resnet_utils.Block('block1', unit, [(8, 2, 1), (8, 2, 2)])
  as_dicts = resnet_v2.resnet_v2_block('block1', base_depth=2, num_units=2,
                                       stride=2)
  values = {}
  for name, block in (('tuples', as_tuples), ('dicts', as_dicts)):
    with tf.Graph().as_default(), tf.Session() as sess:
      tf.set_random_seed(3)
      with tf_slim.arg_scope(resnet_utils.resnet_arg_scope()):
        net = resnet_utils.stack_blocks_dense(create_test_input(1, 9, 9, 4),
                                              [block])
      sess.run(tf.global_variables_initializer())
      names = sorted(v.op.name for v in tf.global_variables())
      values[name] = (names, sess.run(net).shape)
  assert values['tuples'] == values['dicts']


@pytest.mark.parametrize('args', [[(8, 2)], [8], ['8,2,1'], [(8, 2, 1.0)]])
def test_block_rejects_malformed_units(args):
  with pytest.raises(ValueError, match='depth, depth_bottleneck, stride'):
    resnet_utils.Block('block1', resnet_v2.bottleneck, args)


@pytest.mark.parametrize('output_stride', [2, 12, 64])
def test_unreachable_output_stride_lists_valid_ones(output_stride):
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=r'one of \[4, 8, 16, 32\]'):
      tiny_net('v2', create_test_input(1, 32, 32, 3),
               output_stride=output_stride)


def test_stack_blocks_dense_rejects_unreachable_stride():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=r'one of \[1, 2, 4, 8\]'):
      resnet_utils.stack_blocks_dense(create_test_input(1, 32, 32, 3),
                                      tiny_blocks('v1'), output_stride=3)


@pytest.mark.parametrize('shape', [(32, 32, 3), (1, 1, 32, 32, 3)])
def test_non_rank4_inputs_are_rejected(shape):
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='rank-4'):
      resnet_v2.resnet_v2_50(tf.zeros(shape))


def test_spatial_squeeze_of_a_map_is_rejected():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='spatial_squeeze needs 1x1'):
      tiny_net('v2', create_test_input(1, 64, 64, 3), 10, global_pool=False)


@pytest.mark.parametrize('depth', [18, 34, 51, 0])
def test_unknown_depth_lists_the_table(depth):
  with pytest.raises(ValueError, match=r'\[50, 101, 152, 200\]'):
    resnet_v2.resnet_v2_blocks(depth)


def test_get_network_by_name():
  import resnet_v2_slim
  assert resnet_v2_slim.get_network('resnet_v1_101') is resnet_v1.resnet_v1_101
  with pytest.raises(ValueError, match='resnet_v2_200'):
    resnet_v2_slim.get_network('resnet_v2_18')


def test_summary_rows_follow_the_graph():
  with tf.Graph().as_default():
    inputs = create_test_input(1, 65, 65, 3)
    blocks = tiny_blocks('v2')
    with tf_slim.arg_scope(resnet_utils.resnet_arg_scope()):
      _, end_points = resnet_v2.resnet_v2(inputs, blocks, 10, scope='tiny',
                                          global_pool=True, output_stride=8)
    rows = resnet_utils.summarize(end_points, blocks, output_stride=8)
    total = sum(v.shape.num_elements() for v in tf.trainable_variables())
  names = [r['name'] for r in rows]
  assert names == ['conv1+pool1', 'block1', 'block2', 'block3', 'block4',
                   'postnorm', 'logits']
  assert [r['stride'] for r in rows[1:5]] == [8, 8, 8, 8]
  assert [r['rate'] for r in rows[1:5]] == [1, 1, 2, 4]
  assert rows[1]['shape'] == [1, 9, 9, 4]
  assert sum(r['params'] for r in rows) == total
  # v2's conv1 has no batch norm, so it has biases: 7x7x3x64 + 64.
  assert rows[0]['params'] == 7 * 7 * 3 * 64 + 64
  assert 'total' in resnet_utils.format_summary(rows)


def test_no_tf_keras_at_run_time(tmp_path):
  """The library builds and runs a net without ever importing tf-keras."""
  import subprocess
  import sys
  script = (
      'import sys, numpy as np, tensorflow.compat.v1 as tf, tf_slim\n'
      'from resnet_v2_slim import resnet_v2\n'
      'with tf.Graph().as_default(), tf.Session() as s:\n'
      '  x = tf.placeholder(tf.float32, [1, 33, 33, 3])\n'
      '  with tf_slim.arg_scope(resnet_v2.resnet_arg_scope()):\n'
      '    y, _ = resnet_v2.resnet_v2_50(x, 5, is_training=True)\n'
      '  s.run(tf.global_variables_initializer())\n'
      '  s.run(y, {x: np.ones((1, 33, 33, 3))})\n'
      'bad = [m for m in sys.modules if m.startswith("tf_keras")]\n'
      'assert not bad, bad\n'
      'print("ok")\n')
  env = {k: v for k, v in __import__('os').environ.items()
         if k != 'TF_USE_LEGACY_KERAS'}
  result = subprocess.run([sys.executable, '-c', script], env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip().endswith('ok')
