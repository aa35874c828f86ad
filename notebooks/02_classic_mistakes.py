# %% [markdown]
# # The classic mistakes of graph-mode TensorFlow, shown and fixed
#
# Graph mode separates describing a computation from running it, and
# several well-known bugs live in that gap: the code reads correctly, runs
# without an error, and computes the wrong thing. The widely copied TF1
# ResNet class had most of them (README, "Differences from the classic
# code"). This notebook reproduces each in a small network, shows the
# wrong number it produces, fixes it, and shows the right number:
#
# 1. batch norm's moving averages that never move (`UPDATE_OPS`);
# 2. `is_training` as a Python bool instead of a tensor;
# 3. `argmax` over the wrong axis;
# 4. a learning-rate decay that never decays (no `global_step`);
# 5. `global_variables_initializer()` run after a restore;
# 6. a restore that fails because variable names were numbered
#    automatically.
#
# Each mistake is one changed line in an otherwise identical program. The
# network is three convolutions with batch norm on 16×16 digits
# (scikit-learn's, bundled), trained for 300 steps in about two seconds,
# so every comparison is between whole training runs. The notebook takes
# well under a minute on two CPU cores, and every number the text states
# is checked by an `assert` in the cell that computes it.

# %%
import atexit
import os
import shutil
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # before TensorFlow loads
import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v1_graph import data
from resnet_v1_graph.nets import layers

tf.get_logger().setLevel('ERROR')
workdir = tempfile.mkdtemp(prefix='classic-mistakes-')
# What the cells below write there goes when the kernel stops.
atexit.register(shutil.rmtree, workdir, ignore_errors=True)
digits = data.load_digits(image_size=16)
train_x, train_y = digits.train.arrays()
test_x, test_y = digits.test.arrays()
CHANCE = 1 / 10
print('train', train_x.shape, '| test', test_x.shape)

# %% [markdown]
# The network and a training loop, written the TF1 way. `small_net` takes
# `is_training` as given, a Python bool or a boolean tensor, and passes it
# to every batch norm. `name_layers=False` leaves the layers' names to
# TensorFlow (`conv2d`, `conv2d_1`, …), which matters for mistake 6.
# `train` builds a graph, trains it for 300 steps of 64 images with Adam,
# and returns the graph's named tensors and its still-open session, so
# each experiment can then be asked what it learned.

# %%
STEPS, BATCH = 300, 64


def small_net(images, is_training, name_layers=True):
  net = images
  for i, (filters, stride) in enumerate([(16, 1), (32, 2), (64, 2)]):
    net = layers.conv2d(net, filters, 3, strides=stride, padding='same',
                        name='conv%d' % i if name_layers else None)
    net = layers.batch_normalization(
        net, training=is_training, momentum=0.9,
        name='bn%d' % i if name_layers else None)
    net = tf.nn.relu(net)
  net = tf.reduce_mean(net, [1, 2])
  return layers.dense(net, 10, name='logits' if name_layers else None)


def train(is_training='placeholder', run_update_ops=True,
          pass_global_step=True, name_layers=True, seed=0):
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(seed)
    t = {'images': tf.placeholder(tf.float32, [None, 16, 16, 1]),
         'labels': tf.placeholder(tf.int64, [None])}
    if is_training == 'placeholder':
      # Inference unless fed True: a forgotten feed cannot train.
      is_training = tf.placeholder_with_default(False, [], 'is_training')
      t['is_training'] = is_training
    t['logits'] = small_net(t['images'], is_training, name_layers)
    t['loss'] = tf.losses.sparse_softmax_cross_entropy(t['labels'],
                                                       t['logits'])
    t['global_step'] = tf.train.get_or_create_global_step()
    t['learning_rate'] = tf.train.exponential_decay(
        0.01, t['global_step'], decay_steps=100, decay_rate=0.5,
        staircase=True)
    optimizer = tf.train.AdamOptimizer(t['learning_rate'])
    step = t['global_step'] if pass_global_step else None
    if run_update_ops:
      with tf.control_dependencies(
          tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        t['train_op'] = optimizer.minimize(t['loss'], global_step=step)
    else:
      t['train_op'] = optimizer.minimize(t['loss'], global_step=step)
    t['prediction'] = tf.argmax(t['logits'], 1)
    t['init'] = tf.global_variables_initializer()
    t['saver'] = tf.train.Saver()
  session = tf.Session(graph=graph)
  session.run(t['init'])
  rng = np.random.RandomState(seed)
  for _ in range(STEPS):
    batch = rng.randint(0, len(train_x), BATCH)
    feed = {t['images']: train_x[batch], t['labels']: train_y[batch]}
    if 'is_training' in t:
      feed[t['is_training']] = True
    session.run(t['train_op'], feed)
  return graph, t, session


def accuracy(session, t, images=test_x, labels=test_y, feed=None):
  feed = dict(feed or {})
  feed[t['images']] = images
  return float(np.mean(session.run(t['prediction'], feed) == labels))


def moving(graph, session, name):
  variable, = [v for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)
               if v.op.name == name]
  return session.run(variable)

