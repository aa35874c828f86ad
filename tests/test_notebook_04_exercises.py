"""Solutions to the exercises of notebook 4 (inside a checkpoint), checked."""

import collections
import os
import re

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import checkpoints
from resnet_v1_graph import classifier
from resnet_v1_graph import ResNet
from resnet_v1_graph.checkpoints import convert
from resnet_v1_graph.nets import classic
from resnet_v1_graph.training import finetune

SIZE = 16
IMAGENET_WITH_BACKGROUND = 1001
TASK_CLASSES = 10
FLOAT_BYTES = 4
STEP_BYTES = 8  # global_step is int64.


def _batch(size=8):
  rng = np.random.RandomState(0)
  return (rng.uniform(size=(size, SIZE, SIZE, 1)).astype(np.float32),
          np.eye(10)[rng.randint(0, 10, size)])


def _data_bytes(prefix):
  return os.path.getsize(prefix + '.data-00000-of-00001')


# Exercise 1: an inference-only checkpoint.


def _resnet18(tmp_path, name):
  return ResNet(depth=18, height=SIZE, width=SIZE, channel=1, num_classes=10,
                batch_size=8, model_path=str(tmp_path / name),
                summary_path=str(tmp_path / (name + '_summary')),
                verbose=False)


def _inference_logits(checkpoint, images):
  """Logits of a bare ResNet-18 inference graph restored from `checkpoint`."""
  with tf.Graph().as_default(), tf.Session() as session:
    inputs = tf.placeholder(tf.float32, [None, SIZE, SIZE, 1])
    logits = classic.resnet_logits(inputs, False, 18, 10)
    tf.train.Saver().restore(session, checkpoint)
    return session.run(logits, {inputs: images})


def write_inference_checkpoint(training_checkpoint, prefix):
  """The solution: restore into an inference graph, which has only the
  weights and the moving statistics, and save that graph's variables."""
  with tf.Graph().as_default(), tf.Session() as session:
    classic.resnet_logits(tf.placeholder(tf.float32, [None, SIZE, SIZE, 1]),
                          False, 18, 10)
    saver = tf.train.Saver()
    saver.restore(session, training_checkpoint)
    return saver.save(session, prefix, write_meta_graph=False,
                      write_state=False)


def _training_checkpoint(prefix, images, onehot, steps=2):
  """A ResNet-18 trained a few Adam steps by hand, saved with Adam's slots
  and global_step: (checkpoint prefix, trainable elements)."""
  with tf.Graph().as_default(), tf.Session() as session:
    inputs = tf.placeholder(tf.float32, [None, SIZE, SIZE, 1])
    labels = tf.placeholder(tf.float32, [None, 10])
    logits = classic.resnet_logits(inputs, True, 18, 10)
    loss = tf.losses.softmax_cross_entropy(labels, logits)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
      train = tf.train.AdamOptimizer(1e-3).minimize(
          loss, global_step=tf.train.get_or_create_global_step())
    session.run(tf.global_variables_initializer())
    for _ in range(steps):
      session.run(train, {inputs: images, labels: onehot})
    trainable = sum(int(np.prod(v.shape)) for v in tf.trainable_variables())
    return tf.train.Saver().save(session, prefix,
                                 write_meta_graph=False), trainable


@pytest.fixture(scope='module')
def trained(module_dir):
  """(training checkpoint of ResNet-18, its trainable elements, images)."""
  images, onehot = _batch()
  prefix = str(module_dir('trained') / 'full.ckpt')
  return _training_checkpoint(prefix, images, onehot) + (images,)


def test_inference_only_checkpoint(trained, tmp_path):
  full, trainable, images = trained
  small = write_inference_checkpoint(full, str(tmp_path / 'small.ckpt'))

  stored = checkpoints.read_variables(full)
  kept = checkpoints.read_variables(small)
  assert set(kept) == {n for n in stored
                       if not checkpoints.is_training_state(n)}
  # Adam's two slots per trainable element, its two scalar powers and the
  # int64 step are what the inference checkpoint leaves out.
  dropped = FLOAT_BYTES * (2 * trainable + 2) + STEP_BYTES
  assert _data_bytes(full) - _data_bytes(small) == dropped
  assert 2.9 < _data_bytes(full) / _data_bytes(small) < 3.1

  expected = _inference_logits(full, images)
  np.testing.assert_array_equal(_inference_logits(small, images), expected)

  # A classifier loads it for inference: its optimizer starts fresh.
  reader = _resnet18(tmp_path, 'reader')
  report = reader.load_weights(small)
  assert report.restored == sorted(kept) and report.missing == []
  probabilities = reader.predict_proba(images)
  reader.close()
  softmax = np.exp(expected - expected.max(1, keepdims=True))
  np.testing.assert_allclose(probabilities,
                             softmax / softmax.sum(1, keepdims=True),
                             rtol=1e-5, atol=1e-6)


# Exercise 2: a 10-class resnet_v2_50 started from a 1001-class checkpoint.


@pytest.fixture(scope='module')
def imagenet_v2(module_dir):
  """A 1001-class resnet_v2_50 checkpoint of random values, none of which a
  fresh graph's initialisers could produce by chance."""
  variables = checkpoints.model_variables(
      'resnet_v2_50', num_classes=IMAGENET_WITH_BACKGROUND)
  rng = np.random.RandomState(0)
  arrays = {name: rng.standard_normal(v.shape).astype(np.float32)
            for name, v in variables.items()}
  prefix = convert.write_checkpoint(
      arrays, str(module_dir('imagenet') / 'resnet_v2_50.ckpt'))
  return prefix, arrays


