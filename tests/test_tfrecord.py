"""TFRecord shards in slim's format: reading, writing, damage, training.

The reader is checked on shards written here the way slim's converters
write them (plain `tf.train.Example` protos, no code of ours), and the
writer by round trips from every source the project reads.
"""

import os
import re
import struct

import numpy as np
import pytest
import tensorflow as tf

from resnet_v1_graph import cli
from resnet_v1_graph import data
from resnet_v1_graph.data import tfrecord
# The small files in each real format that the data tests write.
from test_data import _load_case, cifar_paths, cifar_examples  # noqa: F401
from test_data import folder_images, folder_path, signs_path  # noqa: F401

SLIM_IMAGE_SIZE = (6, 5)
SLIM_CLASSES = ('daisy', 'dandelion', 'roses')


def _slim_example(encoded, image_format, label, height, width):
  """What slim's `dataset_utils.image_to_tfexample` puts in a record."""
  def int64(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

  def data_bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

  return tf.train.Example(features=tf.train.Features(feature={
      'image/encoded': data_bytes(encoded),
      'image/format': data_bytes(image_format),
      'image/class/label': int64(label),
      'image/height': int64(height),
      'image/width': int64(width),
  })).SerializeToString()


def _write_records(path, records):
  with tf.io.TFRecordWriter(path) as writer:
    for record in records:
      writer.write(record)


def _slim_images(count, seed, image_format):
  rng = np.random.default_rng(seed)
  height, width = SLIM_IMAGE_SIZE
  labels = rng.integers(0, len(SLIM_CLASSES), count)
  if image_format == b'png':
    pixels = rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)
    encoded = [tf.io.encode_png(p).numpy() for p in pixels]
  else:  # A flat colour survives JPEG within a few levels.
    colours = rng.integers(20, 236, (count, 1, 1, 3), dtype=np.uint8)
    pixels = np.broadcast_to(colours, (count, height, width, 3)).copy()
    encoded = [tf.io.encode_jpeg(p, quality=100).numpy() for p in pixels]
  records = [_slim_example(e, image_format, int(l), height, width)
             for e, l in zip(encoded, labels)]
  return pixels, labels, records


@pytest.fixture(scope='module')
def slim_dir(module_dir):
  """flowers-style: train in 2 PNG shards, validation in 1 JPEG shard."""
  root = str(module_dir('slim'))
  train = _slim_images(9, seed=0, image_format=b'png')
  validation = _slim_images(4, seed=1, image_format=b'jpeg')
  _write_records(os.path.join(root, 'flowers_train_00000-of-00002.tfrecord'),
                 train[2][:5])
  _write_records(os.path.join(root, 'flowers_train_00001-of-00002.tfrecord'),
                 train[2][5:])
  _write_records(
      os.path.join(root, 'flowers_validation_00000-of-00001.tfrecord'),
      validation[2])
  with open(os.path.join(root, 'labels.txt'), 'w') as f:
    f.writelines('%d:%s\n' % (i, n) for i, n in enumerate(SLIM_CLASSES))
  return root, train, validation


def test_reads_shards_as_slim_writes_them(slim_dir):
  root, (train_pixels, train_labels, _), (val_pixels, val_labels, _) = (
      slim_dir)
  source = data.load('tfrecord', root)
  assert source.class_names == list(SLIM_CLASSES)
  assert source.image_shape == SLIM_IMAGE_SIZE + (3,)
  images, labels = source.train.arrays()
  # Shard after shard, in record order; PNG pixels come back exactly.
  np.testing.assert_array_equal(labels, train_labels)
  np.testing.assert_array_equal(images, train_pixels / np.float32(255))
  images, labels = source.validation.arrays()
  np.testing.assert_array_equal(labels, val_labels)
  np.testing.assert_allclose(images, val_pixels / 255., atol=3 / 255.)
  # No test split: evaluation falls back to validation.
  assert source.test is source.validation


