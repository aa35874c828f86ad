"""resnet_v1_graph.model: the graph, its names, and the tf.layers oracle."""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import checkpoints
from resnet_v1_graph import classifier
from resnet_v1_graph import ResNet
from resnet_v1_graph.nets import classic
from resnet_v1_graph.tools import references as oracles

SIZE = 32


def _ours(depth, tmp_path, **kwargs):
  kwargs.setdefault('num_classes', 10)
  return ResNet(depth=depth, height=SIZE, width=SIZE, channel=3,
                model_path=str(tmp_path / 'model'),
                summary_path=str(tmp_path / 'summary'), verbose=False,
                **kwargs)


def _variables(graph):
  return [(v.op.name, v.shape.as_list(), v.dtype.base_dtype.name)
          for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)]


def _classic_checkpoint(depth, tmp_path, images, randomize_biases=False):
  """Trains the tf.layers classic net two steps and saves it.

  Returns the checkpoint, the reference graph, and its inference-mode
  logits and predictions on `images`.
  """
  labels = np.eye(10, dtype=np.float32)[[1, 3, 5, 7]]
  checkpoint = str(tmp_path / 'classic' / 'model.ckpt')
  reference = tf.Graph()
  with reference.as_default(), tf.Session() as sess:
    net = oracles.classic_resnet(depth, SIZE, SIZE, 3, 10)
    sess.run(tf.global_variables_initializer())
    # Two training steps: batch-norm statistics, Adam slots and global_step
    # all leave their initial values.
    for _ in range(2):
      sess.run(net['optimize'], {net['input_x']: images,
                                 net['input_y']: labels,
                                 net['is_training']: True})
    if randomize_biases:
      # Adam leaves the convolution biases near zero; large ones make any
      # mistake in where they are added visible.
      rng = np.random.RandomState(1)
      for variable in tf.global_variables():
        if variable.op.name.endswith('/bias'):
          variable.load(rng.normal(0, 0.5, variable.shape.as_list()), sess)
    tf.train.Saver().save(sess, checkpoint)
    expected_logits, expected_prediction = sess.run(
        [net['logits'], net['prediction']], {net['input_x']: images})
  return checkpoint, reference, expected_logits, expected_prediction


