#!/usr/bin/env python3
"""Plain vs residual: the degradation problem of He et al. 2015, reproduced.

Trains plain networks and their residual twins at two or more depths on the
same data, with the same budget and seeds, and reports what the paper
reports: the deeper plain net ends with a *higher* training error than the
shallower plain net, while the deeper residual net does not. Writes a PNG
(training error and validation accuracy per epoch, mean and spread over
seeds) and a markdown table, and says plainly whether this run showed the
effect.

  python scripts/plain_vs_residual.py                       # digits, CIFAR-20/56
  python scripts/plain_vs_residual.py --depths 20 32 56 --seeds 0 1 2
  python scripts/plain_vs_residual.py --dataset cifar10 --data-path ~/cifar-10-python.tar.gz
  python scripts/plain_vs_residual.py --family resnet30      # resnet30 vs plain30
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top

# Training errors within one point of each other count as equal: near zero
# error the seeds differ by about that much.
DEGRADATION_MARGIN = 0.01


def _pairs(family, depths):
  """(depth, residual name, plain name) for each depth."""
  if family == 'cifar':
    return [(d, 'cifar_resnet%d' % d, 'cifar_plain%d' % d) for d in depths]
  if family == 'resnet30':
    return [(30, 'resnet30', 'plain30')]
  return [(50, 'course_resnet50', 'course_plain50')]


def train_all(args, echo=print):
  """Trains every (network, seed); returns {name: [history per seed]}."""
  from resnet_v1_graph import classifier
  from resnet_v1_graph import data
  options = {}
  if args.dataset in ('digits', 'folder'):
    options['image_size'] = (args.image_size if args.dataset == 'digits'
                             else (args.image_size, args.image_size))
  source = data.load(args.dataset, args.data_path, **options)
  height, width, channel = source.image_shape
  results = {}
  for depth, residual, plain in _pairs(args.family, args.depths):
    for name in (plain, residual):
      results[name] = []
      for seed in args.seeds:
        start = time.time()
        path = os.path.join(args.output, 'runs', '%s-seed%d' % (name, seed))
        model = classifier.build(
            name, height=height, width=width, channel=channel,
            num_classes=source.num_classes, epoch=args.epochs,
            batch_size=args.batch_size, learning_rate=args.learning_rate,
            learning_decay_steps=10 ** 6, seed=seed,
            batch_norm_momentum=0.9, model_path=os.path.join(path, 'model'),
            summary_path=os.path.join(path, 'summary'), verbose=False)
        history = model.fit(source.train, source.validation)
        model.close()
        history['seconds'] = time.time() - start
        results[name].append(history)
        echo('%-16s seed %d: train error %.4f, val accuracy %.4f (%.0fs)' % (
            name, seed, 1 - history['train_accuracy'][-1],
            history['val_accuracy'][-1], history['seconds']))
  return results


def summarize(results, pairs):
  """Final numbers per network and the verdict on degradation."""
  rows = []
  for depth, residual, plain in pairs:
    for name, kind in ((plain, 'plain'), (residual, 'residual')):
      runs = results[name]
      errors = [1 - h['train_accuracy'][-1] for h in runs]
      accuracy = [h['val_accuracy'][-1] for h in runs]
      rows.append({'network': name, 'kind': kind, 'depth': depth,
                   'train_error': float(np.mean(errors)),
                   'train_error_sd': float(np.std(errors)),
                   'val_accuracy': float(np.mean(accuracy)),
                   'val_accuracy_sd': float(np.std(accuracy)),
                   'seconds': float(sum(h['seconds'] for h in runs))})
  by = {(r['kind'], r['depth']): r for r in rows}
  depths = sorted({r['depth'] for r in rows})
  verdict = None
  if len(depths) >= 2:
    shallow, deep = depths[0], depths[-1]
    plain_degrades = (by['plain', deep]['train_error'] >
                      by['plain', shallow]['train_error'] + DEGRADATION_MARGIN)
    residual_holds = (by['residual', deep]['train_error'] <=
                      by['residual', shallow]['train_error'] +
                      DEGRADATION_MARGIN)
    verdict = {'shallow': shallow, 'deep': deep,
               'plain_degrades': plain_degrades,
               'residual_holds': residual_holds,
               'shown': plain_degrades and residual_holds}
  return rows, verdict


def markdown(rows, verdict):
  lines = ['| network | depth | final training error | final validation '
           'accuracy | wall time (s) |', '|---|---:|---:|---:|---:|']
  for r in rows:
    lines.append('| %s | %d | %.4f ± %.4f | %.4f ± %.4f | %.0f |' % (
        r['network'], r['depth'], r['train_error'], r['train_error_sd'],
        r['val_accuracy'], r['val_accuracy_sd'], r['seconds']))
  if verdict:
    lines.append('')
    if verdict['shown']:
      lines.append('Degradation shown: plain-%d ends with a higher training '
                   'error than plain-%d, while residual-%d does not (errors '
                   'within %.0f point count as equal).' % (
                       verdict['deep'], verdict['shallow'], verdict['deep'],
                       100 * DEGRADATION_MARGIN))
    else:
      lines.append(
          'Degradation NOT shown by this run: plain-%d %s plain-%d in '
          'training error, residual-%d %s residual-%d. Train longer, use '
          'more seeds or deeper nets.' % (
              verdict['deep'],
              'is worse than' if verdict['plain_degrades'] else
              'is not worse than', verdict['shallow'], verdict['deep'],
              'is not worse than' if verdict['residual_holds'] else
              'is worse than', verdict['shallow']))
  return '\n'.join(lines)


def plot(results, path):
  import matplotlib
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt
  figure, (error_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4))
  for name, runs in sorted(results.items()):
    style = '--' if 'plain' in name else '-'
    epochs = runs[0]['epoch']
    for axis, key, transform in (
        (error_axis, 'train_accuracy', lambda a: 1 - a),
        (accuracy_axis, 'val_accuracy', lambda a: a)):
      values = np.array([transform(np.array(h[key])) for h in runs])
      line, = axis.plot(epochs, values.mean(0), style, label=name)
      if len(runs) > 1:
        axis.fill_between(epochs, values.min(0), values.max(0), alpha=0.15,
                          color=line.get_color())
  error_axis.set(title='training error (dashed: plain)', xlabel='epoch',
                 yscale='log')
  accuracy_axis.set(title='validation accuracy', xlabel='epoch')
  for axis in (error_axis, accuracy_axis):
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--family', choices=('cifar', 'resnet30', 'course'),
                      default='cifar')
  parser.add_argument('--depths', type=int, nargs='+', default=[20, 56],
                      help='CIFAR ResNet depths (6n+2)')
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
  parser.add_argument('--dataset', default='digits')
  parser.add_argument('--data-path')
  parser.add_argument('--image-size', type=int, default=16,
                      help='digits/folder images are resized to this')
  parser.add_argument('--epochs', type=int, default=10)
  parser.add_argument('--batch-size', type=int, default=64)
  parser.add_argument('--learning-rate', type=float, default=1e-3)
  parser.add_argument('--output', default='runs/plain_vs_residual')
  args = parser.parse_args(argv)
  import tensorflow as tf
  tf.get_logger().setLevel('ERROR')
  os.makedirs(args.output, exist_ok=True)
  start = time.time()
  results = train_all(args)
  rows, verdict = summarize(results, _pairs(args.family, args.depths))
  table = markdown(rows, verdict)
  plot(results, os.path.join(args.output, 'plain_vs_residual.png'))
  with open(os.path.join(args.output, 'plain_vs_residual.md'), 'w',
            encoding='utf-8') as f:
    f.write(table + '\n')
  with open(os.path.join(args.output, 'plain_vs_residual.json'), 'w',
            encoding='utf-8') as f:
    json.dump({'rows': rows, 'verdict': verdict, 'args': vars(args),
               'history': results}, f, indent=1)
  print()
  print(table)
  print('\nwall time %.0fs; plot and table in %s' % (time.time() - start,
                                                     args.output))
  return 0


if __name__ == '__main__':
  sys.exit(main())
