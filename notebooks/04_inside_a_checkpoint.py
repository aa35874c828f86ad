# %% [markdown]
# # Inside a checkpoint
#
# A TensorFlow 1 checkpoint is a table of named arrays and nothing more: no
# graph, no code, no record of what wrote it. Restoring one means building a
# graph whose variables have the same names and shapes, then copying the
# arrays in by name. This notebook opens checkpoints up: what their files
# hold, which arrays inference needs and which only a resumed training run
# needs, how to restore part of one, what to do with the 1001-class head of
# slim's ImageNet checkpoints, how to read the error when a checkpoint does
# not fit, and how Keras applications weights become a slim checkpoint.
#
# It uses three networks, all small or at small inputs so that it runs in
# about a minute on two CPU cores with nothing downloaded: the classic
# ResNet-18 trained for two epochs on 16×16 digits, slim's `resnet_v2_50`
# at 64×64 with random weights standing in for the published ImageNet ones,
# and Keras' `ResNet50V2`, also with random weights. Every statement the
# text makes about a result is checked by an `assert` in the cell that
# computes it.

# %%
import os
import shutil
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # before TensorFlow loads
import keras
import numpy as np
import tensorflow.compat.v1 as tf
import tf_slim

from resnet_v1_graph import checkpoints
from resnet_v1_graph import cli
from resnet_v1_graph import data
from resnet_v1_graph import preprocessing
from resnet_v1_graph import ResNet
from resnet_v1_graph.checkpoints import convert
from resnet_v1_graph.nets import classic
from resnet_v1_graph.training import finetune
from resnet_v2_slim import resnet_arg_scope
from resnet_v2_slim import resnet_v2

tf.get_logger().setLevel('ERROR')
workdir = tempfile.mkdtemp(prefix='inside-a-checkpoint-')
digits = data.load_digits(image_size=16)
test_images, test_labels = digits.test.arrays()


def softmax(logits):
  """Class probabilities of logits [batch, classes], in float64."""
  shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
  return shifted / shifted.sum(axis=1, keepdims=True)


print('test images', test_images.shape)

# %% [markdown]
# ## A training run's files
#
# `fit` saves a checkpoint at the end of every epoch (and the best one by
# validation accuracy under `best/`). Two epochs of ResNet-18 leave two
# checkpoints, each a *prefix* `model.ckpt-<step>` shared by several files,
# and one small text file named `checkpoint`.

# %%
model_dir = os.path.join(workdir, 'model')
# batch_norm_momentum 0.9: in 80 steps the moving statistics must move.
model = ResNet(depth=18, height=16, width=16, channel=1, num_classes=10,
               batch_size=32, epoch=2, batch_norm_momentum=0.9,
               model_path=model_dir,
               summary_path=os.path.join(workdir, 'summary'), verbose=False)
history = model.fit(digits.train, digits.validation)
steps = history['step']
for name in sorted(os.listdir(model_dir)):
  path = os.path.join(model_dir, name)
  size = '%12s bytes' % '{:,}'.format(os.path.getsize(path)) if (
      os.path.isfile(path)) else '   (directory)'
  print('%-36s %s' % (name, size))
print()
with open(os.path.join(model_dir, 'checkpoint')) as f:
  state = f.read()
print(state)
latest = tf.train.latest_checkpoint(model_dir)
assert latest == os.path.join(model_dir, 'model.ckpt-%d' % steps[-1])
assert all('"model.ckpt-%d"' % step in state for step in steps)

# %% [markdown]
# What each file is for:
#
# * `model.ckpt-80.data-00000-of-00001` holds the arrays' bytes, one after
#   another. A single `Saver` in one process writes one shard; a model
#   whose variables sit on several parameter servers is saved in one shard
#   per device.
# * `model.ckpt-80.index` is the table of contents: for each name, its
#   dtype, shape, shard, offset and a checksum of its bytes. Reading a
#   checkpoint's names and shapes reads only this small file.
# * `model.ckpt-80.meta` is the graph itself (a `MetaGraphDef`), which
#   `tf.train.import_meta_graph` can rebuild without the code that built
#   it. Restoring into a graph built by code, as here, never reads it.
# * `checkpoint` names the latest prefix and those still kept; it is what
#   `tf.train.latest_checkpoint` reads. The `Saver` rewrites it at each save
#   and deletes the files of checkpoints beyond `max_to_keep`.
#
# So a checkpoint is named by its prefix, not by a file, and its weight is
# in the data file: exactly the bytes of its arrays.

