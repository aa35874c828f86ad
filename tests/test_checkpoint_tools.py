"""Checkpoint inspection and diff, and fine-tuning from another checkpoint.

Every diagnosis is tested by planting its cause: a graph built without
`resnet_arg_scope`, 1001 against 1000 classes, optimizer slots on one side,
v1 against v2, another depth, Keras weights. Sizes are checked against the
graphs' own variables and Keras' parameter count.
"""

import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import checkpoints
from resnet_v1_graph import classifier
from resnet_v1_graph import cli
from resnet_v1_graph import data
from resnet_v1_graph.nets import classic
from resnet_v1_graph.training import finetune

SIZE = 32
IMAGENET_CLASSES = 1001
TASK_CLASSES = 10


def _settings(path, num_classes):
  return dict(height=SIZE, width=SIZE, channel=3, num_classes=num_classes,
              batch_size=2, epoch=1, model_path=str(path / 'model'),
              summary_path=str(path / 'summary'), verbose=False)


@pytest.fixture(scope='module')
def imagenet(module_dir):
  """A 1001-class resnet_v2_50 checkpoint written by the trainer's graph.

  It holds Adam's slots and global_step, as every training checkpoint does.
  Returns (prefix, {name: value}, trainable names).
  """
  path = module_dir('imagenet')
  net = classifier.build('resnet_v2_50', **_settings(path, IMAGENET_CLASSES))
  with net.graph.as_default(), tf.Session() as session:
    session.run(net.trainer.init_op)
    prefix = net.trainer.saver.save(session, str(path / 'model.ckpt'))
    variables = tf.global_variables()
    values = dict(zip([v.op.name for v in variables], session.run(variables)))
    trainable = [v.op.name for v in tf.trainable_variables()]
  return prefix, values, trainable


@pytest.fixture(scope='module')
def inference_50():
  """resnet_v2_50's variables as slim builds them for inference, 1001."""
  return checkpoints.model_variables('resnet_v2_50',
                                     num_classes=IMAGENET_CLASSES)


def _codes(result):
  return [cause.code for cause in result.causes]


def test_inspect_counts_and_recognises_a_training_checkpoint(imagenet):
  prefix, values, trainable = imagenet
  inspection = checkpoints.inspect(prefix)
  assert inspection.family == checkpoints.Family(
      'slim_v2', 50, IMAGENET_CLASSES, 'resnet_v2_50')
  assert set(inspection.variables) == set(values)
  assert inspection.size == sum(v.size for v in values.values())
  assert inspection.nbytes == sum(v.nbytes for v in values.values())
  # Adam keeps two slots per trainable weight, plus beta1/beta2 powers; the
  # global step is one more element.
  slots = 2 * sum(values[n].size for n in trainable) + 2
  assert inspection.size - inspection.model_size == slots + 1
  scopes = [group.scope for group in inspection.groups]
  assert scopes == ['global_step', 'resnet_v2_50/block1',
                    'resnet_v2_50/block2', 'resnet_v2_50/block3',
                    'resnet_v2_50/block4', 'resnet_v2_50/conv1',
                    'resnet_v2_50/logits', 'resnet_v2_50/postnorm',
                    'optimizer (Adam)']
  logits = [g for g in inspection.groups if g.scope.endswith('logits')][0]
  assert logits.size == 2048 * IMAGENET_CLASSES + IMAGENET_CLASSES
  text = checkpoints.format_inspection(inspection)
  assert 'slim ResNet v2, depth 50 (scope resnet_v2_50), 1001 classes ' \
         '(class 0 is background)' in text
  assert 'resnet_v2_50/logits/weights' in text
  assert 'total: %d variables, %s elements' % (
      len(values), '{:,}'.format(inspection.size)) in text


@pytest.mark.parametrize('name,kwargs,expected', [
    ('resnet_v1_50', dict(num_classes=1000),
     ('slim_v1', 50, 1000, 'resnet_v1_50')),
    ('resnet_v2_101', dict(num_classes=None),
     ('slim_v2', 101, None, 'resnet_v2_101')),
    ('resnet', dict(depth=18, num_classes=7), ('resnet', 18, 7, None)),
    ('resnet', dict(depth=50, num_classes=7), ('resnet', 50, 7, None)),
])
def test_recognises_families_and_depths(name, kwargs, expected):
  variables = checkpoints.model_variables(name, **kwargs)
  assert checkpoints.recognise(variables) == checkpoints.Family(*expected)


