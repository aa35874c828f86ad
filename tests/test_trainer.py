"""The run loop: learning, checkpoints, resume, summaries, bad input."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import checkpoints
from resnet_v1_graph import config
from resnet_v1_graph import data
from resnet_v1_graph import model
from resnet_v1_graph import ResNet
from resnet_v1_graph.training import session

SIZE = 16


@pytest.fixture(scope='module')
def digits():
  return data.load_digits(image_size=SIZE)


def _model(path, **kwargs):
  settings = dict(depth=18, height=SIZE, width=SIZE, channel=1,
                  num_classes=10, batch_size=32, epoch=2,
                  batch_norm_momentum=0.9, learning_decay_steps=1000,
                  model_path=str(path / 'model'),
                  summary_path=str(path / 'summary'), verbose=False)
  settings.update(kwargs)
  return ResNet(**settings)


def _moving_statistics(model):
  with model.graph.as_default():
    names = [v for v in tf.global_variables()
             if v.op.name.endswith(('moving_mean', 'moving_variance'))]
    return dict(zip([v.op.name for v in names],
                    model.trainer.session.run(names)))


def _value(model, name):
  variable, = [v for v in model.graph.get_collection('variables')
               if v.op.name == name]
  return model.trainer.session.run(variable)


@pytest.fixture(scope='module')
def trained(digits, module_dir):
  """One short run shared by the tests that only read its results."""
  path = module_dir('trained')
  model = _model(path, epoch=3)
  history = model.fit(digits.train, digits.validation)
  return path, model, history


def test_learning_happens(trained, digits):
  _, model, history = trained
  assert history['train_loss'][-1] < 0.5 * history['train_loss'][0]
  statistics = _moving_statistics(model)
  # Initial values are 0 and 1; every one moved.
  for name, value in statistics.items():
    initial = 0.0 if name.endswith('mean') else 1.0
    assert not np.allclose(value, initial), name
  accuracy = model.evaluate(digits.test)['accuracy']
  assert accuracy > 0.5  # Chance is 0.1.
  assert history['val_accuracy'][-1] > 0.5


def test_best_and_latest_checkpoints_and_fresh_predict(trained, digits):
  path, model, history = trained
  latest = tf.train.latest_checkpoint(str(path / 'model'))
  best = tf.train.latest_checkpoint(str(path / 'model' / 'best'))
  steps_per_epoch = -(-digits.train.num_examples // 32)
  assert latest.endswith('model.ckpt-%d' % (3 * steps_per_epoch))
  best_epoch = int(np.argmax(history['val_accuracy']))
  assert best.endswith('model.ckpt-%d' % history['step'][best_epoch])
  record = json.load(open(path / 'model' / 'best' / 'best.json'))
  assert record['accuracy'] == pytest.approx(max(history['val_accuracy']))

  images, _ = digits.test.arrays()
  expected = model.predict(images)
  model.restore(best)
  expected = model.predict(images)
  fresh = _model(path, epoch=3)  # A new graph and session: restores best.
  labels = fresh.predict(images)
  assert labels.shape == (len(images),) and labels.dtype == np.int64
  np.testing.assert_array_equal(labels, expected)
  probabilities = fresh.predict_proba(images[:5])
  np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)
  np.testing.assert_array_equal(probabilities.argmax(1), expected[:5])
  assert fresh.predict(images[0]).shape == (1,)


def test_an_fp32_checkpoint_serves_in_bf16(trained, digits):
  """`precision='bf16'` (`predict --precision bf16`) on a run trained in
  fp32 restores the same fp32 variables and runs the rewritten graph: the
  probabilities move by bfloat16's rounding (8 significant bits), not by
  more, and the labels follow fp32's wherever fp32 is not near a tie."""
  path, _, _ = trained
  images, _ = digits.test.arrays()
  fp32 = _model(path, epoch=3).predict_proba(images)
  served = _model(path, epoch=3, precision='bf16')
  bf16 = served.predict_proba(images)
  served.close()
  # Equal arrays would mean the rewrite never ran.
  assert not np.array_equal(bf16, fp32)
  np.testing.assert_allclose(bf16, fp32, atol=0.05)
  clear = np.sort(fp32, axis=1)[:, -1] - np.sort(fp32, axis=1)[:, -2] > 0.1
  assert clear.mean() > 0.5
  np.testing.assert_array_equal(bf16.argmax(1)[clear], fp32.argmax(1)[clear])