# %%
inspection = checkpoints.inspect(latest)
data_file = latest + '.data-00000-of-00001'
index_size = os.path.getsize(latest + '.index')
print('data file %s bytes; the arrays %s bytes; index %s bytes' % (
    '{:,}'.format(os.path.getsize(data_file)),
    '{:,}'.format(inspection.nbytes), '{:,}'.format(index_size)))
assert os.path.getsize(data_file) == inspection.nbytes
assert index_size < 0.001 * inspection.nbytes

# %% [markdown]
# ## Reading a checkpoint without a graph
#
# No graph and no session are needed to look inside. TensorFlow gives
# `tf.train.list_variables` (names and shapes, from the index) and
# `tf.train.load_checkpoint` (a reader with dtypes and every value). The
# project's `checkpoints.read_variables` and `read_arrays` return the same
# as dicts (and also read Keras weight files), and `checkpoints.inspect`
# groups them by scope and names the network they belong to. On the
# command line that is `resnet-tf1 checkpoint inspect PATH --summary`.

# %%
listed = tf.train.list_variables(latest)
print(len(listed), 'entries, e.g.', listed[:3])
reader = tf.train.load_checkpoint(latest)
print('global_step:', reader.get_tensor('global_step'),
      reader.get_variable_to_dtype_map()['global_step'].name)
arrays = checkpoints.read_arrays(latest)
assert reader.get_tensor('global_step') == steps[-1]
assert np.array_equal(arrays['dense/kernel'],
                      reader.get_tensor('dense/kernel'))
assert cli.main(['checkpoint', 'inspect', latest, '--summary']) == 0
assert inspection.family == checkpoints.Family('resnet', 18, 10, None)

# %% [markdown]
# ## Four kinds of arrays
#
# The entries are of four kinds, told apart by their names alone:
#
# * **weights**, the trainable variables: kernels, biases, and batch
#   norm's `gamma` and `beta`;
# * batch norm's **moving statistics**, `moving_mean` and `moving_variance`:
#   not trainable, updated by their own moving-average ops during training,
#   and what batch norm normalises with at inference;
# * the **optimizer's state**: Adam keeps two slots per weight, `<name>/Adam`
#   (the running mean of its gradient) and `<name>/Adam_1` (of its square),
#   plus `beta1_power` and `beta2_power` for its bias correction;
# * the **global step**, which learning-rate schedules and checkpoint
#   numbers read.
#
# Inference needs the first two kinds; resuming training needs all four.
# Adam's state is twice the size of the weights, so a training checkpoint
# is about three times the size of the network.

# %%
STATISTICS = ('moving_mean', 'moving_variance')


def kind_of(name):
  """Which of the four kinds a checkpoint entry is, from its name."""
  if checkpoints.optimizer_of(name):
    return 'optimizer state'
  if name == checkpoints.GLOBAL_STEP:
    return 'global step'
  if name.endswith(STATISTICS):
    return 'moving statistics'
  return 'weights'


stored = checkpoints.read_variables(latest)
kinds = {}
for name, variable in stored.items():
  kinds.setdefault(kind_of(name), []).append(variable)
elements = {kind: sum(checkpoints.variable_size(v) for v in variables)
            for kind, variables in kinds.items()}
for kind, variables in kinds.items():
  print('%-18s %4d arrays %12s elements' % (
      kind, len(variables), '{:,}'.format(elements[kind])))
with model.graph.as_default():
  trainable = {v.op.name for v in tf.trainable_variables()}
assert {v.name for v in kinds['weights']} == trainable
assert len(kinds['optimizer state']) == 2 * len(trainable) + 2
assert elements['optimizer state'] == 2 * elements['weights'] + 2
ratio = inspection.size / inspection.model_size
print('training checkpoint / network: %.2f' % ratio)
assert 2.9 < ratio < 3.1

