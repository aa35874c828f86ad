"""Solutions to notebook 1's exercises (graphs and sessions), checked."""

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v1_graph import checkpoints
from resnet_v1_graph import ResNet

SIZE = 16


def _resnet18(tmp_path, name, num_classes=10):
  return ResNet(depth=18, height=SIZE, width=SIZE, channel=1,
                num_classes=num_classes, model_path=str(tmp_path / name),
                summary_path=str(tmp_path / (name + '_summary')),
                verbose=False)


def _batch(size=8):
  rng = np.random.RandomState(0)
  return (rng.uniform(size=(size, SIZE, SIZE, 1)).astype(np.float32),
          np.eye(10)[rng.randint(0, 10, size)])


def _values(model, session):
  variables = model.graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)
  return dict(zip([v.op.name for v in variables], session.run(variables)))


# Notebook 1, exercise 1: stack_2's variables and parameters.


def _conv_with_batch_norm(kernel, channels_in, channels_out):
  """A classic convolution: kernel and bias, then batch norm's gamma and
  beta (its moving statistics are not trainable)."""
  return kernel * kernel * channels_in * channels_out + 3 * channels_out


def test_stack_2_parameters(tmp_path):
  model = _resnet18(tmp_path, 'count')
  stack = [v for v in model.graph.get_collection(
      tf.GraphKeys.TRAINABLE_VARIABLES) if v.op.name.startswith('stack_2_')]
  per_block = {}
  for v in stack:
    block = v.op.name.split('_conv_')[0].split('_shortcut')[0]
    per_block[block] = per_block.get(block, 0) + int(np.prod(v.shape))
  # The first block halves the map and doubles the channels: its first
  # convolution takes 128 channels (half the weights of the second
  # block's), and its shortcut needs a 1x1 projection (stride 2,
  # 128 -> 256) to match the sum's shape. The first block holds fewer.
  first = (_conv_with_batch_norm(3, 128, 256) +
           _conv_with_batch_norm(3, 256, 256) +
           _conv_with_batch_norm(1, 128, 256))
  second = 2 * _conv_with_batch_norm(3, 256, 256)
  assert len(stack) == 3 * 4 + 2 * 4
  assert per_block == {'stack_2_block_0': first, 'stack_2_block_1': second}
  assert second - first == 9 * 128 * 256 - (128 * 256 + 3 * 256) > 0


# Notebook 1, exercise 2: steps with is_training fed False.


def test_steps_in_inference_mode_train_weights_but_not_statistics(tmp_path):
  model = _resnet18(tmp_path, 'inference_steps')
  images, onehot = _batch()
  with model.graph.as_default(), tf.Session() as session:
    session.run(tf.global_variables_initializer())
    before = _values(model, session)
    for _ in range(20):
      session.run(model.optimize, {model.input_x: images,
                                   model.input_y: onehot,
                                   model.is_training: False})
    after = _values(model, session)
  changed = {name for name in before
             if not np.array_equal(before[name], after[name])}
  statistics = {name for name in before
                if name.endswith(('moving_mean', 'moving_variance'))}
  # Batch norm normalises with its moving statistics and does not update
  # them; gradients still flow, so Adam moves every weight (and its
  # slots) and counts the steps.
  assert statistics and not statistics & changed
  assert changed == set(before) - statistics
  assert after['global_step'] == 20


# Notebook 1, exercise 3: the stem alone into a 5-class ResNet-18.


def test_restore_the_stem_alone(tmp_path):
  trained = _resnet18(tmp_path, 'trained')
  images, onehot = _batch()
  with trained.graph.as_default(), tf.Session() as session:
    session.run(tf.global_variables_initializer())
    session.run(trained.optimize, {trained.input_x: images,
                                   trained.input_y: onehot,
                                   trained.is_training: True})
    path = tf.train.Saver().save(session, str(tmp_path / 'stem.ckpt'))
  stored = checkpoints.read_arrays(path)

  fresh = _resnet18(tmp_path, 'fresh', num_classes=5)
  with fresh.graph.as_default(), tf.Session() as session:
    # The stem's own variables, not Adam's slots for them ('.../Adam').
    stem = [v for v in tf.global_variables()
            if v.op.name.split('/')[0] in ('First_Conv', 'First_Conv_BN')
            and v.op.name.count('/') == 1]
    session.run(tf.global_variables_initializer())
    tf.train.Saver(stem).restore(session, path)
    values = _values(fresh, session)
  assert {v.op.name for v in stem} == {
      'First_Conv/kernel', 'First_Conv/bias', 'First_Conv_BN/gamma',
      'First_Conv_BN/beta', 'First_Conv_BN/moving_mean',
      'First_Conv_BN/moving_variance'}
  for v in stem:
    np.testing.assert_array_equal(values[v.op.name], stored[v.op.name])
  assert values['dense/kernel'].shape == (512, 5)
  assert stored['dense/kernel'].shape == (512, 10)
  assert not np.array_equal(values['stack_0_block_0_conv_0/kernel'],
                            stored['stack_0_block_0_conv_0/kernel'])