# %% [markdown]
# ## The reference: every line right
#
# Batch norm gets a boolean placeholder fed True while training; the train
# op depends on `UPDATE_OPS`; `minimize` gets `global_step`. This is what
# the other runs are measured against.

# %%
graph, right, session = train()
right_accuracy = accuracy(session, right)
print('test accuracy %.3f' % right_accuracy)
print('bn0/moving_mean[:4]', moving(graph, session, 'bn0/moving_mean')[:4])
assert right_accuracy > 0.95

# %% [markdown]
# ## 1. Batch norm's moving averages never move
#
# In training mode batch norm normalises with the mean and variance of the
# current batch, and it *also* creates two assignment ops that move its
# moving averages towards them. Nothing runs those ops: graph mode runs
# only what the fetched op depends on, and the train op does not depend on
# them. `tf.layers`-style batch norm (ours too) puts them in the
# `UPDATE_OPS` collection and leaves it to you to make the train op wait
# for them. Forget that, and training goes perfectly well while the moving
# averages keep their initial values, mean 0 and variance 1. At inference
# batch norm uses those, so it normalises nothing, and every layer sees
# activations on a scale it never saw in training
# (tensorflow/tensorflow#11965, #10118, #1122).

# %%
graph, forgot, session = train(run_update_ops=False)
update_ops = graph.get_collection(tf.GraphKeys.UPDATE_OPS)
print(len(update_ops), 'ops in UPDATE_OPS, none of them run')
print('bn0/moving_mean[:4]', moving(graph, session, 'bn0/moving_mean')[:4])
print('bn0/moving_variance[:4]',
      moving(graph, session, 'bn0/moving_variance')[:4])
in_training_mode = accuracy(session, forgot, feed={forgot['is_training']: True})
forgot_accuracy = accuracy(session, forgot)
print('test accuracy with batch statistics: %.3f' % in_training_mode)
print('test accuracy at inference:          %.3f' % forgot_accuracy)
assert len(update_ops) == 6  # a mean and a variance per batch norm
assert not moving(graph, session, 'bn0/moving_mean').any()
assert np.all(moving(graph, session, 'bn0/moving_variance') == 1)
assert in_training_mode > 0.95 and forgot_accuracy < 3 * CHANCE

# %% [markdown]
# The model learned (with batch statistics it scores as well as the
# reference); only its inference mode is broken, and it is near chance
# (10%). The
# fix is the `tf.control_dependencies(tf.get_collection(UPDATE_OPS))`
# around `minimize` that the reference has. (slim's `create_train_op` and
# Keras do this for you; raw graph code must say it.)

# %% [markdown]
# ## 2. `is_training` as a Python bool
#
# Batch norm's `training` decides, when the graph is built, which
# statistics it uses. A Python bool fixes that choice for the graph's
# whole life. The classic code passed `True` (or left the default, False)
# once, and then both training and inference used the same mode.
#
# **Built with True**, inference normalises each batch with its own
# statistics, so a prediction depends on which other images share its
# batch. Scored on the whole test set at once, the net looks as good as the
# reference; asked about one image at a time, as a service would ask it,
# it is near chance.

# %%
graph, always_true, session = train(is_training=True)
whole_batch = accuracy(session, always_true)
one_by_one = float(np.mean([
    accuracy(session, always_true, test_x[i:i + 1], test_y[i:i + 1])
    for i in range(100)]))
print('test set in one batch: %.3f' % whole_batch)
print('first 100 test images one at a time: %.3f' % one_by_one)
assert whole_batch > 0.95 and one_by_one < 3 * CHANCE

