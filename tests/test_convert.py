"""Keras applications weights <-> checkpoints, and preprocessing by family.

The oracle is Keras itself (Keras 3, `import keras`; tf-keras for the legacy
`.h5` format): applications built with `weights=None` and a fixed seed, their
batch-norm statistics moved off the initial values, saved in the real file
formats, converted, and run on the same images. Converted graphs must give
Keras' logits within 1e-4 with the Keras options on; without them the gap is
measured and must be far larger. Run with `-s` to see the measured gaps.
"""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim

import resnet_v2_slim
from resnet_v1_graph import checkpoints
from resnet_v1_graph import classifier
from resnet_v1_graph import cli
from resnet_v1_graph import preprocessing
from resnet_v1_graph.checkpoints import convert
from resnet_v1_graph.nets import classic

SIZE = 64  # Even, where 'SAME' and Keras' zero padding differ.
SEED = 0
TOLERANCE = 1e-4
# Without the Keras options the outputs must differ by far more than with.
GAP_RATIO = 100


@pytest.fixture(scope='module')
def keras():
  import keras as keras3
  return keras3


def _moved(name, shape, rng):
  """A batch-norm statistic or affine term off its initial value, or None."""
  if name.endswith(('moving_mean', 'beta')):
    return rng.normal(0, 0.2, shape).astype(np.float32)
  if name.endswith('moving_variance'):
    return rng.uniform(0.5, 2.0, shape).astype(np.float32)
  if name.endswith('gamma'):
    return rng.uniform(0.2, 0.6, shape).astype(np.float32)
  return None


def _move_keras_statistics(net, rng):
  for weight in net.weights:
    value = _moved(weight.path, weight.shape, rng)
    if value is not None:
      weight.assign(value)


@pytest.fixture(scope='module')
def images():
  return np.random.RandomState(SEED).uniform(
      -1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)


def _keras_model(keras, application, classes=1000):
  keras.utils.set_random_seed(SEED)
  net = getattr(keras.applications, application)(
      weights=None, input_shape=(SIZE, SIZE, 3), classes=classes,
      classifier_activation=None)
  _move_keras_statistics(net, np.random.RandomState(SEED))
  return net


def _slim_logits(checkpoint, images, num_classes, keras_padding,
                 keras_epsilon=None):
  """resnet_v2_50's logits from `checkpoint`, with or without the options.

  `keras_epsilon` defaults to `keras_padding`: both options or neither.
  """
  options = convert.keras_graph_options('resnet_v2_50')
  if keras_epsilon is None:
    keras_epsilon = keras_padding
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.placeholder(tf.float32, images.shape)
    scope = resnet_v2_slim.resnet_arg_scope(
        **({'batch_norm_epsilon': options['batch_norm_epsilon']}
           if keras_epsilon else {}))
    with tf_slim.arg_scope(scope):
      logits, _ = resnet_v2_slim.resnet_v2.resnet_v2_50(
          inputs, num_classes, is_training=False, keras_padding=keras_padding)
    with tf.Session() as session:
      tf.train.Saver().restore(session, checkpoint)
      return session.run(logits, {inputs: images})


def _classic_logits(checkpoint, images, num_classes, keras_options):
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.placeholder(tf.float32, images.shape)
    logits = classic.resnet_logits(inputs, False, 50, num_classes,
                                   keras_compatible=keras_options)
    with tf.Session() as session:
      tf.train.Saver().restore(session, checkpoint)
      return session.run(logits, {inputs: images})


def _report(what, gap, scale):
  print('\n%s: max |ours - keras| = %.3g (logits up to %.3g)' %
        (what, gap, scale))


@pytest.fixture(scope='module')
def v2(keras, images, module_dir):
  """Keras ResNet50V2 weights converted to a 1001-class slim checkpoint."""
  path = module_dir('v2')
  net = _keras_model(keras, 'ResNet50V2')
  weights = str(path / 'resnet50v2.weights.h5')
  net.save_weights(weights)
  prefix = str(path / 'converted' / 'resnet_v2_50.ckpt')
  assert cli.main(['convert', weights, prefix, '--model', 'resnet_v2_50',
                   '--num-classes', '1001']) == 0
  return net, net.predict(images, verbose=0), weights, prefix


