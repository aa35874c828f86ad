"""The benchmark's results: rows from medians, the ratios, the tables.

`benchmark.run` times step sets and hands their median seconds here; these
functions turn them into rows ({'name', 'kind', 'family',
'train_images_per_s', 'latency_ms', 'infer_images_per_s', ...}), pair our
rows with the competitors of their family (`ratios`) and write the markdown
table that `python -m resnet_v1_graph.tools.benchmark` prints.

Typical use:

  from resnet_v1_graph.tools import report

  rows = [dict(name=name, kind=report.OURS, family=family,
               **report.rates(medians, batch))]
  print(report.format_table({..., 'rows': rows,
                             'ratios': report.ratios(rows)}))
"""

from resnet_v1_graph.tools import timing
from resnet_v1_graph.training import hardware

# The kind of our rows; competitors' are 'reference' and 'keras'. Our
# graphs compiled by XLA (OURS_XLA), our graphs in fp32 when the run's
# precision is another (OURS_FP32) and our serving rows
# (`candidates.SERVING_KINDS`) name the row they are a variant of in 'of'.
OURS = 'ours'
OURS_XLA = 'ours_xla'
OURS_FP32 = 'ours_fp32'
COMPETITORS = ('reference', 'keras')


def inference_rates(medians):
  """A row's inference rates from {'latency', 'infer'} median seconds."""
  return {'latency_ms': medians['latency'] * 1e3,
          'infer_images_per_s': timing.INFERENCE_BATCH / medians['infer']}


def rates(medians, batch):
  """A row's rates from {'train', 'latency', 'infer'} median seconds."""
  return dict(inference_rates(medians),
              train_images_per_s=batch / medians['train'])


def best_keras_rows(keras_sets, medians, batch):
  """Per Keras family, the row of its faster `jit_compile` setting."""
  best, inference = {}, {}
  for family, jit, index in keras_sets:
    row = dict(name='keras.applications.%s' % family, kind='keras',
               family=family, jit_compile=jit,
               **rates(medians[index], batch))
    if family not in best or row['train_images_per_s'] > best[family][
        'train_images_per_s']:
      best[family] = row
    fastest = inference.setdefault(family, dict(row))
    fastest['latency_ms'] = min(fastest['latency_ms'], row['latency_ms'])
    fastest['infer_images_per_s'] = max(fastest['infer_images_per_s'],
                                        row['infer_images_per_s'])
  for family, row in best.items():
    # Serving compares with Keras at its fastest, jit_compile on or off.
    row['best_latency_ms'] = inference[family]['latency_ms']
    row['best_infer_images_per_s'] = inference[family]['infer_images_per_s']
  return list(best.values())


def pipeline_rates(medians, batch):
  """Images/s of the classic class fed by tf.data and by one batch."""
  real = batch / medians['real']
  synthetic = batch / medians['synthetic']
  return {'real_images_per_s': real, 'synthetic_images_per_s': synthetic,
          'real_over_synthetic': real / synthetic}


def add_gflops(rows, flops, peak, fp32_peak=None):
  """Adds each row's training GFLOP/s and its share of the matmul `peak`
  of the run's precision (OURS_FP32 rows: of `fp32_peak`)."""
  for row in rows:
    forward = flops.get(row['name'], flops.get(row['family']))
    if forward and 'train_images_per_s' in row:
      # Training costs about three forward passes (forward, two backward).
      row['train_gflops'] = 3 * forward * row['train_images_per_s'] / 1e9
      row['peak_share'] = row['train_gflops'] / (
          fp32_peak if row['kind'] == OURS_FP32 else peak)


def precision_ratios(rows):
  """Per graph of ours timed in the run's precision and in fp32 (an
  OURS_FP32 row): how much faster the precision is, per metric."""
  by_name = {row['name']: row for row in rows}
  out = []
  for fp32 in (r for r in rows if r['kind'] == OURS_FP32):
    ours = by_name[fp32['of']]
    out.append({
        'network': ours['name'],
        'train': ours['train_images_per_s'] / fp32['train_images_per_s'],
        'infer_batch_32': (ours['infer_images_per_s'] /
                           fp32['infer_images_per_s']),
        'latency_batch_1': fp32['latency_ms'] / ours['latency_ms']})
  return out




def ratios(rows):
  """ours / theirs for each metric, matching networks by family."""
  out = []
  for ours in (r for r in rows if r['kind'] in (OURS, OURS_XLA)):
    for theirs in (r for r in rows if r['kind'] in COMPETITORS and
                   r['family'] == ours['family']):
      out.append({
          'ours': ours['name'], 'theirs': theirs['name'],
          'train': ours['train_images_per_s'] / theirs['train_images_per_s'],
          'infer_batch_32': (ours['infer_images_per_s'] /
                             theirs['infer_images_per_s']),
          'latency_batch_1': theirs['latency_ms'] / ours['latency_ms']})
  return out