@pytest.fixture(scope='module')
def legacy_keras(module_dir):
  """tf-keras ResNet50V2 weights in the legacy `.h5` format, 5 classes.

  That format (layer names stored) is what tf-keras and the published
  application weights use.
  """
  import tf_keras
  net = tf_keras.applications.ResNet50V2(
      weights=None, input_shape=(SIZE, SIZE, 3), classes=5)
  path = str(module_dir('keras') / 'resnet50v2.h5')
  net.save_weights(path)
  return net, path


@pytest.fixture(scope='module')
def keras3_weights(module_dir):
  """Keras 3 ResNet50 `.weights.h5`: layers numbered by class, 5 classes."""
  import keras
  net = keras.applications.ResNet50(weights=None,
                                    input_shape=(SIZE, SIZE, 3), classes=5)
  path = str(module_dir('keras3') / 'resnet50.weights.h5')
  net.save_weights(path)
  return net, path


@pytest.mark.parametrize('saved,kind', [('legacy_keras', 'keras_v2'),
                                        ('keras3_weights', 'keras_v1')])
def test_inspects_keras_weight_files(saved, kind, request):
  net, path = request.getfixturevalue(saved)
  inspection = checkpoints.inspect(path)
  assert inspection.family == checkpoints.Family(kind, 50, 5, None)
  assert inspection.size == net.count_params()
  assert len(inspection.variables) == len(net.weights)
  arrays = checkpoints.read_arrays(path)
  assert sorted(a.size for a in arrays.values()) == sorted(
      int(np.prod(w.shape)) for w in net.weights)


def test_identical_model_restores_without_causes(imagenet, inference_50):
  prefix, _, _ = imagenet
  # The checkpoint's extra training state is the only difference.
  result = checkpoints.diff(prefix, inference_50)
  assert result.missing == [] and result.mismatched == []
  assert result.unexpected and all(checkpoints.is_training_state(n)
                                   for n in result.unexpected)
  assert _codes(result) == ['optimizer']
  assert 'training state only in A: Adam, global_step' in \
      result.causes[0].message
  # Checkpoint against itself: nothing at all.
  same = checkpoints.diff(prefix, prefix)
  assert same[:4] == ([], [], [], [])


def test_graph_without_arg_scope(inference_50):
  bare = checkpoints.model_variables('resnet_v2_50',
                                     num_classes=IMAGENET_CLASSES,
                                     arg_scope=False)
  result = checkpoints.diff(inference_50, bare)
  assert _codes(result) == ['arg_scope']
  assert result.causes[0].message.startswith(
      'B was built without resnet_arg_scope: its convolutions have biases '
      'where A has BatchNorm')
  assert ('resnet_v2_50/block1/unit_1/bottleneck_v2/conv1/biases' in
          result.missing)
  assert ('resnet_v2_50/block1/unit_1/bottleneck_v2/conv1/BatchNorm/'
          'moving_mean' in result.unexpected)
  assert _codes(checkpoints.diff(bare, inference_50)) == ['arg_scope']
  assert checkpoints.diff(bare, inference_50).causes[0].message.startswith(
      'A was built without')


def test_1001_against_1000_classes(imagenet):
  prefix, _, _ = imagenet
  thousand = checkpoints.model_variables('resnet_v2_50', num_classes=1000)
  result = checkpoints.diff(prefix, thousand)
  assert {m[0]: m[1:] for m in result.mismatched} == {
      'resnet_v2_50/logits/weights': ([1, 1, 2048, 1001], [1, 1, 2048, 1000]),
      'resnet_v2_50/logits/biases': ([1001], [1000])}
  assert _codes(result) == ['num_classes', 'optimizer']
  assert result.causes[0].message.startswith('1001 vs 1000 classes')
  assert 'background' in result.causes[0].message
  ten = checkpoints.model_variables('resnet_v2_50', num_classes=10)
  other = checkpoints.diff(prefix, ten).causes[0]
  assert other.code == 'num_classes'
  assert 'A has 1001, B has 10' in other.message


def test_optimizer_slots_on_one_side(imagenet, inference_50, tmp_path):
  # A slim network trained with Momentum, restored into an Adam graph.
  import resnet_v2_slim
  import tf_slim
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, SIZE, SIZE, 3])
    with tf_slim.arg_scope(resnet_v2_slim.resnet_arg_scope()):
      logits, _ = resnet_v2_slim.resnet_v2.resnet_v2_50(
          images, IMAGENET_CLASSES, is_training=False)
    tf.train.MomentumOptimizer(0.1, 0.9).minimize(tf.reduce_sum(logits))
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      momentum = tf.train.Saver().save(session, str(tmp_path / 'm.ckpt'))
  result = checkpoints.diff(momentum, inference_50)
  assert result.missing == [] and result.mismatched == []
  assert _codes(result) == ['optimizer']
  assert result.causes[0].message.startswith(
      'training state only in A: Momentum. Harmless')
  both = checkpoints.diff(momentum, imagenet[0])  # Trained with Adam.
  assert _codes(both) == ['optimizer', 'optimizer']
  assert 'only in A: Momentum.' in both.causes[0].message
  assert 'only in B: Adam, global_step.' in both.causes[1].message