def test_v2_arrays_map_one_to_one(v2):
  net, _, _, prefix = v2
  pairs = convert.weight_pairs('resnet_v2_50')
  assert len(pairs) == len(net.weights) == 272
  assert {p.keras for p in pairs} == {w.path for w in net.weights}
  slim_names = checkpoints.model_variables('resnet_v2_50', num_classes=1001)
  assert {p.ours for p in pairs} == set(slim_names)
  stored = checkpoints.read_arrays(prefix)
  assert set(stored) == set(slim_names)
  keras_values = {w.path: w.numpy() for w in net.weights}
  for pair in pairs:
    if checkpoints.is_head(pair.ours):
      continue
    np.testing.assert_array_equal(stored[pair.ours], keras_values[pair.keras])
  # The background class 0 is new; classes 1..1000 are Keras' 0..999.
  weights = stored['resnet_v2_50/logits/weights']
  assert weights.shape == (1, 1, 2048, 1001)
  np.testing.assert_array_equal(weights[0, 0, :, 1:],
                                keras_values['predictions/kernel'])
  np.testing.assert_array_equal(weights[..., 0], 0)


def test_v2_converted_graph_reproduces_keras(v2, images):
  _, expected, _, prefix = v2
  gaps = {}
  for padding, epsilon in ((True, True), (True, False), (False, False)):
    logits = _slim_logits(prefix, images, 1001, padding, epsilon)
    np.testing.assert_array_equal(logits[:, 0], convert.BACKGROUND_BIAS)
    gaps[padding, epsilon] = np.abs(logits[:, 1:] - expected).max()
    _report('ResNet50V2 -> resnet_v2_50, keras_padding %s, epsilon %s' %
            (padding, '1.001e-5' if epsilon else '1e-5'),
            gaps[padding, epsilon], np.abs(expected).max())
  assert gaps[True, True] < TOLERANCE
  # Slim's pool1 pads SAME: windows one pixel off, -inf instead of zeros.
  assert gaps[False, False] > GAP_RATIO * gaps[True, True]


def test_v2_legacy_h5_converts_the_same(v2, tmp_path):
  import tf_keras
  net, _, _, prefix = v2
  legacy = tf_keras.applications.ResNet50V2(
      weights=None, input_shape=(SIZE, SIZE, 3))
  legacy.set_weights([w.numpy() for w in net.weights])
  path = str(tmp_path / 'resnet50v2_weights_tf_dim_ordering_tf_kernels.h5')
  legacy.save_weights(path)
  again = convert.keras_to_checkpoint(path, str(tmp_path / 'again.ckpt'),
                                      'resnet_v2_50', num_classes=1001)
  first, second = checkpoints.read_arrays(prefix), checkpoints.read_arrays(
      again)
  assert set(first) == set(second)
  for name in first:
    np.testing.assert_array_equal(first[name], second[name])