def test_one_file_per_split_without_labels_holds_out_validation(tmp_path):
  pixels, labels, records = _slim_images(30, seed=2, image_format=b'png')
  _write_records(str(tmp_path / 'cifar10_train.tfrecord'), records[:24])
  _write_records(str(tmp_path / 'cifar10_test.tfrecord'), records[24:])
  source = data.load_tfrecord(tmp_path, validation_fraction=0.25, seed=3)
  assert source.class_names == [str(i) for i in range(labels.max() + 1)]
  train_images, train_labels = source.train.arrays()
  val_images, val_labels = source.validation.arrays()
  assert len(train_labels) + len(val_labels) == 24
  assert len(val_labels) == 6
  # Together the two are exactly the train file's records.
  rows = np.concatenate([train_images, val_images]).reshape(24, -1)
  expected = (pixels[:24] / np.float32(255)).reshape(24, -1)
  order, expected_order = np.lexsort(rows.T), np.lexsort(expected.T)
  np.testing.assert_array_equal(rows[order], expected[expected_order])
  np.testing.assert_array_equal(
      np.concatenate([train_labels, val_labels])[order],
      labels[:24][expected_order])
  np.testing.assert_array_equal(source.test.arrays()[1], labels[24:])


@pytest.mark.parametrize('case', ('digits', 'cifar10', 'signs', 'folder'))
def test_every_source_round_trips(case, cifar_paths, signs_path, folder_path,
                                  tmp_path):
  source = _load_case(case, cifar_paths, signs_path, folder_path)
  written = data.write_tfrecord(source, tmp_path, name=case, num_shards=3,
                                seed=None)
  back = data.load_tfrecord(tmp_path, image_size=source.image_shape[:2])
  assert back.class_names == source.class_names
  assert back.image_shape == source.image_shape
  for split in ('train', 'validation', 'test'):
    expected_images, expected_labels = getattr(source, split).arrays()
    images, labels = getattr(back, split).arrays()
    np.testing.assert_array_equal(labels, expected_labels)
    if case == 'digits':  # Float pixels are stored as 8-bit PNG.
      expected_images = np.round(expected_images * 255) / np.float32(255)
    # An image folder decodes its files in the same ops either way, with
    # float rounding between dividing by 255 and the decoder's scaling.
    np.testing.assert_allclose(images, expected_images,
                               atol=1e-6 if case == 'folder' else 0)
    # Balanced: shard sizes differ by at most one.
    sizes = [sum(1 for _ in tf.data.TFRecordDataset(p))
             for p in written[split]]
    assert sum(sizes) == len(labels) and max(sizes) - min(sizes) <= 1


def test_written_order_is_shuffled_by_seed(tmp_path):
  source = data.load_digits(image_size=8)
  data.write_tfrecord(source, tmp_path, name='digits', num_shards=2)
  _, labels = data.load_tfrecord(tmp_path).train.arrays()
  assert sorted(labels) == sorted(source.train.labels)
  assert not np.array_equal(labels, source.train.labels)
  # Each shard holds a mix of classes, not one or two.
  first = tfrecord._scan(os.path.join(
      tmp_path, 'digits_train_00000-of-00002.tfrecord'))
  assert len(np.unique(first.labels)) == 10


def _record_offsets(path):
  """Byte offsets of each record's data, read from TFRecord's framing."""
  offsets, blob, position = [], open(path, 'rb').read(), 0
  while position < len(blob):
    length, = struct.unpack('<Q', blob[position:position + 8])
    offsets.append(position + 12)
    position += 12 + length + 4
  return offsets


@pytest.fixture
def digits_shards(tmp_path):
  source = data.load_digits(image_size=8, validation_fraction=0.1,
                            test_fraction=0.1)
  data.write_tfrecord(source, tmp_path, name='digits', num_shards=2)
  return tmp_path, source


def test_a_damaged_record_is_named_or_skipped(digits_shards, capsys):
  root, source = digits_shards
  shard = os.path.join(root, 'digits_train_00000-of-00002.tfrecord')
  offsets = _record_offsets(shard)
  blob = bytearray(open(shard, 'rb').read())
  blob[offsets[7] + 20] ^= 0xFF
  open(shard, 'wb').write(bytes(blob))
  with pytest.raises(ValueError, match=re.escape(shard) + r': record 7 '
                     r'cannot be read \(.*\); re-create the shard, or skip'):
    data.load_tfrecord(root)
  skipped = data.load_tfrecord(root, skip_corrupt=True)
  assert skipped.train.num_examples == (source.train.num_examples
                                        - (len(offsets) - 7))
  assert 'skipped in %s: records from 7 on' % shard in capsys.readouterr().out
  images, labels = skipped.train.arrays()
  assert len(labels) == skipped.train.num_examples == len(images)