# %% [markdown]
# ### Inference needs the weights and the moving statistics
#
# An inference graph has no optimizer and no global step: just the network,
# built with `is_training=False`. A `Saver` over its variables asks the
# checkpoint for those names only, so the training checkpoint restores into
# it and the optimizer's arrays are never read. Its predictions score as
# the trained model's do.
#
# Leave the moving statistics at their initial values (mean 0, variance 1)
# and the same weights classify at chance: every batch norm now scales by
# statistics the weights were never trained with.

# %%
inference = tf.Graph()
with inference.as_default():
  inputs = tf.placeholder(tf.float32, [None, 16, 16, 1], name='images')
  logits = classic.resnet_logits(inputs, False, 18, 10)
  needed = {v.op.name for v in tf.global_variables()}
  statistics = [v for v in tf.global_variables()
                if v.op.name.endswith(STATISTICS)]
  reset_statistics = tf.variables_initializer(statistics)
  with tf.Session() as session:
    tf.train.Saver().restore(session, latest)
    restored_logits = session.run(logits, {inputs: test_images})
    session.run(reset_statistics)
    unnormalised = session.run(logits, {inputs: test_images})
accuracy = np.mean(restored_logits.argmax(1) == test_labels)
without_statistics = np.mean(unnormalised.argmax(1) == test_labels)
print('the inference graph asks for %d of the %d entries' % (
    len(needed), len(stored)))
print('test accuracy %.3f; with the statistics reset %.3f' % (
    accuracy, without_statistics))
assert needed == {v.name for v in kinds['weights'] +
                  kinds['moving statistics']}
assert accuracy > 0.8 and without_statistics < 0.3

# %% [markdown]
# ### Resuming training needs the optimizer's state
#
# Adam moves each weight by `learning_rate * m / (sqrt(v) + epsilon)`, after
# correcting `m` and `v` for their start at zero. Restore the weights alone
# and Adam starts over: on its first step `m / sqrt(v)` is `g / |g|`, so
# every weight with a gradient moves by the full learning rate, whatever
# the size of its gradient. The run that resumes with its slots moves most
# weights far less, by what 80 steps of gradients say. And without the
# global step the count restarts at 0: schedules and checkpoint numbers
# start over.
#
# Below, one training step on the same batch, three times: after restoring
# everything, after restoring the weights and statistics only, and after
# restoring everything again (which repeats the first).

# %%
batch = {model.input_x: test_images[:32],
         model.input_y: np.eye(10)[test_labels[:32]],
         model.is_training: True}
with model.graph.as_default():
  everything = tf.train.Saver()
  network_only = tf.train.Saver([
      v for v in tf.global_variables()
      if not checkpoints.is_training_state(v.op.name)])
  initialize = tf.global_variables_initializer()
  weights = tf.trainable_variables()


def one_step(saver):
  """(global step after the restore, every weight's change in one step)."""
  with tf.Session(graph=model.graph) as session:
    session.run(initialize)
    saver.restore(session, latest)
    step, before = session.run([model.global_step, weights])
    session.run(model.optimize, batch)
    after = session.run(weights)
  return step, np.concatenate([(a - b).ravel()
                               for a, b in zip(after, before)])


learning_rate = model.config.learning_rate
resumed_step, resumed = one_step(everything)
fresh_step, fresh = one_step(network_only)
_, again = one_step(everything)
for title, step, change in (('resumed', resumed_step, resumed),
                            ('fresh Adam', fresh_step, fresh)):
  moved = change[change != 0]
  print('%-10s from step %2d: %5.1f%% of weights move, median move %.3f x '
        'learning rate' % (title, step, 100 * moved.size / change.size,
                           np.median(np.abs(moved)) / learning_rate))
print('repeat of the resumed step: largest difference %.2g x learning rate'
      % (np.abs(again - resumed).max() / learning_rate))
assert resumed_step == steps[-1] and fresh_step == 0
assert abs(np.median(np.abs(fresh[fresh != 0])) / learning_rate - 1) < 0.05
assert np.median(np.abs(resumed[resumed != 0])) < 0.2 * learning_rate
assert np.abs(again - resumed).max() < 1e-3 * learning_rate

