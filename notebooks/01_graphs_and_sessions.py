# %% [markdown]
# # Graphs and sessions with the classic `ResNet`
#
# In TensorFlow 1 a model is built first, as a graph of operations that
# compute nothing, and run afterwards, by a session that is handed the
# values to start from (`feed_dict`) and the results it must compute. This
# notebook takes the classic ResNet class through that cycle on
# TensorFlow 2.x: build it, look inside its graph, feed it, take training
# steps by hand, save and restore it, and find it in TensorBoard.
#
# It uses ResNet-18 on 16×16 handwritten digits (scikit-learn's, bundled,
# so nothing is downloaded) and runs in about a minute on two CPU cores.
# Every statement the text makes about a result is checked by an `assert`
# in the cell that computes it.

# %%
import atexit
import collections
import os
import shutil
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # before TensorFlow loads
import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v1_graph import ResNet
from resnet_v1_graph import data

tf.get_logger().setLevel('ERROR')
workdir = tempfile.mkdtemp(prefix='graphs-and-sessions-')
# What the cells below write there goes when the kernel stops.
atexit.register(shutil.rmtree, workdir, ignore_errors=True)
digits = data.load_digits(image_size=16)
images, labels = digits.train.arrays()
print('training images', images.shape, images.dtype,
      'in [%.0f, %.0f]' % (images.min(), images.max()))
print('first labels', labels[:10])

# %% [markdown]
# ## Building: a graph of its own, nothing computed
#
# `ResNet(...)` adds operations to a `tf.Graph` that belongs to the model.
# No number has been computed yet: the weights do not even have values
# until a session runs their initialisers. Because the graph is the
# model's own, two models (or a model and your own experiments) never
# collide in TensorFlow's global default graph.

# %%
# batch_norm_momentum 0.9 (the default is 0.997): with a few hundred
# steps, the moving averages must move fast enough to be of use.
model = ResNet(depth=18, height=16, width=16, channel=1, num_classes=10,
               batch_size=32, epoch=6, batch_norm_momentum=0.9,
               model_path=os.path.join(workdir, 'model'),
               summary_path=os.path.join(workdir, 'summary'), verbose=False)
graph = model.graph
print(len(graph.get_operations()), 'operations in the model graph')
print('the default graph is another one:',
      tf.get_default_graph() is not graph)
print('model.logits is a', type(model.logits).__name__,
      'of shape', model.logits.shape)

# %% [markdown]
# ## Name scopes: where the operations live
#
# Every operation has a path-like name. The top of the path is the name
# scope it was created in: the first convolution, four stacks of residual
# blocks, the dense layer, then what training added (gradients, Adam). The
# variables' own operations (their initial values and reads) sit under
# their variable scopes instead, such as `stack_0_block_0_conv_0`: more on
# that below.

# %%
scopes = collections.Counter(op.name.split('/')[0]
                             for op in graph.get_operations())
for scope, count in sorted(scopes.items(), key=lambda item: -item[1])[:12]:
  print('%6d  %s' % (count, scope))
stacks = sorted(scope for scope in scopes
                if scope.startswith('stack_') and scope[6:].isdigit())
print('stacks:', stacks)
print('variable scopes of stack_0:',
      sorted(scope for scope in scopes if scope.startswith('stack_0_')))
assert stacks == ['stack_0', 'stack_1', 'stack_2', 'stack_3']

# %% [markdown]
# Variables are named differently. `tf.get_variable` ignores name scopes
# and follows variable scopes only, so the kernel of the first
# convolution of stack 3's first block is `stack_3_block_0_conv_0/kernel`,
# not `stack_3/stack_3_block_0/...`. Those variable names are what a
# checkpoint stores, so they are the names that must never change.

# %%
trainable = graph.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES)
for variable in trainable[:6]:
  print('%-36s %s' % (variable.op.name, variable.shape))
parameters = sum(int(np.prod(v.shape)) for v in trainable)
print(len(trainable), 'trainable variables,', parameters, 'parameters')

# %% [markdown]
# ## Placeholders and `feed_dict`
#
# The inputs are placeholders. The classic class used plain ones that had
# to be fed at every step; here they are *placeholders with a default*:
# while `fit` trains, their defaults stream batches from a `tf.data`
# pipeline (chosen by `dataset_handle`), and whatever you feed replaces the
# default. `is_training` defaults to False, so a forgotten feed gives
# inference, never a silent training-mode batch norm.

# %%
for op in graph.get_operations():
  if op.type in ('Placeholder', 'PlaceholderWithDefault'):
    print('%-14s %-24s %s' % (op.name, op.type, op.outputs[0].shape))

# %% [markdown]
# A session holds the variables' values. It runs the initialisers once,
# then anything in the graph: here the logits of four images, fed through
# `input_x`. Fed `is_training: True`, batch norm normalises with the
# statistics of this batch instead of its moving averages, and the logits
# change.