def test_v2_round_trip_and_reverse(keras, v2, images, tmp_path):
  _, _, original, prefix = v2
  # Round trip: checkpoint -> Keras writes back Keras' own file, array for
  # array (both Keras 3 files name the layers alike).
  back = convert.checkpoint_to_keras(prefix, str(tmp_path / 'back.weights.h5'),
                                     'resnet_v2_50', num_classes=1000)
  first, second = checkpoints.read_arrays(original), checkpoints.read_arrays(
      back)
  assert len(first) == 272 and set(first) == set(second)
  for name in first:
    np.testing.assert_array_equal(first[name], second[name])

  # Reverse: a slim checkpoint of our own, 1001 classes, into Keras.
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.placeholder(tf.float32, images.shape)
    with tf_slim.arg_scope(resnet_v2_slim.resnet_arg_scope()):
      resnet_v2_slim.resnet_v2.resnet_v2_50(inputs, 1001, is_training=False)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      rng = np.random.RandomState(1)
      moves = [(v, _moved(v.op.name, v.shape.as_list(), rng))
               for v in tf.global_variables()]
      session.run([tf.assign(v, value) for v, value in moves
                   if value is not None])
      ours = tf.train.Saver().save(session, str(tmp_path / 'slim.ckpt'))
  expected = _slim_logits(ours, images, 1001, keras_padding=True)
  path = convert.checkpoint_to_keras(ours, str(tmp_path / 'slim.weights.h5'),
                                     'resnet_v2_50', num_classes=1000)
  reloaded = keras.applications.ResNet50V2(
      weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
  reloaded.load_weights(path)
  logits = reloaded.predict(images, verbose=0)
  assert np.abs(logits - expected[:, 1:]).max() < TOLERANCE


@pytest.fixture(scope='module')
def v1(keras, images, module_dir):
  """Keras ResNet50 weights converted to the classic class, depth 50."""
  path = module_dir('v1')
  net = _keras_model(keras, 'ResNet50')
  # Keras 3's legacy HDF5 model file, read without building Keras again.
  weights = str(path / 'resnet50.h5')
  net.save(weights)
  prefix = convert.keras_to_checkpoint(weights, str(path / 'resnet50.ckpt'),
                                       'resnet', depth=50)
  return net, net.predict(images, verbose=0), prefix


def test_v1_converted_graph_reproduces_keras(v1, images):
  net, expected, prefix = v1
  pairs = convert.weight_pairs('resnet', depth=50)
  assert {p.keras for p in pairs} == {w.path for w in net.weights}
  gaps = {}
  for keras_options in (True, False):
    logits = _classic_logits(prefix, images, 1000, keras_options)
    gaps[keras_options] = np.abs(logits - expected).max()
    _report('ResNet50 -> classic ResNet-50, keras_compatible %s' %
            ('on' if keras_options else 'off'), gaps[keras_options],
            np.abs(expected).max())
  assert gaps[True] < TOLERANCE
  # 'same' padding puts First_Conv's and the max pool's windows one pixel
  # off on even sizes, and epsilon is 1e-3 instead of 1.001e-5.
  assert gaps[False] > GAP_RATIO * gaps[True]


def test_v1_reverse(keras, v1, images, tmp_path):
  _, _, prefix = v1
  expected = _classic_logits(prefix, images, 1000, keras_options=True)
  path = convert.checkpoint_to_keras(prefix, str(tmp_path / 'r.weights.h5'),
                                     'resnet', depth=50)
  net = keras.applications.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3),
                                    classifier_activation=None)
  net.load_weights(path)
  assert np.abs(net.predict(images, verbose=0) - expected).max() < TOLERANCE


def test_keras_compatible_is_a_config_option_with_the_same_variables():
  plain = checkpoints.model_variables('resnet', depth=18, num_classes=4)
  net = classifier.build('resnet', depth=18, num_classes=4, channel=3,
                         verbose=False, keras_compatible=True)
  assert net.config.keras_compatible
  network = [v for v in net.graph.get_collection('variables')
             if not checkpoints.is_training_state(v.op.name)]
  assert checkpoints.diff(plain, network)[:4] == ([], [], [], [])
  with pytest.raises(ValueError, match='resnet_v1_50 has no Keras'):
    classifier.build('resnet_v1_50', keras_compatible=True)


def test_class_adaptation():
  rng = np.random.RandomState(0)
  kernel, bias = rng.normal(size=(8, 1000)), rng.normal(size=1000)
  wide, wide_bias = convert.adapt_classes(kernel, bias, 1001)
  assert wide.shape == (8, 1001) and wide_bias[0] == convert.BACKGROUND_BIAS
  narrow, narrow_bias = convert.adapt_classes(wide, wide_bias, 1000)
  np.testing.assert_array_equal(narrow, kernel)
  np.testing.assert_array_equal(narrow_bias, bias)
  with pytest.raises(ValueError, match='cannot turn 1000 classes into 10'):
    convert.adapt_classes(kernel, bias, 10)


