"""resnet_v2_slim against tf-slim 1.1.0's own nets, at full depth.

For every network: the same variables (names, shapes, order, collections);
a checkpoint written by the reference restores into ours with a plain Saver;
the logits and every end_point agree. Then the configuration matrix
(global_pool, output_stride, num_classes, spatial_squeeze, odd/even inputs)
and one training step, which must move every weight and moving statistic
identically.
"""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim

from resnet_v1_graph.tools import references as oracles
from resnet_v2_slim import resnet_v1
from resnet_v2_slim import resnet_v2

OURS = {'v1': resnet_v1, 'v2': resnet_v2}
TOLERANCE = 1e-4
BATCH = 2


def _modules(name):
  version = name.split('_')[1]
  _, ref_v1, ref_v2 = oracles.slim_nets()
  return {'v1': ref_v1, 'v2': ref_v2}[version], OURS[version]


def _build(module, name, size, reference, num_classes, is_training=False,
           **kwargs):
  """Builds `module.<name>` in a fresh graph."""
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [None, size, size, 3], name='images')
    if reference:
      # tf-slim 1.1.0 predates spatial_squeeze: its logits are [N, 1, 1, C].
      squeeze = kwargs.pop('spatial_squeeze', True)
      kwargs.pop('store_non_strided_activations', None)
    with tf_slim.arg_scope(module.resnet_arg_scope()):
      net, end_points = getattr(module, name)(
          images, num_classes, is_training=is_training, **kwargs)
    if reference and num_classes and squeeze and kwargs.get('global_pool',
                                                            True):
      net = tf.squeeze(net, [1, 2])
  return graph, images, net, end_points


def _randomize(sess, seed):
  """Reference weights as initialized; batch-norm parameters made non-trivial
  so that a swapped mean/variance, gamma/beta or epsilon shows."""
  assignments = []
  for i, v in enumerate(tf.global_variables()):
    if v.op.name.endswith(('gamma', 'moving_variance')):
      value = tf.random.uniform(v.shape, 0.5, 1.5, seed=seed + i)
    elif v.op.name.endswith(('beta', 'moving_mean')):
      value = tf.random.normal(v.shape, 0.0, 0.2, seed=seed + i)
    else:
      continue
    assignments.append(v.assign(value))
  sess.run(assignments)


def _images(size, seed=0):
  return np.random.RandomState(seed).uniform(
      -1, 1, (BATCH, size, size, 3)).astype(np.float32)


def _assert_close(ours, ref, what, scale=None):
  """Relative to the largest reference value (or `scale`), at least 1."""
  ours, ref = np.asarray(ours), np.asarray(ref)
  assert ours.shape == ref.shape, what
  scale = max(1.0, float(np.abs(ref).max()), scale or 0.0)
  worst = float(np.abs(ours - ref).max()) / scale
  assert worst <= TOLERANCE, '%s differs by %g (relative)' % (what, worst)
  return worst


def _collection_items(graph, key):
  return [getattr(item, 'name', item) for item in graph.get_collection(key)]


def _compare(name, size, num_classes, tmp_path, **kwargs):
  """Reference checkpoint -> our graph; returns the worst relative diff."""
  ref_module, our_module = _modules(name)
  ref = _build(ref_module, name, size, True, num_classes, **dict(kwargs))
  ours = _build(our_module, name, size, False, num_classes, **kwargs)

  def variables(graph):
    return [(v.op.name, v.shape.as_list())
            for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)]

  assert variables(ours[0]) == variables(ref[0])
  for key in (tf.GraphKeys.TRAINABLE_VARIABLES, tf.GraphKeys.MODEL_VARIABLES):
    assert _collection_items(ours[0], key) == _collection_items(ref[0], key)
  for key in (tf.GraphKeys.REGULARIZATION_LOSSES, tf.GraphKeys.UPDATE_OPS):
    assert len(ours[0].get_collection(key)) == len(ref[0].get_collection(key))

  # Ours adds tensorflow/models' end_points to tf-slim 1.1.0's.
  extra = set(ours[3]) - set(ref[3])
  expected_extra = set()
  if kwargs.get('global_pool', True):
    expected_extra.add('global_pool')
  if num_classes and kwargs.get('spatial_squeeze', True):
    expected_extra.add(name + '/spatial_squeeze')
  assert extra == expected_extra
  assert set(ref[3]) <= set(ours[3])

  images = _images(size)
  checkpoint = str(tmp_path / 'reference.ckpt')
  with ref[0].as_default(), tf.Session(graph=ref[0]) as sess:
    sess.run(tf.global_variables_initializer())
    _randomize(sess, seed=1)
    tf.train.Saver().save(sess, checkpoint)
    ref_values = sess.run({'net': ref[2], **ref[3]}, {ref[1]: images})
  with ours[0].as_default(), tf.Session(graph=ours[0]) as sess:
    tf.train.Saver().restore(sess, checkpoint)
    fetches = {'net': ours[2], **{k: ours[3][k] for k in ref[3]}}
    our_values = sess.run(fetches, {ours[1]: images})
  if num_classes and kwargs.get('spatial_squeeze', True):
    # tf-slim 1.1.0 takes the softmax of its [N, 1, 1, C] logits.
    ref_values['predictions'] = np.squeeze(ref_values['predictions'], (1, 2))
  # Softmax moves no more than its logits do, so the logits' scale bounds
  # how far rounding can move the probabilities.
  logits_scale = float(np.abs(ref_values['net']).max())
  return max(_assert_close(our_values[k], ref_values[k], k,
                           logits_scale if k == 'predictions' else None)
             for k in ref_values)


