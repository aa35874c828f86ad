"""Training throughput of one process, towers and a local cluster, side by side.

  python scripts/scale.py [--model cifar_resnet20] [--image-size 32]

Trains the same network on the bundled digits for two epochs in each mode,
with the same images per global step, and times the training steps of the
second epoch (the first pays for graph building and warm-up) as the chief
reports them, without validation and checkpoints. The modes run in turn,
`--rounds` times, and each keeps its fastest epoch, so a passing slowdown
of a shared machine does not pick the winner. Prints a markdown table with the CPU it
ran on; compare the modes within one table only.

  1 process      batch B
  2 towers       --num-clones 2, batch B/2 per tower
  1 ps + 2 sync  SyncReplicasOptimizer, batch B/2 per worker
  1 ps + 2 async every worker step a global step, batch B/2 per worker
  2 all-reduce   no ps: each worker's copy takes the all-reduced mean,
                 batch B/2 per worker
"""

import argparse
import re
import subprocess
import sys
import tempfile

from resnet_v1_graph.training import hardware

EPOCH_LINE = re.compile(r'epoch 2/2 step (\d+) .*steps ([\d.]+)s\)')


def _run(command):
  result = subprocess.run(command, capture_output=True, text=True,
                          check=False)
  match = EPOCH_LINE.search(result.stdout)
  if result.returncode or not match:
    sys.exit('failed: %s\n%s' % (' '.join(command),
                                 (result.stdout + result.stderr)[-3000:]))
  return int(match.group(1)), float(match.group(2))


def _measure(cli, args, flags, batch, replicas_per_step, ps):
  """(global steps/s, images/s) of one mode's second epoch; `ps` None runs
  one process, a number a local cluster of 2 workers."""
  with tempfile.TemporaryDirectory() as run:
    train = ['train', '--dataset', 'digits', '--model', args.model,
             '--image-size', str(args.image_size), '--epoch', '2',
             '--batch-size', str(batch), '--model-path', run + '/m',
             '--summary-path', run + '/s'] + flags
    if ps is not None:
      # One core per worker: two workers share the machine's two cores.
      command = cli + ['cluster', '--ps', str(ps), '--workers', '2', '--'] + (
          train + ['--intra-op-threads', '1', '--inter-op-threads', '1'])
    else:
      command = cli + train
    last_step, seconds = _run(command)
  steps = last_step / 2  # global steps in the second epoch
  images = steps * batch * replicas_per_step
  return steps / seconds, images / seconds


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--model', default='cifar_resnet20')
  parser.add_argument('--image-size', type=int, default=32)
  parser.add_argument('--batch-size', type=int, default=64,
                      help='images per global step (B)')
  parser.add_argument('--rounds', type=int, default=2)
  args = parser.parse_args()
  half = args.batch_size // 2
  cli = [sys.executable, '-m', 'resnet_v1_graph.cli']
  # (name, flags, batch per replica, replicas per global step, ps tasks)
  modes = [
      ('1 process', [], args.batch_size, 1, None),
      ('2 towers', ['--num-clones', '2'], half, 2, None),
      ('1 ps + 2 workers, sync', ['--sync-replicas', 'true'], half, 2, 1),
      ('1 ps + 2 workers, async', ['--sync-replicas', 'false'], half, 1, 1),
      ('2 workers, all-reduce', [], half, 2, 0),
  ]
  best = {}
  for _ in range(args.rounds):
    for name, flags, batch, replicas_per_step, ps in modes:
      rate = _measure(cli, args, flags, batch, replicas_per_step, ps)
      print('%s: %.2f steps/s, %.0f images/s' % ((name,) + rate),
            file=sys.stderr)
      best[name] = max(best.get(name, rate), rate, key=lambda r: r[1])
  rows = [(name,) + best[name] for name, *_ in modes]
  print('%s, %s at %dx%d, %d images per global step (async: %d per step)\n'
        % (hardware.describe(), args.model, args.image_size, args.image_size,
           args.batch_size, half))
  print('| mode | global steps/s | images/s | vs 1 process |')
  print('|---|---|---|---|')
  for name, steps, images in rows:
    print('| %s | %.2f | %.0f | %.2fx |' % (name, steps, images,
                                            images / rows[0][2]))


if __name__ == '__main__':
  main()
