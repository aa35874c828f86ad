# %% [markdown]
# # Slim's generator: blocks, `arg_scope` and atrous output strides
#
# tf-slim does not write ResNet-50, -101 and -152 as three networks. It
# writes one generator, `resnet_v2(inputs, blocks, ...)`, and describes each
# depth as data: a list of `Block`s, each a scope, a unit function and the
# arguments of its units. The layers' defaults (batch norm instead of
# biases, weight decay, batch norm's decay and epsilon) are not in that code
# either: they travel in an `arg_scope` around the call. And one argument,
# `output_stride`, turns the classifier into a dense feature extractor that
# uses the classifier's own weights.
#
# This notebook takes the generator apart with our `resnet_v2_slim`
# package, slim's ResNet rewritten on raw `tf.compat.v1` ops: `Block`,
# `resnet_arg_scope`, the v2 `bottleneck` unit, `stack_blocks_dense` and its
# stride planning, and the property that lets one checkpoint serve every
# `output_stride`. It works on a tiny network (bottlenecks of 2 to 16
# channels, as slim's own tests do) at 64×64, and looks at the real
# `resnet_v2_50` through its shapes only, so it runs in well under a minute
# on two CPU cores. Every statement the text makes about a result is checked
# by an `assert` in the cell that computes it.

# %%
import atexit
import contextlib
import os
import re
import shutil
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # before TensorFlow loads
import numpy as np
import tensorflow.compat.v1 as tf
import tf_slim
from IPython.display import SVG

from resnet_v1_graph.tools import drawing
from resnet_v2_slim import layers
from resnet_v2_slim import resnet_utils
from resnet_v2_slim import resnet_v2

tf.get_logger().setLevel('ERROR')
workdir = tempfile.mkdtemp(prefix='slim-generator-')
# What the cells below write there goes when the kernel stops.
atexit.register(shutil.rmtree, workdir, ignore_errors=True)
SIZE = 64  # height and width of the tiny network's inputs
print('TensorFlow', tf.__version__, '| work directory', workdir)

# %% [markdown]
# ## A network as data: `Block`
#
# A `Block` is a named tuple `(scope, unit_fn, args)`: the variable scope of
# one stage (`block1` … `block4`), the function that builds one unit, and
# one dict of keyword arguments per unit. ResNet-50's body is four of them.
# A deeper ResNet differs only in how many dicts each block holds, which is
# one table, `resnet_utils.UNITS_PER_BLOCK`. Note where the strides are: in
# the *last* unit of blocks 1 to 3, and nowhere in block 4. We come back to
# why.

# %%
blocks50 = resnet_v2.resnet_v2_blocks(50)
for block in blocks50:
  depths = sorted({(u['depth'], u['depth_bottleneck']) for u in block.args})
  print('%-7s %-11s %d units  (depth, bottleneck) %s  strides %s' % (
      block.scope, block.unit_fn.__name__, len(block.args), depths,
      [u['stride'] for u in block.args]))
print('units per block:', resnet_utils.UNITS_PER_BLOCK)
assert [len(b.args) for b in blocks50] == list(
    resnet_utils.UNITS_PER_BLOCK[50])
assert [[u['stride'] for u in b.args] for b in blocks50] == [
    [1, 1, 2], [1, 1, 1, 2], [1, 1, 1, 1, 1, 2], [1, 1, 1]]

# %% [markdown]
# Because the architecture is data, a network of our own is a list we
# write by hand. The tiny network below has ResNet-50's shape (four blocks,
# strides 2, 2, 2 and 1 in their last units) with two units per block and
# bottlenecks of 2, 4, 8 and 16 channels. Each unit outputs four times its
# bottleneck. `resnet_v2.resnet_v2_block` writes the same list.

# %%
def unit(depth_bottleneck, stride=1):
  """The arguments of one v2 bottleneck unit."""
  return {'depth': 4 * depth_bottleneck, 'depth_bottleneck': depth_bottleneck,
          'stride': stride}