@pytest.mark.parametrize('name,code,words', [
    ('resnet_v1_50', 'version',
     'A is slim ResNet v2 but B is slim ResNet v1: v1 and v2'),
    ('resnet_v2_101', 'depth', 'A is depth 50 but B is depth 101'),
])
def test_other_version_or_depth(name, code, words, inference_50):
  other = checkpoints.model_variables(name, num_classes=IMAGENET_CLASSES)
  result = checkpoints.diff(inference_50, other)
  assert _codes(result) == [code]
  assert words in result.causes[0].message


def test_keras_weights_against_a_graph(inference_50, legacy_keras):
  net, path = legacy_keras
  result = checkpoints.diff(path, inference_50)
  assert _codes(result) == ['keras']
  assert 'resnet-tf1 convert' in result.causes[0].message
  assert len(result.unexpected) == len(result.missing) == len(net.weights)


def test_checkpoint_command(imagenet, capsys):
  prefix, values, _ = imagenet
  assert cli.main(['checkpoint', 'inspect', prefix, '--summary']) == 0
  out = capsys.readouterr().out
  assert 'family: slim ResNet v2, depth 50' in out
  assert 'resnet_v2_50/block3' in out
  assert 'resnet_v2_50/block3/unit_1' not in out  # --summary: groups only.
  assert 'total: %d variables' % len(values) in out
  assert cli.main(['checkpoint', 'diff', prefix, '--model', 'resnet_v2_50',
                   '--num-classes', '1000']) == 1
  out = capsys.readouterr().out
  assert 'shape mismatches: 2' in out
  assert '[num_classes] 1001 vs 1000 classes' in out
  assert cli.main(['checkpoint', 'diff', prefix, prefix]) == 0
  assert 'identical names and shapes' in capsys.readouterr().out
  assert cli.main(['checkpoint', 'inspect', prefix + '-nothing']) == 2
  assert 'no readable checkpoint' in capsys.readouterr().err


@pytest.fixture(scope='module')
def task_model(module_dir):
  """A 10-class resnet_v2_50 to fine-tune, with its own model_path."""
  path = module_dir('task')
  net = classifier.build('resnet_v2_50', **_settings(path, TASK_CLASSES))
  yield path, net
  net.close()


def test_fine_tune_restores_the_backbone_and_trains(imagenet, task_model):
  prefix, values, _ = imagenet
  tmp_path, net = task_model
  report = finetune.initialize_from(net, prefix)
  variables = net.graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)
  backbone = sorted(v.op.name for v in variables
                    if not checkpoints.is_training_state(v.op.name) and
                    '/logits/' not in v.op.name)
  assert report.restored == backbone
  assert report.excluded == ['resnet_v2_50/logits/biases',
                             'resnet_v2_50/logits/weights']
  assert report.mismatched == [] and report.missing == []
  assert 'global_step' in report.training_state
  assert report.unused == []  # Same names; the head's shapes differ.

  # The step-0 checkpoint fit starts from holds the checkpoint's backbone.
  start = tf.train.latest_checkpoint(str(tmp_path / 'model'))
  assert start.endswith('model.ckpt-0')
  reader = tf.train.load_checkpoint(start)
  for name in backbone:
    np.testing.assert_array_equal(reader.get_tensor(name), values[name])
  head = reader.get_tensor('resnet_v2_50/logits/weights')
  assert head.shape == (1, 1, 2048, TASK_CLASSES)

  rng = np.random.RandomState(0)
  split = data.ArraySplit(rng.uniform(0, 1, (4, SIZE, SIZE, 3)),
                          np.array([0, 1, 2, 3]), scale=1.)
  history = net.fit(split)
  assert np.isfinite(history['train_loss'][0])
  assert history['step'] == [2]
  # A second call finds the run's checkpoints and leaves them alone.
  assert finetune.initialize_from(net, prefix) is None


