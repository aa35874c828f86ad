"""Where one step's time goes, op by op, and how fast its convolutions run.

`profile_step` traces one training (or inference) step of a graph network
with `tf.compat.v1.RunMetadata`, sums the op times per op type and per group
(`op_group`), and can write a Chrome trace; `convolution_rates` turns the
convolution groups into GFLOP/s against the matmul peak; `format_profile`
prints both as markdown.

Typical use:

  from resnet_v1_graph.tools import profiling, timing

  profile = profiling.profile_step(build_logits, 224, 16, 'fp32', threads=2)
  profile['convolution_rates'] = profiling.convolution_rates(
      profile, timing.forward_flops(build_logits, 224), 16,
      timing.matmul_peak('fp32', repeats=5, threads=2))
  print(profiling.format_profile('resnet_v2_50', profile))
"""

import time

import tensorflow.compat.v1 as tf
from tensorflow.python.client import timeline

from resnet_v1_graph.tools import timing
from resnet_v1_graph.training import session as session_lib

# Where a step's time goes: op types grouped the way a reader thinks of them.
# The first key an op type contains decides, so the gradients come before
# their forward op.
OP_GROUPS = (
    ('Conv2DBackpropFilter', 'convolution, weight gradients'),
    ('Conv2DBackpropInput', 'convolution, input gradients'),
    ('Conv2D', 'convolution, forward'),
    ('BatchNorm', 'batch norm (forward and backward)'),
    ('Apply', 'optimizer update'),
    ('MatMul', 'dense layer'),
    ('Pool', 'pooling'),
)
OTHER_GROUP = 'other (elementwise, reductions, copies)'


def op_group(op_type):
  """The group an op type's time is reported under (`OTHER_GROUP` if none)."""
  for key, group in OP_GROUPS:
    if key in op_type:
      return group
  return OTHER_GROUP


def profile_step(build_logits, size, batch, precision, threads, training=True,
                 xla=False, trace_path=None, warmup=2):
  """Times one traced step op by op (`tf.compat.v1.RunMetadata`).

  Op times add up to more than the wall time when independent ops overlap
  on the inter-op thread pool.

  Args:
    build_logits: `(images, is_training) -> logits`.
    size: Input height and width.
    batch: Images per step.
    precision, threads, xla: Session settings (see `timing.run_config`).
    training: Profile a training step (one Adam update); else inference.
    trace_path: If given, also write a Chrome trace (chrome://tracing,
      Perfetto) here.
    warmup: Untraced steps run first.

  Returns:
    {'wall_s', 'images_per_s', 'op_seconds' (summed op time), 'ops': [{'type',
    'seconds', 'count', 'share'}], 'groups': [{'group', 'seconds', 'share'}]},
    both lists slowest first.
  """
  build = timing.training_graph if training else timing.inference_graph
  graph, target = build(build_logits, size, batch)
  metadata = tf.RunMetadata()
  with graph.as_default(), session_lib.open_session(
      graph, timing.run_config(precision, threads, xla)) as sess:
    sess.run(tf.global_variables_initializer())
    for _ in range(warmup):
      sess.run(target)
    start = time.perf_counter()
    sess.run(target, options=tf.RunOptions(
        trace_level=tf.RunOptions.FULL_TRACE), run_metadata=metadata)
    wall = time.perf_counter() - start
  by_type, counts = {}, {}
  for device in metadata.step_stats.dev_stats:
    for node in device.node_stats:
      label = node.timeline_label
      op_type = (label.split(' = ', 1)[1].split('(', 1)[0] if ' = ' in label
                 else node.node_name)
      by_type[op_type] = by_type.get(op_type, 0.0) + (
          node.all_end_rel_micros / 1e6)
      counts[op_type] = counts.get(op_type, 0) + 1
  if trace_path:
    with open(trace_path, 'w', encoding='utf-8') as f:
      f.write(timeline.Timeline(metadata.step_stats)
              .generate_chrome_trace_format())
  total = sum(by_type.values()) or 1.0
  groups = {}
  for op_type, seconds in by_type.items():
    groups[op_group(op_type)] = groups.get(op_group(op_type), 0.0) + seconds
  return {
      'wall_s': wall, 'images_per_s': batch / wall, 'op_seconds': total,
      'ops': sorted(({'type': t, 'seconds': v, 'count': counts[t],
                      'share': v / total} for t, v in by_type.items()),
                    key=lambda r: -r['seconds']),
      'groups': sorted(({'group': g, 'seconds': v, 'share': v / total}
                        for g, v in groups.items()),
                       key=lambda r: -r['seconds'])}


def convolution_rates(profile, forward_flops_per_image, batch, peak):
  """GFLOP/s of the forward and the gradient convolutions in a profile.

  Counts the network's forward FLOPs (nearly all of them convolutions) for
  the forward convolutions and twice that for the two gradient ones, over
  their summed op time; with the share of the matmul `peak`. This is the
  kernel speed the whole step cannot beat.
  """
  seconds = {r['group']: r['seconds'] for r in profile['groups']}
  forward = forward_flops_per_image * batch
  rates = {'matmul_gflops': peak}
  forward_s = seconds.get('convolution, forward', 0.0)
  gradient_s = (seconds.get('convolution, input gradients', 0.0) +
                seconds.get('convolution, weight gradients', 0.0))
  if forward_s:
    rates['forward_gflops'] = forward / forward_s / 1e9
  if gradient_s:
    rates['gradient_gflops'] = 2 * forward / gradient_s / 1e9
  return rates


def format_profile(name, profile, top=12):
  """The profile as two markdown tables: groups, then the top op types."""
  lines = ['%s: one step %.3f s (%.2f img/s); op time summed %.3f s.' % (
      name, profile['wall_s'], profile['images_per_s'],
      profile['op_seconds'])]
  rates = profile.get('convolution_rates')
  if rates:
    peak = rates['matmul_gflops']
    lines.append('Convolution kernels: ' + '; '.join(
        '%s %.1f GFLOP/s (%.0f%% of the %.0f GFLOP/s matmul peak)' % (
            what, rates[key], 100 * rates[key] / peak, peak)
        for what, key in (('forward', 'forward_gflops'),
                          ('gradients', 'gradient_gflops')) if key in rates) +
                 '.')
  lines += ['', '| where | seconds | share |', '|---|---:|---:|']
  lines += ['| %s | %.3f | %.1f%% |' % (r['group'], r['seconds'],
                                        100 * r['share'])
            for r in profile['groups']]
  lines += ['', '| op type | ops | seconds | share |', '|---|---:|---:|---:|']
  lines += ['| %s | %d | %.3f | %.1f%% |' % (r['type'], r['count'],
                                             r['seconds'], 100 * r['share'])
            for r in profile['ops'][:top]]
  return '\n'.join(lines)