# %% [markdown]
# ## Partial restores
#
# Fine-tuning, distillation or a network inside a bigger graph restore part
# of a checkpoint, or restore it under other names. Three ways to do it:
#
# 1. a `Saver` over a list of variables restores those, by their own names;
# 2. a `Saver` over a dict `{name in the checkpoint: variable}` restores
#    into variables named otherwise, here a 5-class ResNet-18 built inside a
#    `student` scope, its head left out;
# 3. `tf.train.init_from_checkpoint(path, assignment_map)` takes the same
#    kind of map but needs no Saver and no session: it replaces the
#    variables' initial values with reads of the checkpoint, so the usual
#    `global_variables_initializer` loads them. (The Estimator's warm start
#    is built on it.)


# %%
def student_graph():
  """A 5-class ResNet-18 under `student/`: (graph, {our name: variable})."""
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [None, 16, 16, 1])
    with tf.variable_scope('student'):
      classic.resnet_logits(images, False, 18, 5)
    return graph, {v.op.name[len('student/'):]: v
                   for v in tf.global_variables()}


body = sorted(name for name in needed if not checkpoints.is_head(name))
values = {}
graph, variables = student_graph()
with graph.as_default(), tf.Session() as session:
  session.run(tf.global_variables_initializer())
  tf.train.Saver({name: variables[name] for name in body}).restore(
      session, latest)
  values['Saver over a dict'] = dict(zip(variables, session.run(
      list(variables.values()))))
graph, variables = student_graph()
with graph.as_default(), tf.Session() as session:
  tf.train.init_from_checkpoint(latest, {name: 'student/' + name
                                         for name in body})
  session.run(tf.global_variables_initializer())
  values['init_from_checkpoint'] = dict(zip(variables, session.run(
      list(variables.values()))))
for way, got in values.items():
  from_file = [n for n in got if n in arrays and
               got[n].shape == arrays[n].shape and
               np.array_equal(got[n], arrays[n])]
  print('%-20s %3d of %d variables from the file; head %s' % (
      way, len(from_file), len(got), got['dense/kernel'].shape))
  assert sorted(from_file) == body and got['dense/kernel'].shape == (512, 5)

# %% [markdown]
# The project's fine-tuning (`train --init-from CHECKPOINT --exclude
# dense`, or `finetune.restore`) is way 1 with a plan: it restores every
# variable whose name and shape match, leaves out the excluded scopes (the
# head by default), the optimizer's state and the global step, and reports
# each group.

# %%
graph = tf.Graph()
with graph.as_default():
  classic.resnet_logits(tf.placeholder(tf.float32, [None, 16, 16, 1]),
                        False, 18, 5)
  with tf.Session() as session:
    session.run(tf.global_variables_initializer())
    report = finetune.restore(session, latest, tf.global_variables())
print(finetune.format_report(report))
assert report.restored == body
assert report.excluded == ['dense/bias', 'dense/kernel']

# %% [markdown]
# ## The 1001-class head of slim's ImageNet checkpoints
#
# slim's ResNet v2 checkpoints (like its Inception and MobileNet ones) were
# trained at Google with 1001 outputs: class 0 is "background", and
# ImageNet's 1000 classes are 1 to 1000. Its ResNet v1 and VGG checkpoints,
# converted from Caffe, have 1000. Keras and most other code have 1000.
#
# Here a `resnet_v2_50` checkpoint of that layout stands in for the
# published one: random weights, its batch norm statistics and head moved
# off their initial values, saved with the network's variables only (no
# optimizer state, no global step), as a checkpoint for inference is.

# %%
SIZE = 64
images = np.random.RandomState(0).uniform(
    -1, 1, (4, SIZE, SIZE, 3)).astype(np.float32)  # inception's [-1, 1]
keras_options = convert.keras_graph_options('resnet_v2_50')