def test_fine_tuning_start_from_1001_classes(imagenet_v2, tmp_path):
  prefix, arrays = imagenet_v2
  net = classifier.build('resnet_v2_50', height=32, width=32, channel=3,
                         num_classes=TASK_CLASSES,
                         model_path=str(tmp_path / 'model'),
                         summary_path=str(tmp_path / 'summary'),
                         verbose=False)
  with net.graph.as_default(), tf.Session() as session:
    session.run(net.trainer.init_op)
    report = finetune.restore(session, prefix, tf.global_variables())
    variables = tf.global_variables()
    values = dict(zip([v.op.name for v in variables],
                      session.run(variables)))
  net.close()

  # Which values came from the file: an oracle by value, not by report.
  from_file = {name for name, value in values.items()
               if name in arrays and value.shape == arrays[name].shape and
               np.array_equal(value, arrays[name])}
  assert sorted(from_file) == report.restored
  others = set(values) - from_file
  head = {'resnet_v2_50/logits/weights', 'resnet_v2_50/logits/biases'}
  assert head <= others and set(report.excluded) == head
  # The head is new: 10 classes where the file has 1001.
  assert values['resnet_v2_50/logits/weights'].shape == (1, 1, 2048,
                                                         TASK_CLASSES)
  assert arrays['resnet_v2_50/logits/weights'].shape[-1] == 1001
  # Everything else not from the file is training state, not in the file
  # at all, at its initial value: Adam's slots at zero, its powers at
  # beta1 and beta2, the step at 0.
  state = others - head
  assert state and all(checkpoints.is_training_state(n) for n in state)
  assert not state & set(arrays)
  slots = [n for n in state if checkpoints.optimizer_of(n) and '/' in n]
  assert all(not values[n].any() for n in slots)
  assert values['beta1_power'] == pytest.approx(0.9)
  assert values['beta2_power'] == pytest.approx(0.999)
  assert values['global_step'] == 0
  # Every network variable outside the head came from the file.
  network = {n for n in values if not checkpoints.is_training_state(n)}
  assert from_file == network - head


# Exercise 3: which network wrote a checkpoint, from the file alone.

_SLIM_UNIT = re.compile(r'^(\w+)/block(\d)/unit_(\d+)/bottleneck_v([12])/')
_CLASSIC_CONV = re.compile(r'^stack_(\d)_block_(\d+)_conv_(\d)/kernel$')
# A slim bottleneck unit holds 3 convolutions; add conv1 and the logits.
SLIM_CONVS_PER_UNIT = 3


def identify(prefix):
  """(family, depth, classes) of a checkpoint from its names and shapes.

  Depth counts the weighted layers: the stem's convolution, those of every
  unit or block, and the classification layer.
  """
  shapes = dict(tf.train.list_variables(prefix))
  units = collections.defaultdict(set)
  for name in shapes:
    match = _SLIM_UNIT.match(name)
    if match:
      scope, block, unit, version = match.groups()
      units[block].add(unit)
  if units:
    count = sum(len(u) for u in units.values())
    head = shapes.get('%s/logits/biases' % scope)
    return ('slim_v' + version, SLIM_CONVS_PER_UNIT * count + 2,
            head[0] if head else None)
  blocks, convs = set(), set()
  for name in shapes:
    match = _CLASSIC_CONV.match(name)
    if match:
      blocks.add(match.group(1, 2))
      convs.add(match.group(3))
  # ResNet-34 and ResNet-50 both have (3, 4, 6, 3) blocks; a block of two
  # convolutions or three (a bottleneck) tells them apart.
  return 'resnet', len(convs) * len(blocks) + 2, shapes['dense/bias'][0]


def _network_checkpoint(path, name, **options):
  """A checkpoint of a network built by name (zeros: values do not count)."""
  variables = checkpoints.model_variables(name, channel=1, **options)
  return convert.write_checkpoint(
      {n: np.zeros(v.shape, np.float32) for n, v in variables.items()},
      str(path / ('%s-%s.ckpt' % (name, options.get('depth', '')))))


@pytest.mark.parametrize('name,options,expected', [
    ('resnet', dict(depth=34, num_classes=7), ('resnet', 34, 7)),
    ('resnet', dict(depth=50, num_classes=7), ('resnet', 50, 7)),
    ('resnet_v1_50', dict(num_classes=1000), ('slim_v1', 50, 1000)),
])
def test_identify_from_the_file(name, options, expected, tmp_path):
  prefix = _network_checkpoint(tmp_path, name, **options)
  assert identify(prefix) == expected
  found = checkpoints.recognise(checkpoints.read_variables(prefix))
  assert (found.kind, found.depth, found.num_classes) == expected


def test_identify_ignores_training_state(imagenet_v2, trained):
  prefix, _ = imagenet_v2
  assert identify(prefix) == ('slim_v2', 50, 1001)
  # A training checkpoint: Adam's slots and the step change nothing.
  training = trained[0]
  assert identify(training) == ('resnet', 18, 10)
  found = checkpoints.recognise(checkpoints.read_variables(training))
  assert found == checkpoints.Family('resnet', 18, 10, None)