# %% [markdown]
# **Built with False** (the default of `tf.layers` and ours), batch norm
# never normalises by a batch: training also uses the moving averages, and
# since no op in the graph updates them they stay 0 and 1. Batch norm
# shrinks to a learned scale and shift; the net trains as a net without
# batch norm, and worse than the reference.

# %%
graph, always_false, session = train(is_training=False)
never_trained = accuracy(session, always_false)
print('UPDATE_OPS:', graph.get_collection(tf.GraphKeys.UPDATE_OPS))
print('test accuracy %.3f, the reference %.3f' % (never_trained,
                                                  right_accuracy))
assert graph.get_collection(tf.GraphKeys.UPDATE_OPS) == []
assert never_trained < right_accuracy

# %% [markdown]
# The fix is the reference's: a boolean tensor (a placeholder with default
# False, fed True by the training loop). Then the same image gets the same
# class alone or in a batch:

# %%
graph, right, session = train()
one_by_one_right = float(np.mean([
    accuracy(session, right, test_x[i:i + 1], test_y[i:i + 1])
    for i in range(100)]))
print('first 100 test images one at a time: %.3f' % one_by_one_right)
assert one_by_one_right > 0.95

# %% [markdown]
# ## 3. `argmax` over the wrong axis
#
# Logits have the shape `[batch, classes]`. `tf.argmax(logits, 1)` picks a
# class for each image. The classic code wrote `tf.argmax(logits, 0)`,
# which picks, for each class, the image of the batch that scores it
# highest: a vector of 10 image indices, whatever the batch size. Compared
# against `tf.argmax(labels, 0)` (the same mistake on the one-hot labels)
# it yields a number in [0, 1] that looks like an accuracy and measures
# something else.

# %%
with graph.as_default():
  onehot = tf.one_hot(right['labels'], 10)
  wrong_axis = tf.argmax(right['logits'], 0)
  wrong_accuracy = tf.reduce_mean(tf.cast(
      tf.equal(wrong_axis, tf.argmax(onehot, 0)), tf.float32))
  wrong_shape = tf.shape(wrong_axis)
feed = {right['images']: test_x, right['labels']: test_y}
shape, wrong_value = session.run([wrong_shape, wrong_accuracy], feed)
right_value = accuracy(session, right)
print('argmax over axis 0 has shape', shape, 'for', len(test_x), 'images')
print('"accuracy" with axis 0: %.3f | with axis 1: %.3f'
      % (wrong_value, right_value))
assert list(shape) == [10] and wrong_value != right_value

# %% [markdown]
# A check that would have caught it: assert that a prediction has one
# entry per image, `tf.debugging.assert_equal(tf.shape(prediction)[0],
# tf.shape(logits)[0])`, or test `predict` on a batch whose size is not 10.

# %% [markdown]
# ## 4. A learning rate that never decays
#
# `tf.train.exponential_decay(0.01, global_step, 100, 0.5, staircase=True)`
# halves the rate every 100 steps of `global_step`. Something has to
# increment that step: `minimize(loss, global_step=global_step)` does, as
# part of the train op. The classic code called `minimize(loss)`, so after
# 300 steps the step still reads 0 and the rate is still 0.01.

# %%
graph, no_step, session = train(pass_global_step=False)
stuck = session.run([no_step['global_step'], no_step['learning_rate']])
graph, right, session = train()
counted = session.run([right['global_step'], right['learning_rate']])
print('without global_step: step %d, learning rate %g' % tuple(stuck))
print('with global_step:    step %d, learning rate %g' % tuple(counted))
assert stuck[0] == 0 and np.isclose(stuck[1], 0.01)
assert counted[0] == STEPS and np.isclose(counted[1], 0.01 * 0.5 ** 3)

# %% [markdown]
# The decay is not the only victim: checkpoints are numbered by
# `global_step`, so each save overwrites `model.ckpt-0`, and a resumed run
# cannot tell where it stopped.

# %% [markdown]
# ## 5. Initialising after restoring
#
# `Saver.restore` assigns the saved values to the variables. Running
# `tf.global_variables_initializer()` afterwards assigns the initial
# values again, silently. The classic `predict` did exactly that: restore,
# then initialise "to be safe", then predict with random weights.