def slim_graph(num_classes, arg_scope=True, keras_like=False):
  """resnet_v2_50 for inference: (graph, images placeholder, logits).

  Args:
    num_classes: Classes of the 1x1 `logits` convolution.
    arg_scope: Build inside `resnet_arg_scope`, as slim's checkpoints were.
    keras_like: Compute what Keras' ResNet50V2 computes from the same
      weights (its pool padding and batch norm epsilon).
  """
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.placeholder(tf.float32, [None, SIZE, SIZE, 3], name='images')
    if not arg_scope:
      logits, _ = resnet_v2.resnet_v2_50(inputs, num_classes,
                                         is_training=False)
      return graph, inputs, logits
    epsilon = ({'batch_norm_epsilon': keras_options['batch_norm_epsilon']}
               if keras_like else {})
    with tf_slim.arg_scope(resnet_arg_scope(**epsilon)):
      logits, _ = resnet_v2.resnet_v2_50(inputs, num_classes,
                                         is_training=False,
                                         keras_padding=keras_like)
  return graph, inputs, logits


def moved(name, shape, rng):
  """A value off the initial one for batch norm's arrays and the head."""
  if name.endswith(('moving_mean', 'beta')):
    return rng.normal(0, 0.2, shape)
  if name.endswith('moving_variance'):
    return rng.uniform(0.5, 2.0, shape)
  if name.endswith('gamma'):
    return rng.uniform(0.2, 0.6, shape)
  if checkpoints.is_head(name):
    return rng.normal(0, 0.05 if name.endswith('weights') else 0.5, shape)
  return None


graph, inputs, logits = slim_graph(1001)
rng = np.random.RandomState(1)
with graph.as_default(), tf.Session() as session:
  session.run(tf.global_variables_initializer())
  for variable in tf.global_variables():
    value = moved(variable.op.name, variable.shape.as_list(), rng)
    if value is not None:
      variable.load(value.astype(np.float32), session)
  published = tf.train.Saver().save(
      session, os.path.join(workdir, 'slim', 'resnet_v2_50.ckpt'),
      write_meta_graph=False)
  logits_1001 = session.run(logits, {inputs: images})
found = checkpoints.inspect(published)
print(checkpoints.describe_family(found.family))
print('%s elements, no training state: %s' % (
    '{:,}'.format(found.size), found.size == found.model_size))
assert found.family == checkpoints.Family('slim_v2', 50, 1001,
                                          'resnet_v2_50')
assert found.size == found.model_size

# %% [markdown]
# Built with 1000 classes, the graph's head does not fit, and you would
# expect `Saver.restore` to say so. It does not. Our layers create
# resource variables, as TensorFlow 2 does by default, and their restore
# assigns without comparing shapes (TensorFlow issue #52220): the
# 1001-wide head loads into a variable declared 1000 wide, and the logits
# the graph declares `[?, 1000]` come out 1001 wide. This is why every
# restore in this project checks the checkpoint against the graph first
# (`checkpoints.check`), and why `resnet-tf1 checkpoint diff` exists: it
# holds a checkpoint against a network built by name and names the cause.

# %%
graph, inputs, logits = slim_graph(1000)
with graph.as_default(), tf.Session() as session:
  tf.train.Saver().restore(session, published)  # no error
  wrong = session.run(logits, {inputs: images})
print('declared', logits.shape, 'computed', wrong.shape)
assert logits.shape[-1] == 1000 and wrong.shape[-1] == 1001
print()
assert cli.main(['checkpoint', 'diff', published, '--model', 'resnet_v2_50',
                 '--num-classes', '1000']) == 1

# %% [markdown]
# The remedy is to restore every variable but the head, then give the head
# the checkpoint's rows 1 to 1000 (`convert.adapt_classes` drops row 0).
# The 1000 logits are then the 1001 logits without the background one,
# and the probabilities agree up to renormalisation: the softmax over 1000
# classes is the softmax over 1001 with class 0's share given back to the
# others, `p1000[k] = p1001[k + 1] / (1 - p1001[0])`. The predicted class
# is the same, numbered one lower (`preprocessing.to_dataset_labels`).

# %%
graph, inputs, logits = slim_graph(1000)
with graph.as_default(), tf.Session() as session:
  head = {v.op.name: v for v in tf.global_variables()
          if checkpoints.is_head(v.op.name)}
  tf.train.Saver([v for v in tf.global_variables()
                  if v.op.name not in head]).restore(session, published)
  reader = tf.train.load_checkpoint(published)
  kernel, bias = convert.adapt_classes(
      reader.get_tensor('resnet_v2_50/logits/weights'),
      reader.get_tensor('resnet_v2_50/logits/biases'), 1000)
  head['resnet_v2_50/logits/weights'].load(kernel, session)
  head['resnet_v2_50/logits/biases'].load(bias, session)
  logits_1000 = session.run(logits, {inputs: images})