TINY = [(2, 2), (4, 2), (8, 2), (16, 1)]  # (bottleneck, last unit's stride)
tiny_blocks = [
    resnet_utils.Block('block%d' % (i + 1), resnet_v2.bottleneck,
                       [unit(base), unit(base, stride)])
    for i, (base, stride) in enumerate(TINY)]
for block in tiny_blocks:
  print(block.scope, block.args)
assert tiny_blocks == [
    resnet_v2.resnet_v2_block('block%d' % (i + 1), base_depth=base,
                              num_units=2, stride=stride)
    for i, (base, stride) in enumerate(TINY)]

# %% [markdown]
# One function builds it below, each time into a fresh graph:
# `resnet_v2.resnet_v2` adds the root block (a 7×7 stride-2 `conv1` and a
# 3×3 stride-2 `pool1`, stride 4 together), runs the blocks, and ends with
# v2's `postnorm`. With `global_pool=False` and no classes it returns the
# feature map, and `end_points`, a dict from scope name to tensor for every
# layer, unit and block.

# %%
def build_tiny(output_stride=None, blocks=None, scoped=True, size=SIZE):
  """The tiny net in a fresh graph on [2, size, size, 3] images, inference
  mode. Returns (graph, images, features, end_points)."""
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [2, size, size, 3], name='images')
    scope = (tf_slim.arg_scope(resnet_v2.resnet_arg_scope()) if scoped
             else contextlib.nullcontext())
    with scope:
      features, end_points = resnet_v2.resnet_v2(
          images, blocks or tiny_blocks, is_training=False,
          global_pool=False, output_stride=output_stride, scope='tiny')
  return graph, images, features, end_points


graph, images, features, end_points = build_tiny()
print('features', features.shape, '|', len(end_points), 'end_points, e.g.')
for name in list(end_points)[:7]:
  print('  %-44s %s' % (name, end_points[name].shape))
assert features.shape.as_list() == [2, SIZE // 32, SIZE // 32, 64]

# %% [markdown]
# ## Layer defaults travel in `arg_scope`
#
# `layers.conv2d` is slim's generic convolution. By its own defaults it adds
# biases, no normalisation, Xavier initial weights and no weight decay, and
# `bottleneck` asks nothing else of its `conv1` and `conv2`.
# `resnet_arg_scope()` does: it
# is a dict from layer function to default keyword arguments, which
# `tf_slim.arg_scope` pushes onto a stack while the network is built. Every
# function decorated with `add_arg_scope` (our `conv2d`, `batch_norm`,
# `max_pool2d`, but also `bottleneck` and `stack_blocks_dense`) reads its
# defaults from that stack when it is called.

# %%
def short(value):
  """A default's value for printing: a function by the name of the function
  that made it, e.g. l2_regularizer for the closure it returns."""
  if isinstance(value, dict):
    return {k: short(v) for k, v in value.items()}
  if callable(value):
    return value.__qualname__.split('.<locals>')[0]
  return value


arg_scope = resnet_v2.resnet_arg_scope()
for key, defaults in arg_scope.items():
  print(re.search(r'function (\w+)', key).group(1))
  for argument, value in defaults.items():
    print('   %-20s %s' % (argument, short(value)))
conv_defaults = next(v for k, v in arg_scope.items() if 'conv2d' in k)
assert conv_defaults['normalizer_params']['decay'] == 0.997
assert conv_defaults['normalizer_params']['epsilon'] == 1e-5

# %% [markdown]
# The same blocks built without the scope give another network, with
# other variables. In the first unit, `conv1` and `conv2` get `biases`
# instead of a `BatchNorm` with its four arrays, and `preact` loses its
# `gamma` (slim's `batch_norm` does not scale unless told to). `conv3` and
# the projection `shortcut` have biases either way: `bottleneck` passes
# them `normalizer_fn=None` explicitly, and an explicit argument beats the
# scope. Weight decay (an L2 loss per convolution kernel in
# `REGULARIZATION_LOSSES`) and batch norm's epsilon also come from the
# scope only.

# %%
def variables(graph, prefix):
  """{name without prefix: shape} of the graph's variables under prefix."""
  return {v.op.name[len(prefix):]: v.shape.as_list()
          for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)
          if v.op.name.startswith(prefix)}