def test_conversion_errors(v2, tmp_path):
  _, _, weights, prefix = v2
  with pytest.raises(ValueError, match='not the weights of Keras ResNet50$'):
    convert.keras_to_checkpoint(weights, str(tmp_path / 'x'), 'resnet',
                                depth=50)
  with pytest.raises(ValueError, match='no Keras counterpart of .resnet_v1_50'):
    convert.weight_pairs('resnet_v1_50')
  with pytest.raises(ValueError, match=r'ending in \.weights\.h5'):
    convert.checkpoint_to_keras(prefix, str(tmp_path / 'x.h5'),
                                'resnet_v2_50')


# Preprocessing: compared with Keras' own preprocess_input.

@pytest.fixture(scope='module')
def pixels():
  return np.random.RandomState(SEED).uniform(0, 255, (2, 5, 7, 3)).astype(
      np.float32)


@pytest.mark.parametrize('family,keras_module', [
    ('keras_v1', 'resnet'), ('keras_v2', 'resnet_v2'),
    ('slim_v2', 'resnet_v2'), ('resnet_v2_50', 'resnet_v2')])
def test_preprocessing_matches_keras(keras, pixels, family, keras_module):
  expected = getattr(keras.applications, keras_module).preprocess_input(
      pixels.copy())  # Keras scales float arrays in place.
  before = pixels.copy()
  np.testing.assert_allclose(preprocessing.preprocess(pixels, family),
                             expected, rtol=0, atol=1e-5)
  np.testing.assert_array_equal(pixels, before)


def test_vgg_and_unit_preprocessing_by_hand():
  pixel = np.array([[[200.0, 100.0, 50.0]]])
  np.testing.assert_allclose(preprocessing.preprocess(pixel, 'slim_v1'),
                             [[[76.32, -16.78, -53.94]]], atol=1e-4)
  np.testing.assert_allclose(preprocessing.preprocess(pixel, 'keras_v1'),
                             [[[50 - 103.939, 100 - 116.779, 200 - 123.68]]],
                             atol=1e-4)
  np.testing.assert_allclose(preprocessing.preprocess(pixel, 'slim_v2'),
                             [[[200 / 127.5 - 1, 100 / 127.5 - 1,
                                50 / 127.5 - 1]]], atol=1e-6)
  np.testing.assert_allclose(preprocessing.preprocess(pixel, 'resnet'),
                             pixel / 255.0)
  assert preprocessing.for_family('resnet_v1_101').image_size == 224
  assert preprocessing.for_family('slim_v2').image_size == 299


def test_preprocessing_in_a_graph_and_errors(pixels):
  graph = tf.Graph()
  with graph.as_default(), tf.Session() as session:
    inputs = tf.placeholder(tf.uint8, [None, 5, 7, 3])
    outputs = preprocessing.preprocess(inputs, 'keras_v1')
    value = session.run(outputs, {inputs: pixels.astype(np.uint8)})
  np.testing.assert_allclose(
      value, preprocessing.preprocess(pixels.astype(np.uint8), 'keras_v1'),
      atol=1e-4)
  with pytest.raises(ValueError, match='choose one of keras_v1'):
    preprocessing.for_family('vgg_16')
  with pytest.raises(ValueError, match='RGB'):
    preprocessing.preprocess(np.zeros((1, 4, 4, 1)), 'slim_v2')


def test_label_offset_of_1001_classes():
  family = checkpoints.Family('slim_v2', 50, 1001, 'resnet_v2_50')
  assert preprocessing.label_offset(family.num_classes) == 1
  np.testing.assert_array_equal(
      preprocessing.to_dataset_labels([0, 1, 1000], 1001), [-1, 0, 999])
  np.testing.assert_array_equal(
      preprocessing.to_model_labels([0, 999], 1001), [1, 1000])
  np.testing.assert_array_equal(
      preprocessing.to_dataset_labels([0, 999], 1000), [0, 999])