p1001, p1000 = softmax(logits_1001), softmax(logits_1000)
background = p1001[:, 0]
print('background probability', np.round(background, 5))
print('largest |logit difference| %.2g' % np.abs(
    logits_1000 - logits_1001[:, 1:]).max())
print('largest |p1000 - p1001[1:] / (1 - p1001[0])| %.2g' % np.abs(
    p1000 - p1001[:, 1:] / (1 - background[:, None])).max())
assert np.allclose(logits_1000, logits_1001[:, 1:], rtol=0, atol=1e-5)
assert np.allclose(p1000, p1001[:, 1:] / (1 - background[:, None]),
                   rtol=1e-4, atol=0)
assert np.array_equal(
    p1000.argmax(1),
    preprocessing.to_dataset_labels(p1001[:, 1:].argmax(1) + 1, 1001))

# %% [markdown]
# ## Diagnosing a mismatch: a graph built without `resnet_arg_scope`
#
# slim's network functions take their layer defaults from
# `resnet_arg_scope`: under it a convolution is followed by batch norm (with
# `gamma`) and has no bias. Called bare, as is easy to do, `resnet_v2_50`
# builds convolutions with biases, no batch norm after them, and batch norms
# without `gamma`. The variable names differ, and the restore fails with a
# key that is not in the checkpoint, inside a long message whose stack trace
# points at the `Saver`, not at the missing `arg_scope`:

# %%
graph, inputs, logits = slim_graph(1001, arg_scope=False)
with graph.as_default(), tf.Session() as session:
  try:
    tf.train.Saver().restore(session, published)
  except tf.errors.NotFoundError as error:
    message = error.message
  bare = tf.global_variables()
lines = message.splitlines()
print('%d lines, beginning:\n  %s' % (len(lines), lines[0][:160]))
print('  ...\n  ' + [line for line in lines if 'not found' in line][0])
assert 'conv1/biases not found in checkpoint' in message
assert "node 'save/RestoreV2'" in message  # the Saver's op

# %% [markdown]
# `checkpoints.check` (called by every restore here) compares all the names
# and shapes at once and names the cause. The counts tell the same story:
# two convolutions with biases in each of the 16 units are missing from the
# checkpoint, while the checkpoint has their 4 batch norm arrays each, and
# a `gamma` for each unit's `preact` and for `postnorm`, that the graph
# lacks.

# %%
try:
  checkpoints.check(published, bare, what='a resnet_v2_50 built bare')
except checkpoints.CheckpointMismatchError as error:
  print(error)
result = checkpoints.diff(published, bare)
units = len({name.split('/bottleneck_v2/')[0] for name in found.variables
             if '/bottleneck_v2/' in name})
assert [cause.code for cause in result.causes] == ['arg_scope']
assert units == 16 and len(result.missing) == 2 * units
assert len(result.unexpected) == 2 * units * 4 + units + 1

# %% [markdown]
# ## From Keras applications weights to a slim checkpoint
#
# Keras' `ResNet50V2` and slim's `resnet_v2_50` are the same network: the
# same 272 arrays, under other names (`conv2_block1_1_conv/kernel` is
# `resnet_v2_50/block1/unit_1/bottleneck_v2/conv1/weights`), and Keras'
# dense head is slim's 1×1 convolution. Keras 3's `.weights.h5` files do not
# even keep those names: they number layers by class (`conv2d_12`), so the
# conversion rebuilds the application to tell them apart. Two details
# differ in the computation: Keras zero-pads before its first max pool
# where slim pads `SAME`, and its batch norm epsilon is 1.001e-5, not 1e-5.
# `convert.keras_graph_options` gives the settings that make the slim graph
# compute what Keras computes.
#
# Below, a Keras model with random weights (its batch norm statistics moved
# off their initial values, or a wrong epsilon would hardly show) is saved,
# recognised, converted with a background class added, and run both ways.

# %%
keras.utils.set_random_seed(0)
net = keras.applications.ResNet50V2(
    weights=None, input_shape=(SIZE, SIZE, 3), classes=1000,
    classifier_activation=None)