@pytest.mark.parametrize('name', [
    'resnet_v1_50', 'resnet_v1_101', 'resnet_v1_152', 'resnet_v1_200',
    'resnet_v2_50', 'resnet_v2_101', 'resnet_v2_152', 'resnet_v2_200'])
def test_reference_checkpoint_restores_and_agrees(name, tmp_path):
  worst = _compare(name, 33, 1001, tmp_path)
  print('%s: max relative difference %g' % (name, worst))


@pytest.mark.parametrize('name', ['resnet_v1_50', 'resnet_v2_50'])
@pytest.mark.parametrize('size,num_classes,kwargs', [
    (33, None, dict(global_pool=True, output_stride=None)),
    (32, 1000, dict(global_pool=True, output_stride=8)),
    (33, 1001, dict(global_pool=False, output_stride=16,
                    spatial_squeeze=False)),
    (32, None, dict(global_pool=False, output_stride=32)),
    (33, 1000, dict(global_pool=True, output_stride=16,
                    spatial_squeeze=False)),
    (32, 1001, dict(global_pool=False, output_stride=8,
                    spatial_squeeze=False)),
])
def test_configuration_matrix(name, size, num_classes, kwargs, tmp_path):
  _compare(name, size, num_classes, tmp_path, **kwargs)


@pytest.mark.parametrize('name', ['resnet_v1_50', 'resnet_v2_50'])
def test_one_training_step_moves_everything_identically(name, tmp_path):
  ref_module, our_module = _modules(name)
  images = _images(33, seed=2)
  labels = np.array([3, 7])
  checkpoint = str(tmp_path / 'reference.ckpt')
  after = []
  for module, reference in ((ref_module, True), (our_module, False)):
    graph, x, logits, _ = _build(module, name, 33, reference, 10,
                                 is_training=True)
    with graph.as_default(), tf.Session(graph=graph) as sess:
      loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
      total = loss + tf.add_n(tf.losses.get_regularization_losses())
      with tf.control_dependencies(tf.get_collection(
          tf.GraphKeys.UPDATE_OPS)):
        train = tf.train.GradientDescentOptimizer(0.1).minimize(total)
      if reference:
        sess.run(tf.global_variables_initializer())
        _randomize(sess, seed=4)
        tf.train.Saver().save(sess, checkpoint)
      else:
        tf.train.Saver().restore(sess, checkpoint)
      before = sess.run(tf.global_variables())
      losses = sess.run([total, train], {x: images})[0]
      values = sess.run(tf.global_variables())
      names = [v.op.name for v in tf.global_variables()]
    after.append((names, values, losses))
  (ref_names, ref_values, ref_loss), (names, values, loss) = after
  assert names == ref_names
  assert loss == pytest.approx(ref_loss, rel=1e-5)
  moved = set()
  for var, ours, ref, old in zip(names, values, ref_values, before):
    _assert_close(ours, ref, var)
    if not np.allclose(ref, old):
      moved.add(var)
  moving = {n for n in names if n.endswith(('moving_mean', 'moving_variance'))}
  # The step really trained: every moving statistic and nearly every weight
  # changed (a unit whose ReLUs are all off on this batch gets no gradient).
  assert moving and moving <= moved
  assert len(moved) >= 0.9 * len(names), sorted(set(names) - moved)