def serving(rows):
  """Per network of ours, its fastest inference path at batch 1 and at
  batch 32 (TensorFlow's graph with or without XLA, its frozen graph, ONNX
  Runtime) against Keras 3 at its fastest (jit_compile on or off)."""
  out = []
  for ours in (r for r in rows if r['kind'] == OURS):
    paths = [ours] + [r for r in rows if r.get('of') == ours['name']]
    latency = min(paths, key=lambda r: r['latency_ms'])
    throughput = max(paths, key=lambda r: r['infer_images_per_s'])
    entry = {'network': ours['name'],
             'latency_path': latency['name'],
             'latency_ms': latency['latency_ms'],
             'infer_path': throughput['name'],
             'infer_images_per_s': throughput['infer_images_per_s']}
    keras = [r for r in rows if r['kind'] == 'keras' and
             r['family'] == ours['family']]
    if keras:
      entry['latency_vs_keras'] = (keras[0]['best_latency_ms'] /
                                   latency['latency_ms'])
      entry['infer_vs_keras'] = (throughput['infer_images_per_s'] /
                                 keras[0]['best_infer_images_per_s'])
    out.append(entry)
  return out


def _train_rate(row, form):
  if 'train_images_per_s' not in row:  # a serving row
    return '-'
  return form % row['train_images_per_s']


def format_row(row):
  """One measured row as a line of progress output."""
  return ('%-36s train %7s img/s | infer b1 %8.1f ms | b32 %7.2f img/s' %
          (row['name'], _train_rate(row, '%.2f'), row['latency_ms'],
           row['infer_images_per_s']))


def format_table(result):
  """Markdown tables of the measurements and the ratios."""
  machine = result['machine']
  # Reports from before 'environment' was recorded name TF_XLA_FLAGS only.
  started = hardware.describe_environment(machine) or (
      'TF_XLA_FLAGS=%s' % result['xla_flags']
      if result.get('xla_flags') else '')
  lines = ['Machine: %s, %d cores (%s), TensorFlow %s%s' % (
      hardware.describe(machine), machine['cores'],
      ', '.join(machine.get('isa') or ['no AVX-512']), machine['tensorflow'],
      '; started with %s' % started if started else ''),
           'Input %dx%d, training batch %d, precision %s%s, median of %d '
           'steps after warm-up; matmul peak %.1f GFLOP/s%s.' % (
               result['size'], result['size'], result['batch'],
               result['precision'], ', our graphs also with XLA'
               if result.get('xla') else '',
               result['repeats'], result['matmul_gflops'],
               ' (fp32 matmul: %.1f GFLOP/s)' % result['matmul_fp32_gflops']
               if result['precision'] != 'fp32' and
               'matmul_fp32_gflops' in result else ''), '',
           '| network | train img/s | infer batch 1 (ms) | infer batch 32 '
           'img/s | train GFLOP/s | share of matmul peak |',
           '|---|---:|---:|---:|---:|---:|']
  for row in result['rows']:
    lines.append('| %s | %s | %.1f | %.2f | %s | %s |' % (
        row['name'] + (' (jit_compile)' if row.get('jit_compile') else ''),
        _train_rate(row, '%.2f'), row['latency_ms'],
        row['infer_images_per_s'],
        '%.1f' % row['train_gflops'] if 'train_gflops' in row else '-',
        '%.0f%%' % (100 * row['peak_share']) if 'peak_share' in row else '-'))
  pipeline = result.get('pipeline')
  if pipeline:
    lines += ['', 'Input pipeline (resnet_v1_graph ResNet-50 training): '
              'tf.data from uint8 arrays %.2f img/s, one synthetic batch '
              'in-graph %.2f img/s: real/synthetic = %.3f.' % (
                  pipeline['real_images_per_s'],
                  pipeline['synthetic_images_per_s'],
                  pipeline['real_over_synthetic'])]
  if result['ratios']:
    lines += ['', '| ours / theirs | training | inference batch 32 | '
              'latency batch 1 (theirs/ours) |', '|---|---:|---:|---:|']
    for r in result['ratios']:
      lines.append('| %s / %s | %.2fx | %.2fx | %.2fx |' % (
          r['ours'], r['theirs'], r['train'], r['infer_batch_32'],
          r['latency_batch_1']))
  if result.get('precision_ratios'):
    lines += ['', '| ours, %s / fp32 | training | inference batch 32 | '
              'latency batch 1 (fp32/%s) |' % (result['precision'],
                                                 result['precision']),
              '|---|---:|---:|---:|']
    for r in result['precision_ratios']:
      lines.append('| %s | %.2fx | %.2fx | %.2fx |' % (
          r['network'], r['train'], r['infer_batch_32'],
          r['latency_batch_1']))
  if any('latency_vs_keras' in entry for entry in result.get('serving', ())):
    lines += ['', '| serving | fastest at batch 1 | ms | Keras 3 ms / ours | '
              'fastest at batch 32 | img/s | ours / Keras 3 |',
              '|---|---|---:|---:|---|---:|---:|']
    for entry in result['serving']:
      if 'latency_vs_keras' in entry:
        lines.append('| %s | %s | %.1f | %.2fx | %s | %.2f | %.2fx |' % (
            entry['network'], entry['latency_path'], entry['latency_ms'],
            entry['latency_vs_keras'], entry['infer_path'],
            entry['infer_images_per_s'], entry['infer_vs_keras']))
  return '\n'.join(lines)