rng = np.random.RandomState(2)
for weight in net.weights:
  value = moved(weight.path, weight.shape, rng)
  if value is not None and not checkpoints.is_head(weight.path):
    weight.assign(value.astype(np.float32))
keras_logits = net.predict(images, verbose=0)
keras_file = os.path.join(workdir, 'resnet50v2.weights.h5')
net.save_weights(keras_file)
keras_family = checkpoints.inspect(keras_file).family
print('Keras file:', checkpoints.describe_family(keras_family))
print('first names:', list(checkpoints.read_variables(keras_file))[:3])
causes = checkpoints.diff(keras_file, found.variables).causes
print('diff against the slim checkpoint:', causes[0].message)
pairs = convert.weight_pairs('resnet_v2_50')
assert len(net.weights) == len(pairs) == 272
assert convert.Pair('conv2_block1_1_conv/kernel', 'resnet_v2_50/block1/'
                    'unit_1/bottleneck_v2/conv1/weights') in pairs
assert all(checkpoints.reading.KERAS3_LAYER.match(name)
           for name in checkpoints.read_variables(keras_file))
assert keras_options == {'keras_padding': True, 'batch_norm_epsilon': 1.001e-5}
assert keras_family == checkpoints.Family('keras_v2', 50, 1000, None)
assert [cause.code for cause in causes] == ['keras']

# %% [markdown]
# `convert.convert` (on the command line `resnet-tf1 convert FILE PREFIX
# --model resnet_v2_50 --num-classes 1001`) writes the checkpoint. Its
# background row has zero weights and a bias of -100, so class 0 never
# wins and the other classes keep their probabilities. With the Keras
# options, the slim graph's logits for classes 1 to 1000 are Keras' within
# float32 round-off; without them they differ by orders of magnitude more.

# %%
converted = convert.convert(keras_file,
                            os.path.join(workdir, 'converted', 'r50v2.ckpt'),
                            'resnet_v2_50', num_classes=1001)
gaps = {}
for keras_like in (True, False):
  graph, inputs, logits = slim_graph(1001, keras_like=keras_like)
  with graph.as_default(), tf.Session() as session:
    checkpoints.check(converted, tf.global_variables())
    tf.train.Saver().restore(session, converted)
    slim_logits = session.run(logits, {inputs: images})
  assert np.all(slim_logits[:, 0] == convert.BACKGROUND_BIAS)
  gaps[keras_like] = np.abs(slim_logits[:, 1:] - keras_logits).max()
background_weights = tf.train.load_checkpoint(converted).get_tensor(
    'resnet_v2_50/logits/weights')[..., 0]
assert not background_weights.any()
print('largest |slim - Keras| logit: %.2g with the Keras options, %.2g '
      'without (logits up to %.2g)' % (gaps[True], gaps[False],
                                       np.abs(keras_logits).max()))
assert gaps[True] < 1e-4 and gaps[False] > 100 * gaps[True]

# %%
written = sum(os.path.getsize(os.path.join(folder, name))
              for folder, _, names in os.walk(workdir) for name in names)
shutil.rmtree(workdir)
print('removed %s MB of checkpoints and weights' % '{:,.0f}'.format(
    written / 2**20))

# %% [markdown]
# ## Exercises
#
# Solutions are in `tests/test_notebook_04_exercises.py`, which checks them.
#
# 1. Write an inference-only checkpoint from a training checkpoint of the
#    classic ResNet-18: keep the weights and the moving statistics, drop
#    Adam's state and the global step. How much smaller is it, and does an
#    inference graph restored from it give the same logits as one restored
#    from the full checkpoint? Can `Classifier.load_weights` read it?
# 2. Start a 10-class `resnet_v2_50` for fine-tuning from a 1001-class slim
#    checkpoint: everything but the head from the file. Then check, by
#    comparing values, which of the model's variables came from the file
#    and which did not (and why each of those did not).
# 3. Given only a checkpoint file, tell which network wrote it and at what
#    depth, from its names and shapes: slim v1 or v2, or the classic class;
#    for the classic class, tell ResNet-34 from ResNet-50, whose stacks hold
#    the same numbers of blocks. Check your answers with
#    `checkpoints.recognise`.