# %%
with graph.as_default():  # the saver reads global_step in its graph
  path = right['saver'].save(session, os.path.join(workdir, 'model.ckpt'),
                             global_step=right['global_step'])
  restored = tf.Session(graph=graph)
  right['saver'].restore(restored, path)
after_restore = accuracy(restored, right)
restored.run(right['init'])
after_init = accuracy(restored, right)
print('restored: %.3f | restored, then initialised: %.3f'
      % (after_restore, after_init))
assert after_restore == accuracy(session, right)
assert after_init < 3 * CHANCE

# %% [markdown]
# The fix: a session either initialises (a new model) or restores (a
# trained one), never both. `MonitoredTrainingSession` and our `fit` and
# `predict` make that choice in one place.

# %% [markdown]
# ## 6. Names that depend on build order
#
# A checkpoint maps variable *names* to values. Layers created without a
# name are numbered in the order they are built: `conv2d`, `conv2d_1`, ….
# Any extra unnamed layer built earlier in another program (here, a 3×3
# filter in front of the net, which starts as the identity and is not
# trained) shifts every number by one, and the
# checkpoint no longer fits: the last layer's names do not exist in it,
# and the names that do exist belong to other layers.

# %%
graph, numbered, session = train(name_layers=False)
with graph.as_default():
  path = numbered['saver'].save(session,
                                os.path.join(workdir, 'numbered.ckpt'))
saved = {name: shape for name, shape in tf.train.list_variables(path)
         if name.startswith('conv2d') and '/Adam' not in name}
saved_names = set(saved)

elsewhere = tf.Graph()
with elsewhere.as_default():
  images = tf.placeholder(tf.float32, [None, 16, 16, 1])
  identity = np.zeros([3, 3, 1, 1], np.float32)
  identity[1, 1] = 1
  filtered = layers.conv2d(images, 1, 3, padding='same', trainable=False,
                           kernel_initializer=tf.constant_initializer(
                               identity))
  logits = small_net(filtered, False, name_layers=False)
  built = {v.op.name: v.shape.as_list() for v in tf.global_variables()
           if v.op.name.startswith('conv2d')}
  built_names = set(built)
  try:
    with tf.Session() as other:
      tf.train.Saver().restore(other, path)
    error = None
  except tf.errors.NotFoundError as caught:
    error = [line for line in caught.message.splitlines()
             if 'not found in checkpoint' in line][0]
print('in the checkpoint only:', sorted(saved_names - built_names))
print('in the new graph only: ', sorted(built_names - saved_names))
print('restore:', error)
misfits = sorted(name for name in saved_names & built_names
                 if saved[name] != built[name])
for name in misfits:
  print('same name, another layer: %-16s checkpoint %s, graph %s'
        % (name, saved[name], built[name]))
assert built_names - saved_names == {'conv2d_3/bias', 'conv2d_3/kernel'}
assert error is not None and 'conv2d_3/' in error
assert misfits == ['conv2d/bias', 'conv2d/kernel', 'conv2d_1/bias',
                   'conv2d_1/kernel', 'conv2d_2/bias', 'conv2d_2/kernel']

# %% [markdown]
# Worse than the error: had the shapes agreed, the restore would have
# succeeded, each layer loading its neighbour's weights. The fix is to
# name every layer (`name='conv0'`, or a `tf.variable_scope`), as the
# reference does, so a name says what a weight is, not when it was made.
# Our `checkpoints.diff` compares a checkpoint with a network before
# restoring and names what is missing, unexpected or of another shape.

# %% [markdown]
# ## Exercises
#
# Solutions are in `tests/test_notebook_02_exercises.py`, which checks
# them.
#
# 1. With momentum 0.9, feed one fixed batch through a training-mode
#    batch norm 10 times with its updates run. What is its moving mean
#    then, as a formula in the batch mean? Check it.
# 2. The restore of mistake 6 can be rescued without retraining: restore
#    the checkpoint into the shifted graph with a `Saver` given a
#    `{checkpoint name: variable}` dictionary, and show that it computes
#    the saved model's logits.
# 3. Make the learning rate drop tenfold after steps 100 and 200 with
#    `tf.train.piecewise_constant`, and read it at steps 100, 101, 200 and
#    201 of a real training run. At which steps has it dropped?