def test_fine_tune_reports_mismatches_and_refuses_nothing(imagenet,
                                                         task_model):
  prefix, _, _ = imagenet
  _, net = task_model
  variables = net.graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)
  report, _ = finetune.plan(prefix, variables, exclude=())
  assert report.excluded == []
  assert [m[0] for m in report.mismatched] == [
      'resnet_v2_50/logits/biases', 'resnet_v2_50/logits/weights']
  assert 'shape differs (left as initialised): 2' in \
      finetune.format_report(report)
  with net.graph.as_default(), tf.Session() as session:
    session.run(net.trainer.init_op)
    with pytest.raises(checkpoints.CheckpointMismatchError,
                       match='(?s)nothing in .* fits this model.*'
                             'likely causes'):
      finetune.restore(session, prefix, variables, exclude=['resnet_v2_50'])


def _write_folder(root, rng, per_class=4):
  for label in ('a', 'b'):
    os.makedirs(root / label)
    for i in range(per_class):
      image = rng.randint(0, 255, (SIZE, SIZE, 3)).astype(np.uint8)
      (root / label / ('%d.png' % i)).write_bytes(
          tf.io.encode_png(image).numpy())


def _classic_network_checkpoint(path):
  """A network-only checkpoint of the classic ResNet-18 (head `dense`, 5
  classes), as published checkpoints are."""
  with tf.Graph().as_default(), tf.Session() as session:
    classic.resnet_logits(tf.placeholder(tf.float32, [1, SIZE, SIZE, 3]),
                          False, 18, 5)
    session.run(tf.global_variables_initializer())
    return tf.train.Saver().save(session, str(path / 'src.ckpt'))


def test_train_command_init_from(tmp_path, capsys):
  # The classic ResNet-18 keeps this end-to-end run short.
  prefix = _classic_network_checkpoint(tmp_path)
  _write_folder(tmp_path / 'photos', np.random.RandomState(1))
  command = ['train', '--depth', '18', '--dataset', 'folder',
             '--data-path', str(tmp_path / 'photos'), '--image-size',
             str(SIZE), '--batch-size', '2', '--epoch', '1',
             '--model-path', str(tmp_path / 'model'),
             '--summary-path', str(tmp_path / 'summary'),
             '--init-from', prefix, '--exclude', 'dense']
  assert cli.main(command) == 0
  out = capsys.readouterr().out
  assert 'initialised from %s:' % prefix in out
  # Every model variable of ResNet-18 (122) but dense/{kernel,bias}.
  assert '  restored: 120 (' in out
  assert 'excluded (left as initialised): 2 (dense/bias, dense/kernel)' in out
  assert 'test accuracy:' in out
  assert os.path.exists(tmp_path / 'model' / 'model.ckpt-0.index')


def _train_settings(*flags):
  args = cli.build_parser().parse_args(['train'] + list(flags))
  source = data.load_digits(image_size=8)
  base = cli._settings(args, source, None)
  return cli._train_settings(args, base, source)


def test_init_from_a_slim_checkpoint_defaults_to_its_preprocessing(
    imagenet, tmp_path, capsys):
  prefix = imagenet[0]
  # slim's resnet_v2 weights expect inception inputs ([-1, 1]); the
  # default is said aloud.
  assert finetune.expected_preprocessing(prefix)[1] == 'inception'
  assert _train_settings('--init-from', prefix).preprocessing_name == (
      'inception')
  out = capsys.readouterr().out
  assert 'preprocessing: inception, as the --init-from weights (slim ResNet ' \
         'v2, depth 50 (scope resnet_v2_50), 1001 classes' in out
  # A flag, a config file or a recipe that names one wins, silently.
  assert _train_settings('--init-from', prefix, '--preprocessing-name',
                         'none').preprocessing_name == 'none'
  config_file = tmp_path / 'run.json'
  config_file.write_text('{"preprocessing_name": "vgg"}')
  assert _train_settings('--init-from', prefix, '--config',
                         str(config_file)).preprocessing_name == 'vgg'
  assert _train_settings('--init-from', prefix, '--recipe', 'he2015-cifar10',
                         '--model', 'cifar_resnet20').preprocessing_name == (
                             'cifar')
  assert 'preprocessing:' not in capsys.readouterr().out


def test_init_from_a_run_of_ours_keeps_the_unit_range(tmp_path, capsys):
  prefix = _classic_network_checkpoint(tmp_path)
  assert finetune.expected_preprocessing(prefix) is None
  assert _train_settings('--init-from', prefix).preprocessing_name == 'none'
  assert 'preprocessing:' not in capsys.readouterr().out
  with pytest.raises(FileNotFoundError):
    finetune.expected_preprocessing(str(tmp_path / 'absent.ckpt'))
