"""A ResNet body as data: `Block`s, and where each unit strides or dilates.

`Block` and `unit_kwargs` describe a block's units; `plan_blocks` decides,
before any op is built, the stride and atrous rate of every unit for a
requested `output_stride`, so an unreachable one fails at once with the
values that work (`valid_output_strides`). `resnet_utils` builds the ops
from these plans and re-exports every name here.

Typical use:

  plans = blocks.plan_blocks(resnet_v2.resnet_v2_blocks(50), output_stride=16,
                             root_stride=4)
  [(plan.block.scope, plan.stride, plan.rate) for plan in plans]
"""

import collections

_UNIT_TUPLE_KEYS = ('depth', 'depth_bottleneck', 'stride')

class Block(collections.namedtuple('Block', ['scope', 'unit_fn', 'args'])):
  """One stage of a ResNet: a scope, a unit function and one entry per unit.

  Attributes:
    scope: Variable scope of the block, e.g. 'block1'.
    unit_fn: Called once per unit as `unit_fn(net, rate=rate, **kwargs)` on a
      `[batch, height, width, channels]` tensor; returns the unit's output.
      Usually `resnet_v1.bottleneck` or `resnet_v2.bottleneck`.
    args: The units in order. Each entry is a dict of keyword arguments for
      `unit_fn` (slim's form) or a `(depth, depth_bottleneck, stride)` tuple
      of ints (the older form).

  Example:

    unit = {'depth': 256, 'depth_bottleneck': 64, 'stride': 1}
    block1 = Block('block1', resnet_v2.bottleneck,
                   [unit, unit, dict(unit, stride=2)])

  Raises:
    ValueError: If an entry of `args` is neither a dict nor a tuple or list
      of three ints.
  """
  __slots__ = ()

  def __new__(cls, scope, unit_fn, args):
    for unit in args:
      unit_kwargs(unit, scope)
    return super().__new__(cls, scope, unit_fn, args)


def unit_kwargs(unit, scope='block'):
  """Returns one entry of `Block.args` as a new dict of `unit_fn` arguments.

  Args:
    unit: A dict, or a tuple or list `(depth, depth_bottleneck, stride)` of
      ints.
    scope: The block's scope, quoted in the error message.

  Returns:
    A fresh dict, so the caller may edit it without changing the block.

  Raises:
    ValueError: If `unit` is neither a dict nor three ints.
  """
  if isinstance(unit, dict):
    return dict(unit)
  if (isinstance(unit, (tuple, list)) and len(unit) == 3 and
      all(isinstance(v, int) and not isinstance(v, bool) for v in unit)):
    return dict(zip(_UNIT_TUPLE_KEYS, unit))
  raise ValueError(
      'Block %r: each unit must be a dict of unit_fn keyword arguments or a '
      '(depth, depth_bottleneck, stride) tuple of ints, got %r' % (scope, unit))


UnitPlan = collections.namedtuple('UnitPlan', ['kwargs', 'rate'])
BlockPlan = collections.namedtuple(
    'BlockPlan', ['block', 'units', 'subsample', 'stride', 'rate'])


def valid_output_strides(blocks, root_stride=1):
  """The output strides `blocks` can reach: cumulative strides at each unit.

  Args:
    blocks: A list of `Block`s.
    root_stride: Stride of whatever precedes the blocks (4 for the root block).

  Returns:
    A sorted list of ints.
  """
  strides = {root_stride}
  current = root_stride
  for block in blocks:
    for unit in block.args:
      current *= unit_kwargs(unit, block.scope).get('stride', 1)
      strides.add(current)
  return sorted(strides)


def plan_blocks(blocks, output_stride=None,
                store_non_strided_activations=False):
  """Decides each unit's stride and atrous rate for a target output stride.

  Once the cumulative stride equals `output_stride`, each further unit runs
  with stride 1 at the current rate, and the rate is then multiplied by the
  stride that unit gave up. Later filters are thus dilated exactly as much as
  the map is denser than in the nominal net, and see the same pixels.

  Args:
    blocks: A list of `Block`s.
    output_stride: None keeps every unit's stride. Otherwise the stride
      wanted at the output, relative to the input of the first block.
    store_non_strided_activations: Move the stride of each block's last unit
      to a subsampling after the block, so the block's end_point keeps the
      higher resolution.

  Returns:
    A list of `BlockPlan(block, units, subsample, stride, rate)`, `units` a
    list of `UnitPlan(kwargs, rate)`; `stride` and `rate` are the cumulative
    stride and the atrous rate after the block.

  Raises:
    ValueError: If `output_stride` cannot be reached by these blocks.
  """
  def unreachable():
    return ValueError(
        'The target output_stride %r cannot be reached; with these blocks it '
        'must be one of %s.' % (output_stride, valid_output_strides(blocks)))

  current_stride = 1
  rate = 1
  plans = []
  for block in blocks:
    units = []
    block_stride = 1
    for i, unit in enumerate(block.args):
      kwargs = unit_kwargs(unit, block.scope)
      if store_non_strided_activations and i == len(block.args) - 1:
        block_stride = kwargs.get('stride', 1)
        kwargs['stride'] = 1
      unit_stride = kwargs.get('stride', 1)
      if output_stride is not None and current_stride == output_stride:
        units.append(UnitPlan(dict(kwargs, stride=1), rate))
        rate *= unit_stride
      else:
        units.append(UnitPlan(kwargs, 1))
        current_stride *= unit_stride
        if output_stride is not None and current_stride > output_stride:
          raise unreachable()
    if output_stride is not None and current_stride == output_stride:
      rate *= block_stride
      subsample_factor = 1
    else:
      subsample_factor = block_stride
      current_stride *= block_stride
      if output_stride is not None and current_stride > output_stride:
        raise unreachable()
    plans.append(BlockPlan(block, units, subsample_factor, current_stride,
                           rate))
  if output_stride is not None and current_stride != output_stride:
    raise unreachable()
  return plans
