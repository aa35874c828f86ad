"""slim's training options: each against a hand-computed trajectory."""

import math

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import classifier
from resnet_v1_graph import cli
from resnet_v1_graph import config as config_lib
from resnet_v1_graph import data
from resnet_v1_graph import export
from resnet_v1_graph import model as model_lib
from resnet_v1_graph import optimization
from resnet_v1_graph.nets import registry

BASE = config_lib.DEFAULTS.replace(learning_rate=0.5)
STEPS = 12


def _rates(cfg, steps=STEPS):
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    rate = optimization.learning_rate(cfg, step)
    assert rate.name == 'learning_rate:0'
    with tf.Session() as session:
      return np.array([session.run(rate, {step: s}) for s in range(steps)])


def _cosine(lr, end, step, horizon):
  progress = min(step, horizon) / horizon
  return end + (lr - end) * 0.5 * (1 + math.cos(math.pi * progress))


@pytest.mark.parametrize('changes,formula', [
    (dict(learning_decay_rate=0.5, learning_decay_steps=4),
     lambda s: 0.5 * 0.5 ** (s // 4)),
    (dict(learning_rate_schedule='fixed'), lambda s: 0.5),
    (dict(learning_rate_schedule='piecewise',
          learning_rate_boundaries=(3, 7), learning_rate_values=(1., .1, .01)),
     lambda s: 1. if s <= 3 else .1 if s <= 7 else .01),
    (dict(learning_rate_schedule='polynomial', learning_decay_steps=8,
          end_learning_rate=0.1),
     lambda s: (0.5 - 0.1) * (1 - min(s, 8) / 8) + 0.1),
    (dict(learning_rate_schedule='cosine', learning_decay_steps=8,
          end_learning_rate=0.1), lambda s: _cosine(0.5, 0.1, s, 8)),
    (dict(learning_rate_schedule='cosine', learning_decay_steps=8,
          end_learning_rate=0.1, warmup_steps=4, warmup_learning_rate=0.02),
     lambda s: (0.02 + (_cosine(0.5, 0.1, s, 8) - 0.02) * s / 4 if s < 4
                else _cosine(0.5, 0.1, s, 8))),
], ids=['exponential', 'fixed', 'piecewise', 'polynomial', 'cosine',
        'warmup'])
def test_schedules_follow_their_formula(changes, formula):
  rates = _rates(BASE.replace(**changes))
  np.testing.assert_allclose(rates, [formula(s) for s in range(STEPS)],
                             rtol=1e-6)


def test_schedules_agree_with_tf_train():
  """A second oracle: the tf.train functions slim called."""
  cfg = BASE.replace(learning_rate_schedule='piecewise',
                     learning_rate_boundaries=(3, 7),
                     learning_rate_values=(1., .1, .01))
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    ours = {'piecewise': optimization.learning_rate(cfg, step)}
    theirs = {'piecewise': tf.train.piecewise_constant(
        step, [3, 7], [1., .1, .01])}
    for schedule, reference in (
        ('polynomial', tf.train.polynomial_decay(0.5, step, 8, 0.1)),
        ('cosine', tf.train.cosine_decay(0.5, step, 8, alpha=0.1 / 0.5)),
        ('exponential', tf.train.exponential_decay(0.5, step, 4, 0.5,
                                                   staircase=True))):
      ours[schedule] = optimization.learning_rate(BASE.replace(
          learning_rate_schedule=schedule, learning_decay_steps=(
              4 if schedule == 'exponential' else 8),
          learning_decay_rate=0.5, end_learning_rate=0.1), step)
      theirs[schedule] = reference
    with tf.Session() as session:
      for s in range(STEPS):
        got, want = session.run([ours, theirs], {step: s})
        for name in got:
          assert got[name] == pytest.approx(want[name], rel=1e-6), (name, s)


CURVATURE = np.array([1.0, 4.0])
START = np.array([1.0, -2.0])


def _numpy_trajectory(name, lr, steps, cfg):
  """The update rules written out, on loss 0.5 * sum(curvature * w**2)."""
  w = START.copy()
  m, v = np.zeros(2), np.zeros(2)
  mean_square = np.ones(2)  # TF 1's RMSProp starts its mean square at 1.
  trajectory = []
  for t in range(1, steps + 1):
    g = CURVATURE * w
    if name == 'sgd':
      w = w - lr * g
    elif name == 'momentum':
      m = cfg.momentum * m + g
      w = w - lr * m
    elif name == 'rmsprop':
      mean_square = (cfg.rmsprop_decay * mean_square
                     + (1 - cfg.rmsprop_decay) * g * g)
      m = cfg.rmsprop_momentum * m + lr * g / np.sqrt(mean_square
                                                     + cfg.opt_epsilon)
      w = w - m
    else:
      b1, b2 = cfg.adam_beta1, cfg.adam_beta2
      m = b1 * m + (1 - b1) * g
      v = b2 * v + (1 - b2) * g * g
      rate = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
      w = w - rate * m / (np.sqrt(v) + cfg.opt_epsilon)
    trajectory.append(w)
  return np.array(trajectory)


@pytest.mark.parametrize('name', config_lib.OPTIMIZERS)
def test_optimizers_follow_their_update_rule(name):
  cfg = BASE.replace(optimizer=name, momentum=0.8, rmsprop_decay=0.7,
                     rmsprop_momentum=0.5, adam_beta1=0.8, adam_beta2=0.9,
                     opt_epsilon=1e-3)
  lr = 0.05
  with tf.Graph().as_default():
    w = tf.Variable(START, dtype=tf.float64)
    loss = 0.5 * tf.reduce_sum(CURVATURE * w * w)
    train = optimization.optimizer(cfg, lr).minimize(loss)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      got = []
      for _ in range(6):
        session.run(train)
        got.append(session.run(w))
  # TF holds the hyperparameters as float32 tensors: 0.8 is 0.800000012.
  np.testing.assert_allclose(got, _numpy_trajectory(name, lr, 6, cfg),
                             rtol=1e-6)


def test_label_smoothing_is_the_formula():
  onehot = np.eye(4)[[0, 3, 1]]
  with tf.Graph().as_default(), tf.Session() as session:
    smoothed = session.run(optimization.smooth_labels(
        tf.constant(onehot, tf.float32), 0.2))
  np.testing.assert_allclose(smoothed, onehot * 0.8 + 0.2 / 4, rtol=1e-6)


TINY = config_lib.DEFAULTS.replace(model='cifar_resnet20', height=8, width=8,
                                   channel=1, num_classes=3, seed=1,
                                   optimizer='sgd', learning_rate=0.1,
                                   learning_rate_schedule='fixed')


def _batch(count=6, seed=0):
  rng = np.random.default_rng(seed)
  images = rng.random((count, 8, 8, 1)).astype(np.float32)
  return images, np.eye(3)[rng.integers(0, 3, count)]


def _training_feed(graph_model, session, images, onehot):
  """Feeds a batch through the model's dataset handle, as the trainer
  does (the train op reads the pipeline, not only the placeholders)."""
  dataset = tf.data.Dataset.from_tensors(
      (images, np.argmax(onehot, 1).astype(np.int64))).repeat()
  handle = session.run(tf.data.make_one_shot_iterator(dataset)
                       .string_handle())
  return {graph_model.dataset_handle: handle, graph_model.is_training: True}


def test_the_model_loss_uses_smoothed_labels():
  graph_model = model_lib.GraphModel(TINY.replace(label_smoothing=0.3))
  images, onehot = _batch()
  with graph_model.graph.as_default(), tf.Session() as session:
    session.run(tf.global_variables_initializer())
    logits, loss = session.run(
        [graph_model.logits, graph_model.loss],
        {graph_model.input_x: images, graph_model.input_y: onehot})
  log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
  targets = onehot * 0.7 + 0.3 / 3
  assert loss == pytest.approx(-(targets * log_softmax).sum(1).mean(),
                               rel=1e-5)


def test_moving_average_is_the_closed_form_and_swaps_in():
  decay = 0.9
  graph_model = model_lib.GraphModel(TINY.replace(moving_average_decay=decay))
  average = graph_model.moving_average
  images, onehot = _batch()
  with graph_model.graph.as_default(), tf.Session() as session:
    session.run(tf.global_variables_initializer())
    feed = _training_feed(graph_model, session, images, onehot)
    weight = [v for v in tf.trainable_variables() if 'weights' in v.op.name
              or 'kernel' in v.op.name][0]
    statistic = [v for v in tf.global_variables()
                 if 'moving_mean' in v.op.name][0]
    shadows = [average.average_of(v) for v in (weight, statistic)]
    assert shadows[0].op.name == weight.op.name + '/ExponentialMovingAverage'
    expected = session.run([weight, statistic])
    for step in range(1, 5):
      session.run(graph_model.optimize, feed)
      values = session.run([weight, statistic])
      # num_updates = global_step: the decay starts low, as slim's does.
      rate = min(decay, (1 + step) / (10 + step))
      expected = [rate * e + (1 - rate) * v for e, v in zip(expected, values)]
    for got, want in zip(session.run(shadows), expected):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    trained = session.run(weight)
    with average.swap(session):
      np.testing.assert_array_equal(session.run(weight),
                                    session.run(shadows[0]))
    np.testing.assert_array_equal(session.run(weight), trained)


def test_trainable_scopes_train_only_those_variables():
  head = registry.get(TINY.model).head_scope
  graph_model = model_lib.GraphModel(TINY.replace(trainable_scopes=(head,)))
  images, onehot = _batch()
  with graph_model.graph.as_default(), tf.Session() as session:
    session.run(tf.global_variables_initializer())
    variables = tf.trainable_variables()
    before = session.run(variables)
    session.run(graph_model.optimize,
                _training_feed(graph_model, session, images, onehot))
    after = session.run(variables)
  changed = {v.op.name for v, b, a in zip(variables, before, after)
             if not np.array_equal(b, a)}
  assert changed == {v.op.name for v in variables
                     if v.op.name.startswith(head + '/')}
  with pytest.raises(ValueError, match="trainable scope 'logits' matches no "
                     'variable; scopes of this network include conv, '):
    model_lib.GraphModel(TINY.replace(trainable_scopes=('logits',)))


def test_labels_offset_shifts_the_data_labels():
  graph_model = model_lib.GraphModel(TINY.replace(labels_offset=1))
  with graph_model.graph.as_default(), tf.Session() as session:
    dataset = tf.data.Dataset.from_tensors(
        (np.zeros((3, 8, 8, 1), np.float32), np.array([1, 2, 3], np.int64)))
    iterator = tf.data.make_one_shot_iterator(dataset)
    handle = session.run(iterator.string_handle())
    onehot = session.run(graph_model.input_y,
                         {graph_model.dataset_handle: handle})
  np.testing.assert_array_equal(onehot, np.eye(3))


def test_config_checks_the_schedule_and_the_flags_parse_lists():
  with pytest.raises(ValueError, match='one more entry than'):
    BASE.replace(learning_rate_schedule='piecewise',
                 learning_rate_boundaries=(3,), learning_rate_values=(1.,))
  with pytest.raises(ValueError, match='increasing global steps'):
    BASE.replace(learning_rate_schedule='piecewise',
                 learning_rate_boundaries=(7, 3),
                 learning_rate_values=(1., .1, .01))
  with pytest.raises(ValueError, match='apply to learning_rate_schedule '
                     'piecewise, not exponential'):
    BASE.replace(learning_rate_boundaries=(3,))
  with pytest.raises(ValueError, match='optimizer must be one of'):
    BASE.replace(optimizer='adagrad')
  args = cli.build_parser().parse_args([
      'train', '--learning-rate-schedule', 'piecewise',
      '--learning-rate-boundaries', '32000,48000',
      '--learning-rate-values', '0.1,0.01,0.001',
      '--trainable-scopes', 'logits'])
  assert args.learning_rate_boundaries == (32000, 48000)
  assert args.learning_rate_values == (0.1, 0.01, 0.001)
  assert args.trainable_scopes == ('logits',)
  # Lists from a JSON file become the same tuples.
  cfg = config_lib.Config.from_dict({
      'learning_rate_schedule': 'piecewise',
      'learning_rate_boundaries': [32000, 48000],
      'learning_rate_values': [0.1, 0.01, 0.001]})
  assert cfg == BASE.replace(
      learning_rate=config_lib.DEFAULTS.learning_rate,
      learning_rate_schedule='piecewise', learning_rate_boundaries=(32000,
                                                                    48000),
      learning_rate_values=(0.1, 0.01, 0.001))


def test_evaluation_and_export_use_the_averaged_weights(tmp_path):
  cfg = TINY.replace(num_classes=10, moving_average_decay=0.5, epoch=1,
                     batch_size=64, optimizer='adam', learning_rate=0.01,
                     model_path=str(tmp_path / 'model'),
                     summary_path=str(tmp_path / 'summary'), verbose=False)
  source = data.load_digits(image_size=8)
  model = classifier.Classifier(cfg)
  model.fit(source.train, source.validation)
  images = source.test.arrays()[0][:16]
  averaged = model.predict_proba(images)
  session = model.trainer.session
  trained = session.run(model.probabilities, {model.input_x: images})
  with model.moving_average.swap(session):
    swapped = session.run(model.probabilities, {model.input_x: images})
  np.testing.assert_array_equal(averaged, swapped)
  assert not np.allclose(averaged, trained, atol=1e-3)
  frozen = str(tmp_path / 'frozen.pb')
  export.export_run(cfg, checkpoint=model.trainer.latest_checkpoint(),
                    frozen=frozen)
  model.close()
  exported = export.run_frozen(frozen, images)
  np.testing.assert_allclose(exported, averaged, atol=1e-5)
