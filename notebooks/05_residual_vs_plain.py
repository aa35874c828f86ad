# %% [markdown]
# # Residual vs plain: the degradation problem
#
# He et al. (2015, section 4.2) trained *plain* convolutional networks of
# 20 and 56 layers on CIFAR-10 and found that the deeper one ends with a
# higher **training** error. Overfitting cannot explain that, since the
# deeper net does worse on the very data it is fitted to. Nor can a lack of
# capacity: copy the 20-layer net's weights into 20 of the 56 layers and
# make the other 36 identities, and you have a 56-layer net that is as
# good. The optimiser fails to find such a solution. The residual twin has
# the same layers and parameters plus identity shortcuts, `x + F(x)`, and
# it does not degrade.
#
# This notebook reproduces that comparison with the paper's CIFAR networks
# from the registry (`cifar_plain20`, `cifar_plain56`, `cifar_resnet56`),
# trained on scikit-learn's bundled digits at their native 8×8 size. Then
# it looks inside the networks before any training to see *why* the plain
# stack is hard to train. The whole notebook runs in about a minute on two
# CPU cores. `scripts/plain_vs_residual.py` runs the full
# experiment (more epochs, both depths of both kinds, several seeds).
# Every statement the text makes about a result is checked by an `assert`
# in the cell that computes it.

# %%
import atexit
import collections
import glob
import io
import os
import re
import shutil
import tempfile
import time
import types

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # before TensorFlow loads
from IPython.display import Image
from IPython.display import SVG
from matplotlib import figure as figure_lib
import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v1_graph import build
from resnet_v1_graph import config
from resnet_v1_graph import data
from resnet_v1_graph import optimization
from resnet_v1_graph.nets import degradation
from resnet_v1_graph.nets import registry
from resnet_v1_graph.tools import drawing
from resnet_v1_graph.tools import structure
from resnet_v1_graph.training import rundir

tf.get_logger().setLevel('ERROR')
workdir = tempfile.mkdtemp(prefix='residual-vs-plain-')
# What the cells below write there goes when the kernel stops.
atexit.register(shutil.rmtree, workdir, ignore_errors=True)
SIZE = 8  # the digits' own resolution: nothing is interpolated
LEARNING_RATE = 1e-3
digits = data.load_digits(image_size=SIZE)
images, labels = digits.train.arrays()
print('training images', images.shape, '| validation',
      digits.validation.num_examples, '| test', digits.test.num_examples)


def show(figure):
  """Shows a matplotlib Figure inline as a small PNG."""
  buffer = io.BytesIO()
  figure.savefig(buffer, format='png', dpi=72)
  return Image(data=buffer.getvalue())


# %% [markdown]
# ## Twins: the same layers, the same parameters
#
# `degradation.cifar_resnet_logits` builds the networks of section 4.2: a
# 3×3 convolution with 16 filters, three stages of *n* blocks of two 3×3
# convolutions (16, 32, 64 filters; the first block of stages 2 and 3
# halves the map), global average pooling and a dense layer. That makes
# 6n + 2 weighted layers, 56 for n = 9. `shortcuts=False` (the registry's
# `cifar_plain*` entries) leaves out the shortcuts and nothing else.
#
# Below, each network is built in a graph of its own, at its initial
# weights, together with what the second half of this notebook measures:
# the loss of one batch and its gradient for every weighted layer, computed
# in the graph by `tf.gradients`. The residual and the plain net hold the
# same variables, with the same names and shapes.