def test_summaries_and_curves(trained):
  path, _, history = trained
  tags = {}
  for name in ('train', 'validation'):
    events = glob.glob(str(path / 'summary' / name / 'events.*'))
    assert events, name
    tags[name] = {value.tag for event in tf.train.summary_iterator(events[0])
                  for value in event.summary.value}
  assert {'loss', 'accuracy', 'learning_rate'} <= tags['train']
  assert {'loss', 'accuracy'} <= tags['validation']
  with open(path / 'summary' / 'curves.png', 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  saved = json.load(open(path / 'summary' / 'history.json'))
  assert saved['epoch'] == [1, 2, 3] == history['epoch']


def _tiny_split(n, seed=0, label=None):
  rng = np.random.RandomState(seed)
  images = rng.uniform(0, 1, (n, SIZE, SIZE, 1)).astype(np.float32)
  labels = rng.randint(0, 10, n) if label is None else np.full(n, label)
  return data.ArraySplit(images, labels, scale=1.)


def test_learning_rate_decays_at_the_right_step(tmp_path):
  # 40 examples / batch 8 = 5 steps per epoch; decay by half every 3 steps.
  model = _model(tmp_path, batch_size=8, learning_rate=0.01,
                 learning_decay_rate=0.5, learning_decay_steps=3, epoch=2)
  history = model.fit(_tiny_split(40))
  assert history['step'] == [5, 10]
  assert history['learning_rate'] == pytest.approx(
      [0.01 * 0.5 ** (5 // 3), 0.01 * 0.5 ** (10 // 3)])


def test_resume_continues_global_step(tmp_path):
  split = _tiny_split(40)
  first = _model(tmp_path, batch_size=8, epoch=1)
  first.fit(split)
  weights = _value(first, 'dense/kernel')
  first.close()
  resumed = _model(tmp_path, batch_size=8, epoch=3)
  history = resumed.fit(split)
  assert history['epoch'] == [1, 2, 3]
  assert history['step'] == [5, 10, 15]
  assert resumed.trainer.session.run(resumed.global_step) == 15
  # It continued from the saved weights rather than starting again.
  assert len(glob.glob(str(tmp_path / 'model' / 'model.ckpt-5.index'))) == 1
  assert not np.allclose(weights, _value(resumed, 'dense/kernel'))
  resumed.close()
  # Resumed from a checkpoint older than the history's last row (as a
  # cluster's chief may be), the later epochs are trained and written
  # again, not twice.
  model_path = str(tmp_path / 'model')
  for name in glob.glob(os.path.join(model_path, 'model.ckpt-15.*')):
    os.remove(name)
  again = _model(tmp_path, batch_size=8, epoch=3)
  history = again.fit(split)
  assert history['epoch'] == [1, 2, 3]
  assert history['step'] == [5, 10, 15]
  written = json.load(open(str(tmp_path / 'summary' / 'history.json')))
  assert written['epoch'] == [1, 2, 3]
  again.close()


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  model = _model(tmp_path, batch_size=8, epoch=1)
  model.fit(_tiny_split(16))
  latest = tf.train.latest_checkpoint(str(tmp_path / 'model'))
  files = sorted(os.listdir(tmp_path / 'model'))
  images, labels = _tiny_split(16).arrays()
  images[:, 0, 0, 0] = np.nan  # The first step of epoch 2 (step 3) fails.
  again = _model(tmp_path, batch_size=8, epoch=2)
  with pytest.raises(FloatingPointError, match='NaN.*step 3.*' + latest):
    again.fit(data.ArraySplit(images, labels, scale=1.))
  assert tf.train.latest_checkpoint(str(tmp_path / 'model')) == latest
  assert sorted(os.listdir(tmp_path / 'model')) == files


def test_checkpoint_of_another_depth_or_class_count(tmp_path):
  _model(tmp_path, batch_size=8, epoch=1).fit(_tiny_split(8))
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match='(?s)missing.*stack_0_block_2_conv_0/bias.*different depth'):
    _model(tmp_path, depth=34).predict(np.zeros((1, SIZE, SIZE, 1)))
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match=r'(?s)dense/kernel: checkpoint \[512, 10\], '
                           r'model \[512, 5\].*number of classes'):
    _model(tmp_path, num_classes=5).predict(np.zeros((1, SIZE, SIZE, 1)))


@pytest.mark.parametrize('split,message', [
    (lambda: _tiny_split(8, label=10), r'labels must lie in \[0, 10\).*\[10\]'),
    (lambda: _tiny_split(0), 'split is empty'),
    (lambda: data.ArraySplit(np.zeros((4, SIZE, SIZE, 3), np.float32),
                             np.zeros(4), scale=1.),
     r'images are \[16, 16, 3\] but the model expects .* \[16, 16, 1\]'),
])
def test_bad_training_data_is_named(split, message, tmp_path):
  with pytest.raises(ValueError, match=message):
    _model(tmp_path).fit(split())
  assert not os.path.exists(tmp_path / 'model' / 'checkpoint')


def test_predict_bad_input(tmp_path):
  model = _model(tmp_path)
  with pytest.raises(FileNotFoundError, match='no checkpoint in .*train first'):
    model.predict(np.zeros((1, SIZE, SIZE, 1)))
  with pytest.raises(ValueError, match=r'images must be \[N, 16, 16, 1\]'):
    model.predict(np.zeros((2, SIZE, SIZE, 3)))


@pytest.mark.parametrize('precision', ['bf16', 'fp16'])
def test_mixed_precision_trains_on_cpu(precision, tmp_path):
  model = _model(tmp_path, batch_size=8, epoch=2, precision=precision,
                 learning_rate=0.01)
  history = model.fit(_tiny_split(32, label=3))
  assert np.isfinite(history['train_loss']).all()
  # One class only: the loss must fall fast whatever the arithmetic.
  assert history['train_loss'][-1] < history['train_loss'][0]
  np.testing.assert_array_equal(model.predict(_tiny_split(4).arrays()[0]), 3)


def test_bf16_gradients_repeat_exactly_on_small_images():
  """At 16x16 the last stack's first convolution sees a 1x1 image. Built
  in full, oneDNN's bfloat16 filter gradient gave its padding-only taps
  values that changed from run to run (NaN in some), so bf16 training
  turned NaN in most processes; the same step on the same batch must give
  the same finite gradients every time."""
  cfg = config.Config(depth=18, height=SIZE, width=SIZE, channel=1,
                      num_classes=10, batch_size=8, precision='bf16')
  net = model.GraphModel(cfg)
  images, labels = _tiny_split(8, label=3).arrays()
  with net.graph.as_default():
    batches = tf.data.Dataset.from_tensors(
        (images, labels.astype(np.int64))).repeat()
    handle = tf.data.make_one_shot_iterator(batches).string_handle()
    gradients = [g for g, _ in net.gradients]
    with session.open_session(net.graph, cfg) as sess:
      sess.run(tf.global_variables_initializer())
      feed = {net.dataset_handle: sess.run(handle), net.is_training: True}
      first = sess.run(gradients, feed)
      assert all(np.isfinite(g).all() for g in first)
      for _ in range(7):
        for a, b in zip(sess.run(gradients, feed), first):
          np.testing.assert_array_equal(a, b)