def epsilons(graph):
  return {round(op.get_attr('epsilon'), 9) for op in graph.get_operations()
          if op.type == 'FusedBatchNormV3'}


bare_graph = build_tiny(scoped=False)[0]
first_unit = 'tiny/block1/unit_1/bottleneck_v2/'
scoped_vars = variables(graph, first_unit)
bare_vars = variables(bare_graph, first_unit)
print('%-32s %-14s %s' % (first_unit, 'in the scope', 'without it'))
for name in sorted(set(scoped_vars) | set(bare_vars)):
  print('  %-30s %-14s %s' % (name, scoped_vars.get(name, '-'),
                              bare_vars.get(name, '-')))
kernels = [n for n in variables(graph, 'tiny/') if n.endswith('/weights')]
losses = {name: len(g.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES))
          for name, g in (('scoped', graph), ('bare', bare_graph))}
print('L2 losses', losses, 'for', len(kernels), 'kernels')
print('batch norm epsilon: scoped', epsilons(graph), 'bare',
      epsilons(bare_graph))
assert 'conv1/BatchNorm/moving_mean' in scoped_vars
assert 'conv1/biases' not in scoped_vars
assert 'conv1/biases' in bare_vars and 'conv2/biases' in bare_vars
assert not any('BatchNorm' in name for name in bare_vars)
assert 'preact/gamma' in scoped_vars and 'preact/gamma' not in bare_vars
assert all('%s/biases' % layer in scoped_vars and '%s/biases' % layer
           in bare_vars for layer in ('conv3', 'shortcut'))
assert losses == {'scoped': len(kernels), 'bare': 0}
assert epsilons(graph) == {1e-5} and epsilons(bare_graph) == {1e-3}

# %% [markdown]
# So the scope is part of the architecture: a slim checkpoint was written
# by a graph built inside `resnet_arg_scope`, and a graph built without it
# asks for variables the checkpoint does not have. Notebook 4 shows the
# error a `Saver` then gives and how to read it.
#
# `resnet_v2` opens scopes of its own, too. Inside, an
# `arg_scope([batch_norm], is_training=...)` hands our `is_training=False`
# to every batch norm of the network, and an `arg_scope` over `conv2d`, the
# unit function and `stack_blocks_dense` gives them the collection that
# becomes `end_points`. Neither is passed down by hand: `bottleneck` never
# mentions `is_training`, and `stack_blocks_dense` calls it without
# `outputs_collections`.

# %%
modes = {op.get_attr('is_training') for op in graph.get_operations()
         if op.type == 'FusedBatchNormV3'}
collected = [key for key in graph.get_all_collection_keys()
             if key.endswith('end_points')]
print('batch norms in training mode:', modes, '| collection', collected)
assert modes == {False}
assert len(graph.get_collection(collected[0])) == len(end_points)

# %% [markdown]
# ## The v2 unit: `bottleneck`
#
# A pre-activation unit ([He et al. 2016](https://arxiv.org/abs/1603.05027))
# computes `shortcut + conv3(conv2(conv1(preact)))` with
# `preact = relu(batch_norm(inputs))`. `conv1` (1×1) narrows to the
# bottleneck and `conv2` (3×3) carries the stride and the atrous rate, each
# followed by batch norm and ReLU; `conv3` (1×1) widens again and is linear.
# The output is a bare sum: no batch norm or ReLU on the path from one
# unit's output to the next unit's input, which is the point of v2. The
# next unit's `preact` (or, after the last block, `postnorm`) normalises it.
#
# The shortcut is the unit's input itself when the depth does not change
# (subsampled by a 1×1 max pool if the unit strides), and a 1×1 linear
# projection otherwise. The projection reads `preact`, not the raw input:
# it changes the signal anyway, so it may share the residual branch's
# normalisation. The graph shows all of it. Here are the first two units
# of the tiny network's `block1`, read from their operations:

# %%
LAYER_OPS = ('Conv2D', 'FusedBatchNormV3', 'Relu', 'BiasAdd', 'MaxPool',
             'AddV2')