# %%
def at_init(name, seed=0):
  """Network `name` of the registry at its initial weights.

  Returns a namespace: its graph and open session, the placeholders
  `images` and `labels`, `logits`, the batch's `loss`, the `kernels` of its
  weighted layers in order (stem, 2 per block, dense), their `gradients`,
  and `nudge`, an op that adds the fed `delta` to the first kernel.
  """
  graph = tf.Graph()
  with graph.as_default():
    tf.set_random_seed(seed)
    images = tf.placeholder(tf.float32, [None, SIZE, SIZE, 1], name='images')
    labels = tf.placeholder(tf.int64, [None], name='labels')
    # True: batch norm normalises with the batch's own statistics, as it
    # does in every training step.
    logits = registry.get(name).logits_fn(images, True, 10)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits))
    kernels = [v for v in tf.trainable_variables()
               if v.op.name.endswith('/kernel')]
    gradients = tf.gradients(loss, kernels)
    delta = tf.placeholder(tf.float32, kernels[0].shape, name='delta')
    nudge = tf.assign_add(kernels[0], delta)
    session = tf.Session(graph=graph)
    session.run(tf.global_variables_initializer())
  return types.SimpleNamespace(
      name=name, graph=graph, session=session, images=images, labels=labels,
      logits=logits, loss=loss, kernels=kernels, gradients=gradients,
      delta=delta, nudge=nudge)


def forward_ops(net):
  """The ops of the network itself, not of its gradient."""
  return [op for op in net.graph.get_operations()
          if not op.name.startswith('gradients')]


nets = {name: at_init(name) for name in ('cifar_plain20', 'cifar_plain56',
                                          'cifar_resnet56')}
shapes = {}
for name, net in nets.items():
  with net.graph.as_default():
    trainable = tf.trainable_variables()
  shapes[name] = {v.op.name: tuple(v.shape.as_list()) for v in trainable}
  weighted = [op for op in forward_ops(net)
              if op.type in ('Conv2D', 'MatMul')]
  print('%-15s %2d weighted layers, %3d trainable variables, %7d parameters'
        % (name, len(weighted), len(trainable),
           sum(np.prod(shape) for shape in shapes[name].values())))
  blocks = degradation.CIFAR_BLOCKS[registry.get(name).depth]
  assert len(weighted) == len(net.kernels) == 6 * blocks + 2
assert shapes['cifar_plain56'] == shapes['cifar_resnet56']

# %% [markdown]
# The shortcuts are the paper's *option A*: where a block keeps its shape,
# the shortcut is the identity; where it halves the map and doubles the
# channels, the shortcut takes every second pixel and pads the new channels
# with zeros. Neither needs a weight. In the graph the shortcuts of
# ResNet-56 are nothing but one addition per block, and a slice and a pad
# at the two stage changes. (The constants are the slice's bounds and
# strides and the pad's widths.)

# %%
shortcut_ops = [op for op in forward_ops(nets['cifar_resnet56'])
                if '/shortcut_connect/' in op.name]
kinds = collections.Counter(op.type for op in shortcut_ops)
print(dict(kinds))
assert kinds['AddV2'] == 3 * degradation.CIFAR_BLOCKS[56]
assert kinds['Pad'] == kinds['StridedSlice'] == 2
assert not [op for op in shortcut_ops if 'Variable' in op.type]

# %% [markdown]
# `drawing.render` draws a network's structure as read from the graph it
# builds. Here is ResNet-20 (n = 3) at 8×8 with one channel: the brackets
# on the right are its shortcuts, dash-dotted where they subsample and
# pad. The structure read from `cifar_plain20` has the same units and
# layers and no shortcuts: its picture is the same without the brackets.

# %%
picture = os.path.join(workdir, 'cifar_resnet20.svg')
resnet20 = structure.read_structure('cifar_resnet20', image_size=SIZE,
                                    channels=1)
drawing.render(resnet20, picture)
svg = open(picture, encoding='utf-8').read()
# Shown at 60% of its size: the width and height attributes set the scale.
svg = re.sub(r'(width|height)="([\d.]+)pt"',
             lambda m: '%s="%.0fpt"' % (m.group(1), 0.6 * float(m.group(2))),
             svg, count=2)
plain20 = structure.read_structure('cifar_plain20', image_size=SIZE,
                                   channels=1)
print('resnet-20 shortcuts', [unit.shortcut for unit in resnet20.units])
print('plain-20 shortcuts ', [unit.shortcut for unit in plain20.units])
assert [u.layers for u in plain20.units] == [u.layers for u in resnet20.units]
assert {unit.shortcut for unit in plain20.units} == {structure.NO_SHORTCUT}
assert [stage.units[-1].output_shape for stage in resnet20.stages] == [
    (8, 8, 16), (4, 4, 32), (2, 2, 64)]