def test_an_undecodable_image_is_named_or_skipped(tmp_path, capsys):
  _, labels, records = _slim_images(6, seed=4, image_format=b'png')
  records[3] = _slim_example(b'\x89PNG but not really', b'png', 1,
                             *SLIM_IMAGE_SIZE)
  records[4] = _slim_example(b'GIF89a', b'png', 1, *SLIM_IMAGE_SIZE)
  shard = str(tmp_path / 'flowers_train_00000-of-00001.tfrecord')
  _write_records(shard, records)
  # Loading reads every record but decodes none; the pipeline names the
  # first image that is no image format by shard and record.
  strict = data.load_tfrecord(tmp_path, validation_fraction=0.,
                              test_fraction=0.)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r'(?s)not a JPEG, PNG, GIF, BMP or WebP file.*'
                           r'%s.*record.*\b3\b' % re.escape(shard)):
    strict.train.arrays()
  lenient = data.load_tfrecord(tmp_path, skip_corrupt=True,
                               validation_fraction=0., test_fraction=0.)
  assert 'undecodable images at records 3, 4' in capsys.readouterr().out
  _, got = lenient.train.arrays()
  np.testing.assert_array_equal(got, np.delete(labels, [3, 4]))


def test_missing_shards_and_bad_labels_are_named(digits_shards):
  root, _ = digits_shards
  os.remove(os.path.join(root, 'digits_train_00001-of-00002.tfrecord'))
  with pytest.raises(ValueError, match='missing shards digits_train_00001-of-'
                     '00002.tfrecord of 2'):
    data.load_tfrecord(root)
  with pytest.raises(FileNotFoundError, match="holds no shards of dataset "
                     "'flowers'"):
    data.load_tfrecord(root, name='flowers')
  data.write_tfrecord(data.load_digits(image_size=8), root, name='digits',
                      num_shards=2, force=True)
  with open(os.path.join(root, 'labels.txt'), 'a') as f:
    f.write('eleven\n')
  with pytest.raises(ValueError, match=r'labels.txt line 11: expected '
                     r'<label>:<class name>'):
    data.load_tfrecord(root)


def test_existing_shards_are_kept_unless_forced(digits_shards):
  root, source = digits_shards
  before = {e: open(os.path.join(root, e), 'rb').read()
            for e in os.listdir(root)}
  with pytest.raises(FileExistsError, match='already holds digits_test_'):
    data.write_tfrecord(source, root, name='digits', num_shards=1)
  assert {e: open(os.path.join(root, e), 'rb').read()
          for e in os.listdir(root)} == before
  data.write_tfrecord(source, root, name='digits', num_shards=1, force=True)
  assert sorted(os.listdir(root)) == [
      'digits_test_00000-of-00001.tfrecord',
      'digits_train_00000-of-00001.tfrecord',
      'digits_validation_00000-of-00001.tfrecord', 'labels.txt']


def test_training_from_shards_matches_training_in_memory(tmp_path, capsys):
  shards = str(tmp_path / 'shards')
  assert cli.main(['data', 'to-tfrecord', '--dataset', 'digits',
                   '--image-size', '8', '--output', shards,
                   '--shards', '4']) == 0
  assert 'train: 4 shards' in capsys.readouterr().out
  accuracy = {}
  for dataset in ('digits', 'tfrecord'):
    flags = ['train', '--dataset', dataset, '--model', 'cifar_resnet20',
             '--image-size', '8', '--epoch', '3', '--batch-size', '64',
             '--batch-norm-momentum', '0.5',
             '--model-path', str(tmp_path / dataset / 'model'),
             '--summary-path', str(tmp_path / dataset / 'summary')]
    if dataset == 'tfrecord':
      flags += ['--data-path', shards]
    assert cli.main(flags) == 0
    out = capsys.readouterr().out
    assert 'training cifar_resnet20 on %s' % dataset in out
    accuracy[dataset] = float(out.split('test accuracy: ')[1].split()[0])
  # The same images (to 8 bits) and the same test split; only the order
  # of the training examples differs.
  assert accuracy['digits'] > 0.85
  assert abs(accuracy['tfrecord'] - accuracy['digits']) < 0.04, accuracy