def describe_unit(graph, scope):
  """{part: [(op type, stride, rate, input op)]} of one unit's layers."""
  def relative(name):
    return name[len(scope):] if name.startswith(scope) else name

  parts = {}
  for op in graph.get_operations():
    if (not op.name.startswith(scope) or op.type not in LAYER_OPS or
        '/Initializer/' in op.name):  # the variables' initial values
      continue
    part = op.name[len(scope):].split('/')[0]
    if part == 'add':
      part = 'sum'
    stride = op.get_attr('strides')[1] if op.type in ('Conv2D',
                                                     'MaxPool') else ''
    rate = op.get_attr('dilations')[1] if op.type == 'Conv2D' else ''
    parts.setdefault(part, []).append(
        (op.type, stride, rate, relative(op.inputs[0].op.name)))
  return parts


units = {}
for name in ('unit_1', 'unit_2'):
  scope = 'tiny/block1/%s/bottleneck_v2/' % name
  units[name] = describe_unit(graph, scope)
  print('%s -> %s' % (name, end_points[scope[:-1]].shape))
  for part, ops in units[name].items():
    print('   %-9s %s' % (part, ' > '.join(
        '%s%s%s' % (t, ' /%d' % s if s and s > 1 else '',
                    ' rate %d' % r if r and r > 1 else '')
        for t, s, r, _ in ops)))
    print('             input: %s' % ops[0][3])
first, second = units['unit_1'], units['unit_2']
assert [t for t, *_ in first['shortcut']] == ['Conv2D', 'BiasAdd']
assert first['shortcut'][0][3] == 'preact/Relu'
assert [t for t, *_ in second['shortcut']] == ['MaxPool']
assert second['shortcut'][0][1] == 2
assert second['shortcut'][0][3].startswith('tiny/block1/unit_1/')
assert [t for t, *_ in first['conv2']] == ['Conv2D', 'FusedBatchNormV3',
                                          'Relu']
assert [t for t, *_ in first['conv3']] == ['Conv2D', 'BiasAdd']
assert first['sum'][0][0] == 'AddV2'
assert second['conv2'][0][1] == 2 and second['conv2'][0][3] == 'Pad'

# %% [markdown]
# `unit_2`'s strided `conv2` reads a `Pad` op, not `conv1`: slim's
# `conv2d_same` pads explicitly and convolves 'VALID', so a stride-2 filter
# is centred on pixels 0, 2, 4, … whatever the input size (TensorFlow's
# own 'SAME' shifts that grid by one pixel on even sizes). A strided
# convolution then equals a stride-1 convolution, subsampled, which is
# what the atrous section below relies on.
#
# **Why the stride sits in the last unit.** The paper strides in the first
# unit of blocks 2 to 4; slim in the last unit of blocks 1 to 3. Every unit
# of a block but the last then runs at the block's input resolution, and
# the stride can be lifted out of the block and applied after its
# end_point. `stack_blocks_dense(..., store_non_strided_activations=True)`
# does that: each block's end_point keeps twice the resolution, for dense
# prediction heads that want finer features, and the network's output does
# not change beyond float32 rounding. Here are the end_points of both,
# built on one set of variables (random values, so that the comparison
# means something):

# %%
def randomize(session, graph, seed=0):
  """Random weights and batch-norm statistics: stand-ins for trained ones."""
  rng = np.random.RandomState(seed)
  for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES):
    if v.op.name.endswith(('gamma', 'moving_variance')):
      value = rng.uniform(0.5, 1.5, v.shape)
    else:
      value = rng.normal(0.0, 0.3, v.shape)
    v.load(value.astype(np.float32), session)