SVG(svg)

# %% [markdown]
# ## Training the plain nets and the residual one
#
# The three networks are trained with the same budget: three epochs of
# batches of 64 with Adam at 1e-3 and graph seed 0, through the same
# `fit` as every other network of the registry: 60 steps in all.
# `batch_norm_momentum=0.9` lets batch norm's moving averages (which
# validation uses) follow the batches within those 60 steps; with the
# default, 0.997, they would keep most of their initial values. The
# *training error* is the script's: one minus the mean accuracy of the
# training batches of the last epoch, with batch norm in training mode.
#
# Each training step also wrote its loss to the run's TensorBoard events;
# the curves below read them back.

# %%
def step_losses(model):
  """(steps, losses) of every training step, from the run's events."""
  directory = model.trainer.run.summary_dir(rundir.TRAIN_SUMMARIES)
  points = {}
  for path in glob.glob(os.path.join(directory, 'events.*')):
    for event in tf.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == 'loss':
          points[event.step] = value.simple_value
  steps = sorted(points)
  return np.array(steps), np.array([points[step] for step in steps])


histories, curves = {}, {}
for name in ('cifar_plain20', 'cifar_plain56', 'cifar_resnet56'):
  started = time.time()
  model = build(name, height=SIZE, width=SIZE, channel=1, num_classes=10,
                epoch=3, batch_size=64, learning_rate=LEARNING_RATE,
                learning_decay_steps=10 ** 6, seed=0,
                batch_norm_momentum=0.9,
                model_path=os.path.join(workdir, name, 'model'),
                summary_path=os.path.join(workdir, name, 'summary'),
                verbose=False)
  histories[name] = history = model.fit(digits.train, digits.validation)
  curves[name] = step_losses(model)
  model.close()
  print('%-15s training error by epoch %s | validation accuracy %.3f | '
        '%.0f s' % (name, ['%.3f' % (1 - a) for a in
                           history['train_accuracy']],
                    history['val_accuracy'][-1], time.time() - started))
  assert history['step'][-1] == 3 * -(-len(images) // 64) == 60
  assert list(curves[name][0]) == list(range(1, 61))
error = {name: 1 - h['train_accuracy'][-1] for name, h in histories.items()}
validation = {name: h['val_accuracy'][-1] for name, h in histories.items()}

# %% [markdown]
# Plain-56 ends with a training error more than 50 points above plain-20's,
# and its validation accuracy stays below 30% (chance is 10%). Its
# residual twin, with the same layers and parameters, ends below 5% training
# error, lower even than plain-20, and above 90% on validation.

# %%
figure = figure_lib.Figure(figsize=(9, 3.1))
loss_axis, error_axis = figure.subplots(1, 2)
for name, history in histories.items():
  style = '--' if 'plain' in name else '-'
  line, = loss_axis.plot(*curves[name], style, label=name, linewidth=1)
  error_axis.plot(history['epoch'], 1 - np.array(history['train_accuracy']),
                  style + 'o', color=line.get_color(), label=name)
loss_axis.set(title='training loss per step', xlabel='step', yscale='log')
error_axis.set(title='training error per epoch (dashed: plain)',
               xlabel='epoch', yscale='log', xticks=[1, 2, 3])
for axis in (loss_axis, error_axis):
  axis.grid(alpha=0.3)
  axis.legend(fontsize=8)
figure.tight_layout()
print('final training error',
      ', '.join('%s %.4f' % item for item in error.items()))
assert error['cifar_plain56'] > error['cifar_plain20'] + 0.5
assert validation['cifar_plain56'] < 0.3
assert error['cifar_resnet56'] < min(0.05, error['cifar_plain20'])
assert validation['cifar_resnet56'] > 0.9
show(figure)

# %% [markdown]
# ## Why: the plain stack before any training
#
# A first guess is that the signal or its gradient fades away through 56
# layers. The paper rules that out, and so does batch norm: after every
# convolution it rescales the activations to unit variance, so the forward
# signal cannot vanish (exercise 2 measures it). What about the gradient?
#
# The plot below gives, for each weighted layer of the three networks at
# initialisation, the norm of the loss's gradient divided by the norm of
# the layer's weights, on one batch of 64 training images. The ratio is the
# meaningful size of a gradient here: a convolution followed by batch norm
# computes the same function when its kernel is scaled, so only the change
# *relative* to the kernel matters.
#
# The gradient does not vanish through the plain stack; it **grows**,
# by about the same factor per layer in plain-20 and plain-56, so that in
# plain-56 it compounds to more than a thousand from the last convolution
# back to the first. Through the residual stack it stays within a factor
# of 100, and plain-56's first layer gets more than 50 times the relative
# gradient of resnet-56's.

# %%
batch = {'images': images[:64], 'labels': labels[:64]}
relative = {}
for name, net in nets.items():
  feed = {net.images: batch['images'], net.labels: batch['labels']}
  weights, grads = net.session.run([net.kernels, net.gradients], feed)
  relative[name] = np.array([np.linalg.norm(g) / np.linalg.norm(w)
                             for g, w in zip(grads, weights)])

figure = figure_lib.Figure(figsize=(7, 3.2))
axis = figure.subplots()
for name, values in relative.items():
  axis.plot(range(1, len(values) + 1), values,
            '--' if 'plain' in name else '-', marker='.', label=name)
axis.set(title='|gradient| / |weights| at initialisation',
         xlabel='weighted layer (1 = first convolution; last = dense)',
         yscale='log')
axis.grid(alpha=0.3)
axis.legend(fontsize=8)
figure.tight_layout()

# First convolution against last convolution (the dense layer has no batch
# norm after it, so its ratio means something else).
growth = {name: values[0] / values[-2] for name, values in relative.items()}
per_layer = {name: growth[name] ** (1 / (len(relative[name]) - 2))
             for name in relative}
for name in relative:
  print('%-15s first conv %8.2f | last conv %.3f | growth %8.1f '
        '= %.3f per layer' % (name, relative[name][0], relative[name][-2],
                              growth[name], per_layer[name]))
assert growth['cifar_plain56'] > 1000 and growth['cifar_resnet56'] < 100
assert abs(per_layer['cifar_plain56'] - per_layer['cifar_plain20']) < 0.1
assert min(per_layer['cifar_plain20'], per_layer['cifar_plain56']) > 1.1
assert (relative['cifar_plain56'][0] >
        50 * relative['cifar_resnet56'][0])
show(figure)

# %% [markdown]
# ## What such a gradient does to a step
#
# A gradient that large is a sign of a chaotic function: a tiny change of
# the first layer's weights moves the output a lot, and not in the way the
# gradient predicts. Adam's first step makes this concrete. Its update is
# `lr · m̂ / (√v̂ + ε)`, and after one gradient `m̂ / √v̂` is the gradient's
# sign, so every weight moves by `lr` = 0.001 against its gradient,
# whatever the gradient's size. A graph with one variable of three weights
# and the project's Adam (`optimization.optimizer`, at the `Config`
# defaults) shows it: gradients of 0.001, 5 and -40 move their weights by
# 0.001 each, against the gradient.

# %%
with tf.Graph().as_default():
  toy = tf.Variable([0.5, -2., 3.])
  toy_loss = tf.reduce_sum(toy * tf.constant([1e-3, 5., -40.]))
  adam = optimization.optimizer(config.DEFAULTS, LEARNING_RATE)
  train = adam.minimize(toy_loss)
  with tf.Session() as session:
    session.run(tf.global_variables_initializer())
    before = session.run(toy)
    session.run(train)
    moved = session.run(toy) - before
print('Adam\'s first step moved the weights by', moved)
np.testing.assert_allclose(moved, [-1e-3, -1e-3, 1e-3], rtol=1e-3)

# %% [markdown]
# Take that step on the first convolution alone and compare the loss
# change the gradient predicts (gradient · step) with the change that
# happens. In resnet-56 the prediction is good: the loss drops by at least
# half the predicted amount. In plain-56 the gradient promises a drop of
# more than 5 nats, and the loss *rises* instead. Its logits move by more
# than half as much as they differ between the images of the batch,
# against less than a fifth in resnet-56. Every step in plain-56's early
# layers scrambles what the later layers had learned to read, so training
# makes little progress.

# %%
step_effects = {}
for name, net in nets.items():
  feed = {net.images: batch['images'], net.labels: batch['labels']}
  loss, logits, grad = net.session.run(
      [net.loss, net.logits, net.gradients[0]], feed)
  step = -LEARNING_RATE * np.sign(grad)  # Adam's first step, this layer
  net.session.run(net.nudge, {net.delta: step})
  loss_after, logits_after = net.session.run([net.loss, net.logits], feed)
  net.session.run(net.nudge, {net.delta: -step})
  step_effects[name] = {
      'predicted': float(np.sum(grad * step)),
      'actual': float(loss_after - loss),
      # The logits' change against how much they differ between images.
      'logits_moved': float(np.linalg.norm(logits_after - logits) /
                            np.linalg.norm(logits - logits.mean(axis=0)))}
  print('%-15s loss change predicted %+8.3f, actual %+.3f | logits moved '
        '%.2f of their spread' % (name, *step_effects[name].values()))
plain, residual = step_effects['cifar_plain56'], step_effects['cifar_resnet56']
assert plain['predicted'] < -5 and plain['actual'] > 0
assert residual['predicted'] < 0
assert residual['actual'] < 0.5 * residual['predicted']
assert plain['logits_moved'] > 0.5 and residual['logits_moved'] < 0.2
for net in nets.values():
  net.session.close()

# %% [markdown]
# ## What the shortcut changes
#
# A plain block maps `x` to `F(x)`, so the derivative of the stack is the
# product of 27 block Jacobians. At initialisation each layer amplifies
# perturbations by the factor measured above, and the product amplifies
# them enormously. A residual block maps `x` to `x + F(x)`, whose Jacobian
# is `I + F'(x)`. The product of 27 such terms expands into a sum over
# paths that skip any subset of the blocks, most of them short: every
# layer has a direct path to the loss, and no path is forced through all
# 54 convolutions of the blocks. And each block only has to learn a
# correction to its input: with `F` near zero a block is the identity, the
# construction of the introduction, which a plain stack has to learn
# layer by layer.
#
# The parameters are the same; what differs is the function the optimiser
# starts from and how well its gradient predicts a step. To see the whole
# experiment (both depths of both kinds, more epochs, several seeds, and
# the verdict rule), run `python scripts/plain_vs_residual.py`; see
# `docs/plain_vs_residual.md` for its results.

# %% [markdown]
# ## Exercises
#
# Solutions are in `tests/test_notebook_05_exercises.py`, which checks
# them.
#
# 1. Count the weighted layers of `cifar_resnet20` and its trainable
#    parameters by hand (32×32 RGB input, 10 classes: 3×3 kernels without
#    biases, batch norm's gamma and beta, a dense layer with bias), as a
#    function of *n*. Check your formula against the graphs of ResNet-20,
#    -32 and -56 and their plain twins.
# 2. Measure the standard deviation of each block's output at
#    initialisation (batch norm in training mode, one batch of digits) in
#    `cifar_plain56` and `cifar_resnet56`. Does the plain stack's signal
#    shrink? Why does the residual stack's grow?
# 3. `scripts/plain_vs_residual.py` says degradation is shown when the
#    deep plain net's final training error exceeds the shallow plain net's
#    by more than `DEGRADATION_MARGIN` (one point) while the deep residual
#    net's does not exceed the shallow residual net's by more. A 3-epoch
#    run at 8×8 ended with training errors of 0.034 (plain-20), 0.850
#    (plain-56), 0.002 (resnet-20) and 0.013 (resnet-56). Apply the
#    script's `summarize` to these numbers. What is its verdict, and why?
#    What would a 2-point margin say?