# %%
session = tf.Session(graph=graph)
with graph.as_default():
  session.run(tf.global_variables_initializer())
batch_x, batch_y = images[:32], np.eye(10)[labels[:32]]
inference = session.run(model.logits, {model.input_x: batch_x[:4]})
training = session.run(model.logits, {model.input_x: batch_x[:4],
                                      model.is_training: True})
print('logits', inference.shape)
print('predictions', session.run(model.prediction,
                                 {model.input_x: batch_x[:4]}))
print('largest change from batch statistics: %.3f'
      % np.abs(training - inference).max())
assert not np.allclose(training, inference)

# %% [markdown]
# ## Training steps by hand
#
# `model.optimize` is one training step: Adam's update of every weight,
# grouped with batch norm's moving-average updates and the increment of
# `global_step`. Running it 20 times on one batch should drive that
# batch's loss down, count 20 steps, and move the moving means away from
# their initial zeros. (Forgetting to run the moving-average updates with
# the train op is the classic batch-norm mistake: the model then trains
# well and predicts badly. The second notebook shows it.)

# %%
feed = {model.input_x: batch_x, model.input_y: batch_y,
        model.is_training: True}
losses = [session.run([model.optimize, model.loss], feed)[1]
          for _ in range(20)]
step = session.run(model.global_step)
print('global_step', step, '| loss %.3f -> %.3f' % (losses[0], losses[-1]))
moving_mean, = [v for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)
                 if v.op.name == 'First_Conv_BN/moving_mean']
print('First_Conv_BN/moving_mean[:4]', session.run(moving_mean)[:4])
assert step == 20 and losses[-1] < 0.5 * losses[0]
assert np.abs(session.run(moving_mean)).max() > 0

# %% [markdown]
# The learning rate is a tensor too: Adam's rate decays exponentially in
# `global_step` (staircase), which is why `optimize` must increment the
# step. Without `global_step` passed to `minimize`, it never decays.

# %%
print('learning rate at step %d: %g' % (step,
                                        session.run(model.learning_rate)))

# %% [markdown]
# ## Saving and restoring
#
# A `tf.train.Saver` writes every variable's value under its name. A new
# session restoring the checkpoint computes the same logits as the
# session that saved it, to the last bit.

# %%
with graph.as_default():  # the saver's ops join the model's graph
  saver = tf.train.Saver()
  path = saver.save(session, os.path.join(workdir, 'by_hand', 'model.ckpt'),
                    global_step=step)
print('saved', os.path.basename(path))
stored = tf.train.list_variables(path)
print(len(stored), 'tensors in the checkpoint, e.g.', stored[:3])
expected = session.run(model.logits, {model.input_x: batch_x[:4]})
session.close()

restored = tf.Session(graph=graph)
with graph.as_default():
  saver.restore(restored, path)
again = restored.run(model.logits, {model.input_x: batch_x[:4]})
print('same logits after restore:', np.array_equal(expected, again))
assert np.array_equal(expected, again)
restored.close()

# %% [markdown]
# ## The class's own loop
#
# `fit` does all of the above for you: it streams the training split
# through the pipeline, runs `optimize`, validates each epoch, and saves the
# latest and the best checkpoints under `model_path`. `evaluate` restores
# the best and scores a split.

# %%
history = model.fit(digits.train, digits.validation)
metrics = model.evaluate(digits.test)
print('validation accuracy by epoch', ['%.3f' % a
                                       for a in history['val_accuracy']])
print('test accuracy %.4f' % metrics['accuracy'])
assert metrics['accuracy'] > 0.8

# %% [markdown]
# ## TensorBoard's graph view
#
# `tf.summary.FileWriter` with a graph writes it to an event file.
# `tensorboard --logdir <that directory>` then draws it under *Graphs*:
# each name scope is a box you can open, so `First_Conv`, `stack_0` …
# `stack_3` and `dense` appear as the network's outline, with
# `gradients` and `Adam` beside them.

# %%
logdir = os.path.join(workdir, 'graph')
with graph.as_default():  # FileWriter is graph-mode TensorFlow
  tf.summary.FileWriter(logdir, graph).close()
print(os.listdir(logdir))

# %% [markdown]
# ## Exercises
#
# Solutions are in `tests/test_notebook_01_exercises.py`, which checks
# them.
#
# 1. How many trainable variables and parameters does `stack_2` hold,
#    block by block? Why do its two blocks differ?
# 2. Run 20 steps of `optimize` with `is_training` fed False. Which
#    variables change, and which stay as they were? Why?
# 3. Restore only the stem (`First_Conv` and its batch norm) from the
#    checkpoint saved above into a fresh ResNet-18 with 5 classes, and show
#    that its stem now equals the saved one while its dense layer has a
#    new shape.
