"""Towers: one batch split over two logical CPUs, checked against one device.

The oracle is the one-tower graph run on each half of the batch with the
same weights: with towers, batch norm takes its statistics per tower (as
slim's `model_deploy` did), so the towers' gradient is the mean of the
halves' gradients, and the moving averages follow the first half only.
"""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import classifier
from resnet_v1_graph import config as config_lib
from resnet_v1_graph import data
from resnet_v1_graph import model as model_lib
from resnet_v1_graph.training import session as session_lib

SIZE = 8
BATCH = 16  # per tower


@pytest.fixture(scope='module')
def batch():
  digits = data.load_digits(image_size=SIZE)
  images, labels = digits.train.arrays()
  return images[:2 * BATCH], labels[:2 * BATCH]


def _config(tmp_path, **changes):
  return config_lib.DEFAULTS.replace(
      model='cifar_resnet20', height=SIZE, width=SIZE, channel=1,
      batch_size=BATCH, weight_decay=1e-4, model_path=str(tmp_path / 'm'),
      summary_path=str(tmp_path / 's'), verbose=False, **changes)


def _initial_weights(model, path):
  """Saves the model's initial trainable variables; returns the prefix."""
  with model.graph.as_default():
    saver = tf.train.Saver(tf.trainable_variables())
    session = session_lib.open_session(model.graph, model.config)
    session.run(tf.global_variables_initializer())
    prefix = saver.save(session, str(path / 'initial'))
    session.close()
  return prefix


def _session(model, weights):
  """A session on `model` with the trainable variables of `weights`."""
  with model.graph.as_default():
    saver = tf.train.Saver(tf.trainable_variables())
    session = session_lib.open_session(model.graph, model.config)
    session.run(tf.global_variables_initializer())
    saver.restore(session, weights)
  return session


def _run(model, weights, fetch, images, labels):
  """Runs `fetch` once in training mode from the checkpoint `weights`.

  The batch comes through the model's pipeline handle, as in training.
  """
  with model.graph.as_default():
    iterator = tf.data.make_initializable_iterator(
        tf.data.Dataset.from_tensor_slices((images, labels)).batch(
            len(images)))
    handle = iterator.string_handle()
    session = _session(model, weights)
    session.run(iterator.initializer)
    values = session.run(fetch, {model.dataset_handle: session.run(handle),
                                 model.is_training: True})
    moving = {v.op.name: session.run(v) for v in tf.global_variables()
              if 'moving_mean' in v.op.name}
    session.close()
  return values, moving


def test_two_towers_average_the_halves(tmp_path, batch):
  images, labels = batch
  one = model_lib.GraphModel(_config(tmp_path))
  two = model_lib.GraphModel(_config(tmp_path, num_clones=2))
  assert two.tower_devices == ['/device:CPU:0', '/device:CPU:1']
  with one.graph.as_default():
    names = [v.op.name for v in tf.global_variables()]
  with two.graph.as_default():
    # The towers share one set of variables, under the one-tower names.
    assert [v.op.name for v in tf.global_variables()] == names
    devices = {op.device for op in two.graph.get_operations()
               if op.type == 'Conv2D'}
  assert devices == {'/device:CPU:0', '/device:CPU:1'}
  # Random but shared weights: the one-tower model's initial values.
  weights = _initial_weights(one, tmp_path)

  def grads(model):
    return [g for g, _ in model.gradients if g is not None]

  halves = [_run(one, weights, [one.loss] + grads(one),
                 images[i * BATCH:(i + 1) * BATCH],
                 labels[i * BATCH:(i + 1) * BATCH]) for i in range(2)]
  (together, moving_two) = _run(two, weights,
                                [two.loss, two.optimize] + grads(two),
                                images, labels)
  # The loss holds the weight decay once, so it is the halves' mean.
  np.testing.assert_allclose(together[0],
                             (halves[0][0][0] + halves[1][0][0]) / 2,
                             rtol=1e-5)
  tower_grads = together[2:]
  assert len(tower_grads) == len(halves[0][0]) - 1
  for i, grad in enumerate(tower_grads):
    expected = (halves[0][0][i + 1] + halves[1][0][i + 1]) / 2
    np.testing.assert_allclose(grad, expected, rtol=1e-4,
                               atol=1e-6 * np.abs(expected).max())
  # Batch norm's moving averages follow the first tower's half only.
  moving_first = _run(one, weights, [one.optimize], images[:BATCH],
                      labels[:BATCH])[1]
  moving_second = _run(one, weights, [one.optimize], images[BATCH:],
                       labels[BATCH:])[1]
  assert moving_two.keys() == moving_first.keys()
  for name, value in moving_two.items():
    np.testing.assert_allclose(value, moving_first[name], rtol=1e-5,
                               atol=1e-7)
  assert any(not np.allclose(moving_first[n], moving_second[n])
             for n in moving_first)


def test_inference_runs_every_batch_size_through_towers(tmp_path, batch):
  """Predicting splits any batch, even of one image, across the towers."""
  images, _ = batch
  one = model_lib.GraphModel(_config(tmp_path))
  two = model_lib.GraphModel(_config(tmp_path, num_clones=2))
  weights = _initial_weights(one, tmp_path)
  session = _session(one, weights)
  expected = session.run(one.logits, {one.input_x: images[:3]})
  session.close()
  with two.graph.as_default():
    session = _session(two, weights)
    for count in (1, 3):
      np.testing.assert_allclose(
          session.run(two.logits, {two.input_x: images[:count]}),
          expected[:count], rtol=1e-5, atol=1e-6)
    session.close()


def test_fit_with_two_towers_and_too_small_a_split(tmp_path):
  digits = data.load_digits(image_size=SIZE)
  model = classifier.Classifier(_config(tmp_path, num_clones=2, epoch=1))
  history = model.fit(digits.train, digits.validation)
  # A step takes two towers' batches; the short last batch is left out.
  assert history['step'] == [digits.train.num_examples // (2 * BATCH)]
  images, labels = digits.train.arrays()
  small = data.splits.ArraySplit(images[:BATCH], labels[:BATCH], scale=1.0)
  with pytest.raises(ValueError, match='fewer than one step of 2 towers'):
    classifier.Classifier(_config(tmp_path / 'small', num_clones=2)).fit(
        small)
  model.close()
