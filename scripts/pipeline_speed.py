"""Input-pipeline throughput: TFRecord shards against the same data in memory.

Writes the bundled digits (or another source) as TFRecord shards in a
temporary directory, then times the training pipeline of both
(`Split.batched`: shuffle, decode, batch, scale, prefetch) with no network
behind it, in alternating rounds in one process, and prints images/s.

  python scripts/pipeline_speed.py [--image-size 32] [--shards 4]
      [--batch-size 128] [--batches 200] [--rounds 3]
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top
import tensorflow.compat.v1 as tf

from resnet_v1_graph import data
from resnet_v1_graph.training import hardware


def images_per_second(split, batch_size, batches):
  """Images/s of `batches` batches of the shuffled, repeating pipeline."""
  with tf.Graph().as_default():
    dataset = split.batched(batch_size, shuffle_buffer=split.num_examples,
                            seed=0, repeat=True)
    images, _ = tf.data.make_one_shot_iterator(dataset).get_next()
    with tf.Session() as session:
      for _ in range(5):  # Fill the shuffle buffer and the prefetch.
        session.run(images)
      started = time.perf_counter()
      count = sum(len(session.run(images)) for _ in range(batches))
      return count / (time.perf_counter() - started)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--image-size', type=int, default=32)
  parser.add_argument('--shards', type=int, default=4)
  parser.add_argument('--batch-size', type=int, default=128)
  parser.add_argument('--batches', type=int, default=200)
  parser.add_argument('--rounds', type=int, default=3)
  args = parser.parse_args()
  memory = data.load_digits(image_size=args.image_size)
  with tempfile.TemporaryDirectory() as shards:
    data.write_tfrecord(memory, shards, name='digits',
                        num_shards=args.shards)
    records = data.load_tfrecord(shards)
    print('%s; digits at %dx%d, %d train images, batch %d, %d shards'
          % (hardware.describe(), args.image_size, args.image_size,
             memory.train.num_examples, args.batch_size, args.shards))
    best = {}
    for round_index in range(args.rounds):
      for name, split in (('in memory', memory.train),
                          ('tfrecord', records.train)):
        rate = images_per_second(split, args.batch_size, args.batches)
        best[name] = max(best.get(name, 0.), rate)
        print('round %d %-9s %8.0f images/s' % (round_index + 1, name, rate))
  print('best: in memory %.0f, tfrecord %.0f images/s (tfrecord / memory '
        '%.2fx)' % (best['in memory'], best['tfrecord'],
                    best['tfrecord'] / best['in memory']))


if __name__ == '__main__':
  main()