@pytest.mark.parametrize('depth', [18, 50])
def test_tf_layers_checkpoint_restores_and_agrees(depth, tmp_path):
  rng = np.random.RandomState(0)
  images = rng.uniform(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
  checkpoint, reference, expected_logits, expected_prediction = (
      _classic_checkpoint(depth, tmp_path, images))

  model = _ours(depth, tmp_path)
  assert _variables(model.graph) == _variables(reference)
  comparison = checkpoints.compare(checkpoint,
                                   model.graph.get_collection('variables'))
  assert comparison == ([], [], [])
  model.restore(checkpoint)
  session = model.trainer.session
  logits, prediction = session.run([model.logits, model.prediction],
                                   {model.input_x: images})
  np.testing.assert_allclose(logits, expected_logits, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(prediction, expected_prediction)
  assert session.run(model.global_step) == 2
  np.testing.assert_array_equal(model.predict(images), expected_prediction)


def test_inference_graph_folds_conv_biases_into_batch_norm(tmp_path):
  rng = np.random.RandomState(0)
  images = rng.uniform(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
  checkpoint, reference, expected_logits, _ = _classic_checkpoint(
      18, tmp_path, images, randomize_biases=True)
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.placeholder(tf.float32, [None, SIZE, SIZE, 3])
    logits = classic.resnet_logits(inputs, False, 18, 10)
    model_variables = [(name, shape, dtype)
                       for name, shape, dtype in _variables(reference)
                       if not checkpoints.is_training_state(name)]
    assert _variables(graph) == model_variables
    # No bias is added to a convolution's output: batch norm takes it.
    assert not [op for op in graph.get_operations() if op.type == 'BiasAdd'
                and 'dense' not in op.name]
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, checkpoint)
      folded = sess.run(logits, {inputs: images})
  np.testing.assert_allclose(folded, expected_logits, rtol=1e-4, atol=1e-4)


def _one_sgd_step(graph, loss, feed, restore=None, randomize=(), save=None):
  """One SGD step on `loss`: (loss, {variable: value before},
  {variable: value after}), after restoring `restore` (a checkpoint) or
  drawing the variables whose names end with `randomize` from N(0, 0.5)
  and saving them to `save`. Optimizer state is left out."""
  with graph.as_default():
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
      step = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    variables = {v.op.name: v for v in tf.global_variables()
                 if not checkpoints.is_training_state(v.op.name)}
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      if restore:
        tf.train.Saver(variables).restore(sess, restore)
      rng = np.random.RandomState(1)
      for name in sorted(variables):
        if name.endswith(randomize):
          variables[name].load(
              rng.normal(0, 0.5, variables[name].shape.as_list()), sess)
      if save:
        tf.train.Saver(variables).save(sess, save)
      before = sess.run(variables)
      value, _ = sess.run([loss, step], feed)
      after = sess.run(variables)
  return value, before, after


@pytest.mark.parametrize('mode', ['True', 'fed True', 'fed False'])
def test_training_graph_leaves_the_bias_to_batch_norm(mode, tmp_path):
  """Training graphs fold the bias too, and train as tf.layers' graph with
  its BiasAdds does. From the same weights (biases, betas and moving means
  drawn large) one SGD step gives the same loss and moves every weight and
  moving statistic the same way, with `is_training` True in Python or fed
  True or False. With batch statistics no bias moves: its gradient is zero
  in exact arithmetic (the reference's are rounding noise); with moving
  statistics (a step in inference mode) each bias moves as the
  reference's."""
  batch_statistics = mode != 'fed False'
  rng = np.random.RandomState(0)
  images = rng.uniform(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
  labels = np.eye(10, dtype=np.float32)[[1, 3, 5, 7]]
  checkpoint = str(tmp_path / 'reference' / 'model.ckpt')

  reference = tf.Graph()
  with reference.as_default():
    net = oracles.classic_resnet(18, SIZE, SIZE, 3, 10)
  ref_loss, ref_before, ref_after = _one_sgd_step(
      reference, net['loss'],
      {net['input_x']: images, net['input_y']: labels,
       net['is_training']: batch_statistics},
      randomize=('/bias', '/beta', '/moving_mean'), save=checkpoint)

  ours = tf.Graph()
  with ours.as_default():
    x = tf.placeholder(tf.float32, [None, SIZE, SIZE, 3])
    y = tf.placeholder(tf.float32, [None, 10])
    feed = {x: images, y: labels}
    training = True
    if mode != 'True':
      training = tf.placeholder_with_default(False, [])
      feed[training] = batch_statistics
    logits = classic.resnet_logits(x, training, 18, 10)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(
        labels=y, logits=logits))
    biases = {v.op.name: v for v in tf.trainable_variables()
              if v.op.name.endswith('/bias') and 'dense' not in v.op.name}
    assert len(biases) == 1 + 16 + 3  # stem, units and 3 projections
    assert None not in tf.gradients(loss, list(biases.values()))
  # Only the classifier adds a bias to its output.
  assert [op.name for op in ours.get_operations()
          if op.type == 'BiasAdd'] == ['dense/BiasAdd']
  our_loss, our_before, our_after = _one_sgd_step(ours, loss, feed,
                                                  restore=checkpoint)

  assert sorted(our_before) == sorted(ref_before)
  for name in ref_before:
    np.testing.assert_array_equal(our_before[name], ref_before[name])
  assert our_loss == pytest.approx(ref_loss, rel=1e-4)
  for name in ref_before:
    ref_step = ref_after[name] - ref_before[name]
    our_step = our_after[name] - our_before[name]
    if name in biases and batch_statistics:
      assert not our_step.any(), name
    else:
      # The reference normalizes outputs shifted by biases of up to +-2,
      # which costs its float32 batch statistics precision, and its
      # threaded reductions vary from run to run: its First_Conv step, the
      # most sensitive, has come within 0.4% of ours. A misplaced bias
      # moves a statistic by the size of its whole step.
      scale = max(np.abs(ref_step).max(), 1e-6)
      assert np.abs(our_step - ref_step).max() <= 2e-2 * scale, name
  # With batch statistics the reference's bias steps are rounding noise
  # (at most 3e-5 to 1.2e-4 a run, First_Conv's, whose outputs carry the
  # largest shifts, more under load); with moving statistics every bias
  # takes a real step (the smallest 0.015 to 0.026 a run). 1e-3 sits
  # between the two.
  moved = [name for name in biases
           if np.abs(ref_after[name] - ref_before[name]).max() > 1e-3]
  assert len(moved) == (0 if batch_statistics else len(biases))


@pytest.mark.parametrize('depth', [18, 34, 50, 101, 152])
def test_depth_counts_weighted_layers(depth, tmp_path):
  """depth = First_Conv + the convolutions in the blocks + dense."""
  model = _ours(depth, tmp_path)
  kernels = [v.op.name for v in model.graph.get_collection('trainable_variables')
             if v.op.name.endswith('/kernel')]
  shortcuts = [k for k in kernels if '_shortcut/' in k]
  # Three projections (stacks 1-3), plus stack 0's for bottlenecks (64->256).
  assert len(shortcuts) == (4 if depth >= 50 else 3)
  assert len(kernels) - len(shortcuts) == depth


def test_names_and_shapes(tmp_path):
  model = _ours(18, tmp_path)
  graph = model.graph
  names = {v.op.name: v.shape.as_list()
           for v in graph.get_collection('variables')}
  assert names['First_Conv/kernel'] == [7, 7, 3, 64]
  assert names['First_Conv/bias'] == [64]
  for suffix in ('gamma', 'beta', 'moving_mean', 'moving_variance'):
    assert names['First_Conv_BN/' + suffix] == [64]
  assert names['stack_0_block_0_conv_0/kernel'] == [3, 3, 64, 64]
  assert names['stack_1_block_0_shortcut/kernel'] == [1, 1, 64, 128]
  assert names['stack_3_block_1_conv_1_BN/moving_variance'] == [512]
  assert names['dense/kernel'] == [512, 10]
  assert names['global_step'] == []
  assert 'First_Conv/kernel/Adam' in names and 'beta2_power' in names
  for tensor in ('input_x:0', 'input_y:0', 'is_training:0', 'logits:0',
                 'prediction:0', 'probabilities:0', 'loss:0', 'acc:0'):
    graph.get_tensor_by_name(tensor)
  assert graph.get_operation_by_name('optimize') is model.optimize
  assert model.input_x.shape.as_list() == [None, SIZE, SIZE, 3]
  assert model.input_y.shape.as_list() == [None, 10]
  # Name scopes group the ops for TensorBoard's graph view.
  ops = {op.name for op in graph.get_operations()}
  assert any(n.startswith('stack_2/stack_2_block_1/stack_2_block_1_layer_0/')
             for n in ops)
  assert any('/shortcut_connect/' in n for n in ops)


def test_prediction_is_per_image_argmax(tmp_path):
  model = _ours(18, tmp_path, num_classes=3)
  with tf.Session(graph=model.graph) as sess:
    logits = np.array([[0., 5., 1.], [9., 0., 0.], [0., 1., 2.], [3, 2, 1]])
    prediction = sess.run(model.prediction, {model.logits: logits})
  np.testing.assert_array_equal(prediction, [1, 0, 2, 0])


def test_each_model_owns_its_graph(tmp_path):
  first = _ours(18, tmp_path)
  second = _ours(18, tmp_path)
  assert first.graph is not second.graph
  assert tf.get_default_graph() is not first.graph
  # The second model's names are not uniquified by the first's.
  assert second.graph.get_tensor_by_name('input_x:0') is second.input_x


@pytest.mark.parametrize('kwargs,message', [
    (dict(depth=20), r'unknown depth 20; choose one of \[18, 34, 50, 101, 152\]'),
    (dict(num_classes=1), 'num_classes'),
    (dict(learning_decay_rate=1.5), 'learning_decay_rate'),
    (dict(batch_size=0), 'batch_size'),
    (dict(unknown_option=3), 'unknown config field'),
])
def test_bad_settings_are_named(kwargs, message, tmp_path):
  with pytest.raises(ValueError, match=message):
    ResNet(**kwargs)


def test_slim_network_behind_the_same_api(tmp_path):
  model = classifier.build('resnet_v2_50', height=SIZE, width=SIZE, channel=3,
                           num_classes=4, model_path=str(tmp_path / 'm'),
                           summary_path=str(tmp_path / 's'))
  assert model.logits.shape.as_list() == [None, 4]
  names = [v.op.name for v in model.graph.get_collection('variables')]
  assert 'resnet_v2_50/block4/unit_3/bottleneck_v2/conv3/weights' in names
  assert 'resnet_v2_50/logits/weights/Adam' in names
  with pytest.raises(ValueError, match='resnet_v2_152'):
    classifier.build('resnet_v3_50')


def test_a_step_fed_by_feed_dict_runs_as_the_pipelines_step(tmp_path):
  """The classic class's way, `sess.run(optimize, feed_dict)` with input_x
  and input_y alone, in a plain session: it runs (TensorFlow's optimizer
  ties the step to the input_x node, whose default reads the pipeline) and
  takes the very step the pipeline takes on the same batch."""
  model = _ours(18, tmp_path)
  rng = np.random.RandomState(0)
  images = rng.uniform(size=(4, SIZE, SIZE, 3)).astype(np.float32)
  labels = np.array([1, 3, 5, 7])
  with model.graph.as_default():
    batch = tf.data.Dataset.from_tensors((images, labels)).repeat()
    handle = tf.data.make_one_shot_iterator(batch).string_handle()
    variables = tf.global_variables()
    kernel = [v for v in variables if v.op.name == 'First_Conv/kernel'][0]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      start = sess.run(variables)
      steps = []
      for feed in ({model.input_x: images, model.input_y: np.eye(10)[labels]},
                   {model.dataset_handle: sess.run(handle)}):
        for variable, value in zip(variables, start):
          variable.load(value, sess)
        feed[model.is_training] = True
        loss, _ = sess.run([model.loss, model.optimize], feed)
        steps.append((loss, sess.run([kernel, model.global_step])))
  (fed_loss, (fed_kernel, fed_step)), (loss, (kernel_after, step)) = steps
  assert fed_step == step == 1
  assert fed_loss == pytest.approx(loss, rel=1e-5)
  np.testing.assert_allclose(fed_kernel, kernel_after, rtol=1e-5, atol=1e-7)
  assert not np.allclose(kernel_after, start[variables.index(kernel)])