rng = np.random.RandomState(1)
inputs = rng.normal(size=(2, SIZE // 4, SIZE // 4, 8)).astype(np.float32)
lifted_graph = tf.Graph()
with lifted_graph.as_default():
  outputs = {}
  for store in (False, True):
    with tf_slim.arg_scope(resnet_v2.resnet_arg_scope()), \
        tf_slim.arg_scope([layers.batch_norm], is_training=False), \
        tf.variable_scope('body', reuse=tf.AUTO_REUSE):
      outputs[store] = resnet_utils.stack_blocks_dense(
          tf.constant(inputs), tiny_blocks,
          store_non_strided_activations=store,
          outputs_collections='blocks_%s' % store)
  shapes = {store: [t.shape.as_list()[1] for t in
                    lifted_graph.get_collection('blocks_%s' % store)]
            for store in (False, True)}
  with tf.Session() as session:
    randomize(session, lifted_graph)
    plain, lifted = session.run([outputs[False], outputs[True]])
difference = np.abs(plain - lifted).max()
print('block end_point sides, stride in the block:', shapes[False])
print('block end_point sides, stride lifted out: ', shapes[True])
print('same output: largest difference %.1e (outputs up to %.1f)'
      % (difference, np.abs(plain).max()))
assert shapes[False] == [8, 4, 2, 2] and shapes[True] == [16, 8, 4, 2]
assert difference < 1e-5 * np.abs(plain).max()

# %% [markdown]
# ## `stack_blocks_dense` and `output_stride`
#
# `stack_blocks_dense` is the only function that opens the `blockN/unit_M`
# scopes, so it alone decides the variable names. Given an `output_stride`,
# it plans before building: units keep their strides until the cumulative
# stride (the root's 4 included) reaches `output_stride`. From there on
# every unit runs with stride 1, and each stride given up multiplies the
# atrous rate of the `conv2`s that follow. A 3×3 filter at rate 2 has its
# taps two pixels apart, so on a map twice as dense it covers the same
# part of the image as the nominal filter did.
#
# The table is read from the graph, for the tiny network on 64×64 inputs:
# units from the end_points' names, the output shape from each block's
# end_point, the cumulative stride as input side / output side, and the
# rate from the `dilations` attribute of the block's `conv2` operations.
# `resnet_utils.summarize`, which computes the same strides and rates from
# the plan instead of the graph, agrees.

# %%
def block_table(graph, end_points, blocks, net, size):
  """Rows (block, units, output shape, cumulative stride, rates) read from
  the graph of network `net` built on size x size inputs."""
  rows = []
  for block in blocks:
    scope = '%s/%s' % (net, block.scope)
    count = sum(bool(re.fullmatch(scope + r'/unit_\d+/bottleneck_v2', name))
                for name in end_points)
    shape = end_points[scope].shape.as_list()
    rates = sorted({op.get_attr('dilations')[1]
                    for op in graph.get_operations()
                    if op.type == 'Conv2D' and op.name.startswith(scope + '/')
                    and '/conv2/' in op.name})
    rows.append((block.scope, count, shape[1:], size // shape[1], rates))
  return rows


def print_table(rows, title):
  print(title)
  print('   %-7s %5s  %-16s %6s  %s' % ('block', 'units', 'output shape',
                                        'stride', 'rate'))
  for scope, count, shape, stride, rates in rows:
    print('   %-7s %5d  %-16s %6d  %s' % (scope, count, shape, stride,
                                          ', '.join(map(str, rates))))


tables, tiny_variables = {}, {}
for output_stride in (None, 16, 8):
  g, _, net, ends = build_tiny(output_stride)
  rows = block_table(g, ends, tiny_blocks, 'tiny', SIZE)
  print_table(rows, 'output_stride=%s: features %s' % (output_stride,
                                                       net.shape))
  planned = resnet_utils.summarize(ends, tiny_blocks, output_stride)[1:5]
  assert [(r[2], r[3], r[4]) for r in rows] == [
      (p['shape'][1:], p['stride'], [p['rate']]) for p in planned]
  tables[output_stride] = [(r[3], r[4][0]) for r in rows]
  tiny_variables[output_stride] = variables(g, '')
assert tables == {None: [(8, 1), (16, 1), (32, 1), (32, 1)],
                  16: [(8, 1), (16, 1), (16, 1), (16, 2)],
                  8: [(8, 1), (8, 1), (8, 2), (8, 4)]}
assert tiny_variables[None] == tiny_variables[16] == tiny_variables[8]
print('same', len(tiny_variables[8]), 'variables, names and shapes, for '
      'every output_stride')

# %% [markdown]
# Read it column by column. Block 1's end_point is already at stride 8,
# not 4: its last unit strides. With `output_stride=16` only block 3's
# last unit loses its stride, and block 4 runs at rate 2; with 8, block 2's
# last unit gives up its stride too, block 3 runs at rate 2, and block 4
# at rate 4 (block 3's last unit gave up another factor 2). Block 4 never
# strides, so the nominal output stride is 4 × 2 × 2 × 2 = 32. And the
# variables are the same in all three graphs: strides and rates are
# properties of operations, not of weights.
#
# ## Same weights, same features
#
# That last point is what makes `output_stride` useful: a classifier's
# checkpoint serves a dense network unchanged. If the plan is right, the
# features at `output_stride=8`, a map 4× finer than the nominal one in
# each direction, hold the nominal network's features at every 4th row and
# column, and in between, features at the positions the nominal network
# skips. This is the property
# slim's own test checks. We check it through a checkpoint: random weights
# and batch-norm statistics stand in for a trained network, saved from the
# nominal graph and restored into the atrous one, on an odd (65) and an
# even (64) input size.
#
# For contrast, a third graph takes the strides away *without* rates (the
# same blocks with every stride set to 1, so the same variable names and
# shapes): each 3×3 filter after block 1 then spans 2 to 8 times fewer
# pixels of the image in each direction, and the features no longer match.

# %%
def features_from(checkpoint, images_value, **build_options):
  g, images, net, _ = build_tiny(size=images_value.shape[1], **build_options)
  with g.as_default(), tf.Session() as session:
    tf.train.Saver().restore(session, checkpoint)
    return session.run(net, {images: images_value})


no_strides = [resnet_utils.Block(b.scope, b.unit_fn,
                                 [dict(u, stride=1) for u in b.args])
              for b in tiny_blocks]
results = {}
for size in (65, 64):
  g, images, net, _ = build_tiny(size=size)
  images_value = rng.normal(size=(2, size, size, 3)).astype(np.float32)
  with g.as_default(), tf.Session() as session:
    randomize(session, g, seed=size)
    nominal = session.run(net, {images: images_value})
    checkpoint = tf.train.Saver().save(
        session, os.path.join(workdir, 'tiny_%d.ckpt' % size))
  dense = features_from(checkpoint, images_value, output_stride=8)
  flat = features_from(checkpoint, images_value, blocks=no_strides)
  scale = np.abs(nominal).max()
  results[size] = (np.abs(dense[:, ::4, ::4] - nominal).max() / scale,
                   np.abs(flat[:, ::8, ::8] - nominal).max() / scale)
  print('%dx%d: nominal %s, output_stride=8 %s, strides removed %s' % (
      size, size, nominal.shape[1:3], dense.shape[1:3], flat.shape[1:3]))
  print('   largest difference / largest feature: atrous, every 4th: '
        '%.1e | no rates, every 8th: %.2f' % results[size])
  assert dense.shape[1] == -(-size // 8) and nominal.shape[1] == -(-size // 32)
for atrous, flat in results.values():
  assert atrous < 1e-5 and flat > 0.5

# %% [markdown]
# The atrous network reproduces the nominal one to float32 rounding, on
# both sizes. Dropping the strides alone does not: its features differ
# from the nominal ones by more than half the largest feature. The two
# sizes are there because a strided layer's sampling grid could depend on
# whether a side is even (TensorFlow's own 'SAME' padding's does).
# `conv2d_same` fixes it at pixels 0, s, 2s, …, which are the pixels
# `subsample` keeps, so both sizes agree.
#
# ## The real thing: `resnet_v2_50`
#
# The same tables for ResNet-50 v2 with slim's 1001 ImageNet classes, on a
# 64×64 input, built only (no session runs: the shapes are static).
# `resnet_utils.summarize` adds the trainable parameters per scope, the
# same for every `output_stride`.

# %%
def build_resnet50(output_stride, size=SIZE):
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, size, size, 3])
    with tf_slim.arg_scope(resnet_v2.resnet_arg_scope()):
      _, end_points = resnet_v2.resnet_v2_50(
          images, 1001, is_training=False, output_stride=output_stride)
  return graph, end_points


r50_rows, params, summaries = {}, {}, {}
for output_stride in (None, 16, 8):
  g, ends = build_resnet50(output_stride)
  rows = r50_rows[output_stride] = block_table(g, ends, blocks50,
                                               'resnet_v2_50', SIZE)
  print_table(rows, 'resnet_v2_50, output_stride=%s' % output_stride)
  summary = summaries[output_stride] = resnet_utils.summarize(
      ends, blocks50, output_stride)
  assert [r[4] for r in rows] == [[p['rate']] for p in summary[1:5]]
  trainable = g.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES)
  params[output_stride] = sum(v.shape.num_elements() for v in trainable)
  assert sum(p['params'] for p in summary) == params[output_stride]
print(resnet_utils.format_summary(summaries[None]))
nominal_strides = [r[3] for r in r50_rows[None]]
assert [r[1] for r in r50_rows[None]] == list(
    resnet_utils.UNITS_PER_BLOCK[50])
assert nominal_strides == [8, 16, 32, 32]
for output_stride in (16, 8):
  assert [r[3] for r in r50_rows[output_stride]] == [
      min(stride, output_stride) for stride in nominal_strides]
assert [r[4] for r in r50_rows[16]] == [[1], [1], [1], [2]]
assert [r[4] for r in r50_rows[8]] == [[1], [1], [2], [4]]
assert len(set(params.values())) == 1
print('%.1f million parameters at every output_stride'
      % (params[None] / 1e6))

# %% [markdown]
# The picture below is drawn by `resnet_v1_graph.tools.drawing.draw`
# from the graph the registry's `resnet_v2_50` builds at its own 224×224:
# the root (`stem`), each block with its units' output shapes and layers,
# and the head. The brackets are the shortcuts: a dashed projection in each
# block's first unit, a dotted subsampling in the strided last units of
# blocks 1 to 3, a plain identity elsewhere. Each block's last shape is
# 224 divided by the stride in the table above. The picture lists
# convolutions and pools only: the batch norms (each unit's `preact`, the
# `postnorm` before the head) are not drawn.

# %%
picture = os.path.join(workdir, 'resnet_v2_50.svg')
structure = drawing.draw('resnet_v2_50', picture)
svg = open(picture, encoding='utf-8').read()
# Shown at 3/4 of its size: the width and height attributes set the scale.
svg = re.sub(r'(width|height)="([\d.]+)pt"',
             lambda m: '%s="%.0fpt"' % (m.group(1), 0.75 * float(m.group(2))),
             svg, count=2)
last_shapes = [stage.units[-1].output_shape for stage in structure.stages]
print('stages', [s.name for s in structure.stages], '| last shapes',
      last_shapes, '| %d kB' % (len(svg) // 1000))
shortcuts = [[u.shortcut for u in stage.units] for stage in structure.stages]
assert last_shapes == [(224 // stride, 224 // stride, b.args[-1]['depth'])
                       for stride, b in zip(nominal_strides, blocks50)]
assert [kinds[0] for kinds in shortcuts] == ['projection'] * 4
assert [kinds[-1] for kinds in shortcuts[:3]] == ['subsampled identity'] * 3
assert {kind for kinds in shortcuts for kind in kinds[1:-1]} | {
    shortcuts[3][-1]} == {'identity'}
SVG(svg)

# %% [markdown]
# ## Exercises
#
# Solutions are in `tests/test_notebook_03_exercises.py`, which checks
# them.
#
# 1. Which output strides does `resnet_v2_50` accept? Try 2, 4, 12 and 64.
#    Which are refused, what does the error say, and why can no setting
#    make the root block atrous? For the one among them that is accepted,
#    give each block's output shape and rate on a 64×64 input.
# 2. Build a `resnet_v2` with 10 classes on 32×32×1 inputs from a `Block`
#    list of your own: `block1` with two units of bottleneck 4 (the last
#    strides 2), `block2` with one unit of bottleneck 8. Count its trainable
#    parameters by hand, layer by layer, and check the count against the
#    graph's. Which layers have biases, and why?
# 3. Between `output_stride=None` and `output_stride=16`, exactly which
#    operations of `resnet_v2_50` change their stride or rate, and how?
#    Show that no variable changes.
