"""Tests for resnet_v1_graph.data on small files written in each real format."""

import io
import os
import pickle
import re
import tarfile

import h5py
import numpy as np
import pytest
import sklearn.datasets
import tensorflow as tf

from resnet_v1_graph import data
from resnet_v1_graph.data import splits as splits_lib

CIFAR_LABEL_NAMES = (b'airplane', b'automobile', b'bird', b'cat', b'deer',
                     b'dog', b'frog', b'horse', b'ship', b'truck')
CIFAR_TRAIN_PER_BATCH = 20  # 5 batches -> 10 training images per class.
CIFAR_TEST_EXAMPLES = 20
# Python 3 writes bytes at protocol 2 through `_codecs.encode`, a global the
# real (Python 2, protocol 2) files never contain; protocol 4 stores bytes
# natively and names the same numpy globals, as the real files do.
CIFAR_PICKLE_PROTOCOL = 4
CIFAR_LAYOUTS = ('python-folder', 'python-archive', 'python-folder-parent',
                 'python-archive-parent', 'binary-folder', 'binary-archive',
                 'binary-folder-parent', 'binary-archive-parent')

SIGNS_NUM_CLASSES = 6
SIGNS_TRAIN_PER_CLASS = 5
SIGNS_TEST_PER_CLASS = 2
SIGNS_IMAGE_SHAPE = (64, 64, 3)

DIGITS_TOTAL = 1797

FOLDER_IMAGE_SIZE = (6, 5)
# JPEG of a flat colour decodes within a couple of levels of the original.
JPEG_TOLERANCE = 3 / 255.
PNG_TOLERANCE = 1e-6


def _collect(make_dataset):
  """Runs `make_dataset()` in a fresh graph and returns all its elements."""
  with tf.Graph().as_default():
    dataset = make_dataset()
    next_batch = tf.compat.v1.data.make_one_shot_iterator(
        dataset.batch(64)).get_next()
    images, labels = [], []
    with tf.compat.v1.Session() as session:
      while True:
        try:
          batch_images, batch_labels = session.run(next_batch)
        except tf.errors.OutOfRangeError:
          break
        images.append(batch_images)
        labels.append(batch_labels)
  return np.concatenate(images), np.concatenate(labels)


def _sorted_examples(images, labels):
  """The examples as a sorted list: a multiset to compare splits with."""
  return sorted((int(label), image.tobytes())
                for image, label in zip(images, labels))


def _all_splits(source):
  return (source.train, source.validation, source.test)


# CIFAR-10 ---------------------------------------------------------------------


def _cifar_examples(seed):
  rng = np.random.default_rng(seed)
  num_train = CIFAR_TRAIN_PER_BATCH * data.CIFAR_NUM_TRAIN_BATCHES
  train_images = rng.integers(0, 256, (num_train, 32, 32, 3), dtype=np.uint8)
  train_labels = rng.permutation(np.arange(num_train) % 10)
  test_images = rng.integers(0, 256, (CIFAR_TEST_EXAMPLES, 32, 32, 3),
                             dtype=np.uint8)
  test_labels = rng.permutation(np.arange(CIFAR_TEST_EXAMPLES) % 10)
  return train_images, train_labels, test_images, test_labels


def _channel_major_rows(images):
  # The published layout: 1024 red, then 1024 green, then 1024 blue bytes,
  # each plane row-major.
  return images.transpose(0, 3, 1, 2).reshape(len(images), 32 * 32 * 3)


def _train_batches(train_images, train_labels):
  for b in range(data.CIFAR_NUM_TRAIN_BATCHES):
    rows = slice(b * CIFAR_TRAIN_PER_BATCH, (b + 1) * CIFAR_TRAIN_PER_BATCH)
    yield b, train_images[rows], train_labels[rows]


def _write_cifar_python_batch(file_path, batch_label, images, labels):
  batch = {
      b'batch_label': batch_label,
      b'labels': [int(label) for label in labels],
      b'data': _channel_major_rows(images),
      b'filenames': [b'image_%04d.png' % i for i in range(len(images))],
  }
  with open(file_path, 'wb') as f:
    pickle.dump(batch, f, protocol=CIFAR_PICKLE_PROTOCOL)


def _write_cifar_python(folder, train_images, train_labels, test_images,
                        test_labels):
  os.makedirs(folder)
  for b, images, labels in _train_batches(train_images, train_labels):
    _write_cifar_python_batch(
        os.path.join(folder, 'data_batch_%d' % (b + 1)),
        b'training batch %d of 5' % (b + 1), images, labels)
  _write_cifar_python_batch(os.path.join(folder, 'test_batch'),
                            b'testing batch 1 of 1', test_images, test_labels)
  meta = {b'label_names': list(CIFAR_LABEL_NAMES),
          b'num_cases_per_batch': CIFAR_TRAIN_PER_BATCH, b'num_vis': 3072}
  with open(os.path.join(folder, 'batches.meta'), 'wb') as f:
    pickle.dump(meta, f, protocol=CIFAR_PICKLE_PROTOCOL)


def _cifar_binary_records(images, labels):
  return b''.join(bytes([int(label)]) + row.tobytes()
                  for row, label in zip(_channel_major_rows(images), labels))


def _write_cifar_binary(folder, train_images, train_labels, test_images,
                        test_labels):
  os.makedirs(folder)
  for b, images, labels in _train_batches(train_images, train_labels):
    with open(os.path.join(folder, 'data_batch_%d.bin' % (b + 1)), 'wb') as f:
      f.write(_cifar_binary_records(images, labels))
  with open(os.path.join(folder, 'test_batch.bin'), 'wb') as f:
    f.write(_cifar_binary_records(test_images, test_labels))
  # The real file ends with blank lines.
  with open(os.path.join(folder, 'batches.meta.txt'), 'wb') as f:
    f.write(b'\n'.join(CIFAR_LABEL_NAMES) + b'\n\n')


def _tar_folder(folder, archive):
  with tarfile.open(archive, 'w:gz') as tar:
    tar.add(folder, arcname=os.path.basename(folder))


def _write_cifar_layout(root, layout, examples):
  """Writes CIFAR-10 in `layout`; returns the path to pass to the loader."""
  version, kind = layout.split('-', 1)
  folder_name, archive_name, write = {
      'python': (data.CIFAR_PYTHON_FOLDER, data.CIFAR_PYTHON_ARCHIVE,
                 _write_cifar_python),
      'binary': (data.CIFAR_BINARY_FOLDER, data.CIFAR_BINARY_ARCHIVE,
                 _write_cifar_binary),
  }[version]
  parent = os.path.join(str(root), layout)
  os.makedirs(parent)
  folder = os.path.join(parent, folder_name)
  write(folder, *examples)
  if kind.startswith('archive'):
    archive = os.path.join(parent, archive_name)
    _tar_folder(folder, archive)
    # Only the archive stays, so the loader cannot fall back on the folder.
    for name in os.listdir(folder):
      os.remove(os.path.join(folder, name))
    os.rmdir(folder)
    return parent if kind.endswith('parent') else archive
  return parent if kind.endswith('parent') else folder


@pytest.fixture(scope='module')
def cifar_examples():
  return _cifar_examples(seed=0)


@pytest.fixture(scope='module')
def cifar_paths(module_dir, cifar_examples):
  root = module_dir('cifar')
  return {layout: _write_cifar_layout(root, layout, cifar_examples)
          for layout in CIFAR_LAYOUTS}


@pytest.mark.parametrize('layout', CIFAR_LAYOUTS)
def test_cifar10_reads_every_layout_pixel_for_pixel(cifar_paths,
                                                    cifar_examples, layout):
  train_images, train_labels, test_images, test_labels = cifar_examples
  source = data.load_cifar10(cifar_paths[layout], validation_fraction=0.)
  assert source.name == 'cifar10'
  assert source.image_shape == (32, 32, 3)
  assert source.num_classes == 10
  assert source.class_names == [n.decode() for n in CIFAR_LABEL_NAMES]
  assert source.validation.num_examples == 0
  for split, images, labels in ((source.train, train_images, train_labels),
                                (source.test, test_images, test_labels)):
    got_images, got_labels = split.arrays()
    assert got_images.dtype == np.float32 and got_labels.dtype == np.int64
    np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_array_equal(got_images,
                                  images.astype(np.float32) / np.float32(255))


@pytest.mark.parametrize('layout', ('python-folder', 'binary-archive'))
def test_cifar10_channel_major_pixel_lands_at_nhwc_position(tmp_path, layout):
  """Byte k * 1024 + r * 32 + c of row i is pixel (i, r, c, k)."""
  examples = _cifar_examples(seed=1)
  # Hand-placed marks: a distinct value at distinct positions on every axis.
  marks = [(3, 0, 31, 0, 7), (17, 5, 2, 1, 201), (40, 31, 0, 2, 99)]
  for i, r, c, k, value in marks:
    examples[0][i, r, c, k] = value
  raw_rows = _channel_major_rows(examples[0])
  for i, r, c, k, value in marks:
    assert raw_rows[i, k * 1024 + r * 32 + c] == value
  path = _write_cifar_layout(tmp_path, layout, examples)
  images, _ = data.load_cifar10(path, validation_fraction=0.).train.arrays()
  for i, r, c, k, value in marks:
    assert images[i, r, c, k] == np.float32(value) / np.float32(255)


def test_cifar10_validation_is_carved_stratified_from_train(cifar_paths,
                                                           cifar_examples):
  train_images, train_labels, test_images, _ = cifar_examples
  source = data.load_cifar10(cifar_paths['python-folder'],
                             validation_fraction=0.2, seed=3)
  train = source.train.arrays()
  validation = source.validation.arrays()
  assert source.train.num_examples == 80
  assert source.validation.num_examples == 20
  assert source.test.num_examples == len(test_images)
  # 10 training images per class, so a fifth is 2 per class.
  np.testing.assert_array_equal(np.bincount(validation[1], minlength=10),
                                np.full(10, 2))
  carved = _sorted_examples(np.concatenate([train[0], validation[0]]),
                            np.concatenate([train[1], validation[1]]))
  assert carved == _sorted_examples(
      train_images.astype(np.float32) / np.float32(255), train_labels)


# The restricted unpickler -----------------------------------------------------


class _ShellPayload:
  """Unpickling this runs a shell command that creates `marker`."""

  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.system, ('echo pwned > %s' % self.marker,))


@pytest.mark.parametrize('layout', ('python-folder', 'python-archive'))
def test_cifar10_unpickler_refuses_code_execution(tmp_path, cifar_examples,
                                                  layout):
  # Control: the payload is live under plain pickle.
  control_marker = tmp_path / 'control_marker'
  pickle.loads(pickle.dumps(_ShellPayload(control_marker)))
  assert control_marker.exists()

  marker = tmp_path / 'marker'
  folder = tmp_path / 'evil' / data.CIFAR_PYTHON_FOLDER
  _write_cifar_python(str(folder), *cifar_examples)
  with open(folder / 'data_batch_1', 'wb') as f:
    pickle.dump({b'data': _ShellPayload(marker)}, f,
                protocol=CIFAR_PICKLE_PROTOCOL)
  path = folder
  if layout == 'python-archive':
    path = tmp_path / data.CIFAR_PYTHON_ARCHIVE
    _tar_folder(str(folder), str(path))
  with pytest.raises(pickle.UnpicklingError,
                     match=r'forbidden global (os|posix)\.system'):
    data.load_cifar10(path)
  assert not marker.exists()


@pytest.mark.parametrize('reconstruct_module', (
    b'numpy.core.multiarray',  # Pickles written by numpy 1, like CIFAR's.
    b'numpy._core.multiarray',  # Pickles written by numpy 2.
))
def test_cifar_unpickler_rebuilds_arrays_from_either_numpy(reconstruct_module):
  array = np.arange(12, dtype=np.uint8).reshape(3, 4)
  # Protocol 3 names globals as plain text lines, so the module can be
  # rewritten to the other numpy's spelling.
  raw = pickle.dumps({b'data': array}, protocol=3)
  assert raw.count(b'numpy._core.multiarray\n') == 1
  raw = raw.replace(b'numpy._core.multiarray\n', reconstruct_module + b'\n')
  loaded = data._CifarUnpickler(io.BytesIO(raw), encoding='bytes').load()
  np.testing.assert_array_equal(loaded[b'data'], array)
  assert loaded[b'data'].dtype == np.uint8


@pytest.mark.parametrize('module, name', [
    ('builtins', 'eval'),
    ('builtins', 'getattr'),
    ('posix', 'system'),
    ('numpy', 'load'),
    ('numpy._core.numeric', '_frombuffer'),
])
def test_cifar_unpickler_rejects_other_globals(module, name):
  with pytest.raises(pickle.UnpicklingError,
                     match=r'forbidden global %s\.%s' % (module, name)):
    data._CifarUnpickler(io.BytesIO(b'')).find_class(module, name)


def test_cifar10_archive_member_that_is_a_link_is_refused(tmp_path):
  archive = tmp_path / data.CIFAR_PYTHON_ARCHIVE
  with tarfile.open(archive, 'w:gz') as tar:
    member = tarfile.TarInfo(data.CIFAR_PYTHON_FOLDER + '/data_batch_1')
    member.type = tarfile.SYMTYPE
    member.linkname = '/etc/passwd'
    tar.addfile(member)
  with pytest.raises(ValueError, match='not a regular file'):
    data.load_cifar10(archive)


# Hand signs -------------------------------------------------------------------


def _signs_examples(per_class, seed):
  rng = np.random.default_rng(seed)
  labels = rng.permutation(np.arange(SIGNS_NUM_CLASSES * per_class)
                           % SIGNS_NUM_CLASSES)
  images = rng.integers(0, 256, (len(labels),) + SIGNS_IMAGE_SHAPE,
                        dtype=np.uint8)
  return images, labels


def _write_signs(folder, train=None, test=None):
  os.makedirs(folder, exist_ok=True)
  train = train or _signs_examples(SIGNS_TRAIN_PER_CLASS, seed=0)
  test = test or _signs_examples(SIGNS_TEST_PER_CLASS, seed=1)
  for prefix, (images, labels) in (('train', train), ('test', test)):
    with h5py.File(os.path.join(folder, '%s_signs.h5' % prefix), 'w') as f:
      f['%s_set_x' % prefix] = images
      f['%s_set_y' % prefix] = labels.astype(np.int64)
      f['list_classes'] = np.arange(SIGNS_NUM_CLASSES, dtype=np.int64)
  return train, test


@pytest.fixture(scope='module')
def signs_path(module_dir):
  folder = str(module_dir('signs'))
  _write_signs(folder)
  return folder


def test_signs_round_trips_images_labels_and_classes(signs_path):
  train_images, train_labels = _signs_examples(SIGNS_TRAIN_PER_CLASS, seed=0)
  test_images, test_labels = _signs_examples(SIGNS_TEST_PER_CLASS, seed=1)
  source = data.load_signs(signs_path, validation_fraction=0.)
  assert source.name == 'signs'
  assert source.image_shape == SIGNS_IMAGE_SHAPE
  assert source.class_names == ['0', '1', '2', '3', '4', '5']
  for split, images, labels in ((source.train, train_images, train_labels),
                                (source.test, test_images, test_labels)):
    got_images, got_labels = split.arrays()
    np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_array_equal(got_images,
                                  images.astype(np.float32) / np.float32(255))


def test_signs_validation_is_carved_stratified_from_train(signs_path):
  source = data.load_signs(signs_path, validation_fraction=0.2, seed=5)
  _, validation_labels = source.validation.arrays()
  assert source.train.num_examples + source.validation.num_examples == (
      SIGNS_NUM_CLASSES * SIGNS_TRAIN_PER_CLASS)
  # A fifth of 5 per class is exactly one per class.
  np.testing.assert_array_equal(
      np.bincount(validation_labels, minlength=SIGNS_NUM_CLASSES),
      np.ones(SIGNS_NUM_CLASSES))


# Class folders ----------------------------------------------------------------


def _write_image(file_path, pixels):
  """Writes uint8 `pixels` [h, w, c] as PNG or JPEG by the file extension."""
  if file_path.lower().endswith('.png'):
    encoded = tf.io.encode_png(pixels)
  else:
    encoded = tf.io.encode_jpeg(pixels, quality=100)
  tf.io.write_file(file_path, encoded)


def _folder_images(seed):
  """Per class, (file name, source pixels, tolerance) in sorted name order.

  PNGs are written at the output size so they come back exactly; JPEGs are a
  flat colour at twice the size, so resizing leaves the colour unchanged.
  """
  rng = np.random.default_rng(seed)
  height, width = FOLDER_IMAGE_SIZE

  def random_png(channels):
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)

  def flat_jpeg():
    colour = rng.integers(20, 236, 3, dtype=np.uint8)
    return np.broadcast_to(colour, (2 * height, 2 * width, 3)).copy()

  return {
      'cat': [('a.png', random_png(3), PNG_TOLERANCE),
              ('b.PNG', random_png(3), PNG_TOLERANCE),
              ('c.jpg', flat_jpeg(), JPEG_TOLERANCE),
              ('d.JPEG', flat_jpeg(), JPEG_TOLERANCE),
              ('e.png', random_png(3), PNG_TOLERANCE)],
      'dog': [('a.png', random_png(1), PNG_TOLERANCE),
              ('b.Jpg', flat_jpeg(), JPEG_TOLERANCE),
              ('c.png', random_png(3), PNG_TOLERANCE),
              ('d.jpeg', flat_jpeg(), JPEG_TOLERANCE),
              ('e.png', random_png(1), PNG_TOLERANCE)],
      'fish': [('a.png', random_png(4), PNG_TOLERANCE),
               ('b.png', random_png(3), PNG_TOLERANCE),
               ('c.JPG', flat_jpeg(), JPEG_TOLERANCE),
               ('d.png', random_png(4), PNG_TOLERANCE),
               ('e.jpeg', flat_jpeg(), JPEG_TOLERANCE)],
  }


def _write_class_folders(root, images_by_class):
  for class_name, images in images_by_class.items():
    folder = os.path.join(root, class_name)
    os.makedirs(folder)
    for name, pixels, _ in images:
      _write_image(os.path.join(folder, name), pixels)
    # Neither a non-image nor a hidden file is an example.
    with open(os.path.join(folder, 'notes.txt'), 'w') as f:
      f.write('not an image')
    _write_image(os.path.join(folder, '.hidden.png'),
                 np.zeros((2, 2, 3), np.uint8))


def _expected_pixels(pixels, channels):
  """What `pixels` becomes with `channels` channels, in [0, 1]."""
  height, width = FOLDER_IMAGE_SIZE
  if pixels.shape[:2] != (height, width):
    pixels = pixels[:height, :width]  # A flat colour: any crop will do.
  source_channels = pixels.shape[-1]
  if channels == 1:
    assert source_channels == 1, 'no independent oracle for RGB -> gray'
    result = pixels
  elif source_channels == 1:
    result = np.repeat(pixels, 3, axis=-1)
  else:
    result = pixels[..., :3]
  return result.astype(np.float32) / 255.


@pytest.fixture(scope='module')
def folder_images():
  return _folder_images(seed=0)


@pytest.fixture(scope='module')
def folder_path(module_dir, folder_images):
  root = str(module_dir('folder'))
  _write_class_folders(root, folder_images)
  return root


def test_folder_decodes_png_and_jpeg_in_class_order(folder_path,
                                                    folder_images):
  source = data.load_folder(folder_path, image_size=FOLDER_IMAGE_SIZE,
                            validation_fraction=0., test_fraction=0.)
  assert source.name == 'folder'
  assert source.class_names == ['cat', 'dog', 'fish']
  assert source.image_shape == FOLDER_IMAGE_SIZE + (3,)
  images, labels = source.train.arrays()
  expected = [(label, pixels, tolerance)
              for label, name in enumerate(source.class_names)
              for _, pixels, tolerance in folder_images[name]]
  assert len(images) == len(expected) == 15
  assert images.dtype == np.float32 and labels.dtype == np.int64
  for image, label, (expected_label, pixels, tolerance) in zip(
      images, labels, expected):
    assert label == expected_label
    np.testing.assert_allclose(image, _expected_pixels(pixels, channels=3),
                               atol=tolerance, rtol=0)


def test_folder_grayscale_output_keeps_gray_sources_exact(folder_path,
                                                         folder_images):
  source = data.load_folder(folder_path, image_size=FOLDER_IMAGE_SIZE,
                            channels=1, validation_fraction=0.,
                            test_fraction=0.)
  images, _ = source.train.arrays()
  assert source.image_shape == FOLDER_IMAGE_SIZE + (1,)
  assert images.shape == (15,) + FOLDER_IMAGE_SIZE + (1,)
  assert images.min() >= 0. and images.max() <= 1.
  # dog/a.png and dog/e.png are the gray sources: examples 5 and 9.
  for index, (_, pixels, _) in ((5, folder_images['dog'][0]),
                                (9, folder_images['dog'][4])):
    np.testing.assert_allclose(images[index],
                               _expected_pixels(pixels, channels=1),
                               atol=PNG_TOLERANCE, rtol=0)


def test_folder_resizes_to_image_size(folder_path):
  source = data.load_folder(folder_path, image_size=9, test_fraction=0.,
                            validation_fraction=0.)
  images, _ = source.train.arrays()
  assert source.image_shape == (9, 9, 3)
  assert images.shape == (15, 9, 9, 3)
  assert images.min() >= 0. and images.max() <= 1.


def test_folder_stratified_split_by_fractions(folder_path):
  source = data.load_folder(folder_path, image_size=FOLDER_IMAGE_SIZE,
                            validation_fraction=0.2, test_fraction=0.2)
  sizes = [split.num_examples for split in _all_splits(source)]
  assert sizes == [9, 3, 3]
  for split in _all_splits(source)[1:]:
    _, labels = split.arrays()
    # 3 of 15 over 3 classes of 5: one of each.
    np.testing.assert_array_equal(np.bincount(labels, minlength=3), [1, 1, 1])


def test_folder_train_and_test_subfolders_are_the_splits(tmp_path):
  images = _folder_images(seed=2)
  train_images = {name: files[:4] for name, files in images.items()}
  test_images = {name: files[4:] for name, files in images.items()}
  _write_class_folders(str(tmp_path / 'train'), train_images)
  _write_class_folders(str(tmp_path / 'test'), test_images)
  source = data.load_folder(tmp_path, image_size=FOLDER_IMAGE_SIZE,
                            validation_fraction=0.25)
  assert source.class_names == ['cat', 'dog', 'fish']
  assert [s.num_examples for s in _all_splits(source)] == [9, 3, 3]
  got_test, test_labels = source.test.arrays()
  np.testing.assert_array_equal(test_labels, [0, 1, 2])
  for image, (_, pixels, tolerance) in zip(
      got_test, [files[0] for files in test_images.values()]):
    np.testing.assert_allclose(image, _expected_pixels(pixels, channels=3),
                               atol=tolerance, rtol=0)


# Digits -----------------------------------------------------------------------


def test_digits_has_every_example_in_range():
  source = data.load_digits()
  assert source.name == 'digits'
  assert source.image_shape == (32, 32, 1)
  assert source.num_classes == 10
  assert source.class_names == [str(i) for i in range(10)]
  assert sum(s.num_examples for s in _all_splits(source)) == DIGITS_TOTAL
  for split in _all_splits(source):
    images, labels = split.arrays()
    assert images.shape == (split.num_examples, 32, 32, 1)
    assert images.dtype == np.float32 and labels.dtype == np.int64
    assert images.min() >= 0. and images.max() <= 1.
    assert set(labels) == set(range(10))


@pytest.mark.parametrize('image_size', (4, 8, 13, 32))
def test_digits_resize_matches_tf_image_resize(image_size):
  images, labels = data.load_digits(image_size=image_size,
                                    validation_fraction=0.,
                                    test_fraction=0.).train.arrays()
  digits = sklearn.datasets.load_digits()
  expected = tf.image.resize(digits.images[..., np.newaxis] / 16.,
                             (image_size, image_size),
                             method='bilinear').numpy()
  np.testing.assert_array_equal(labels, digits.target)
  np.testing.assert_allclose(images, expected, atol=1e-6, rtol=0)


def test_digits_split_is_stratified_and_partitions_the_data():
  source = data.load_digits(image_size=8, validation_fraction=0.1,
                            test_fraction=0.2, seed=0)
  digits = sklearn.datasets.load_digits()
  class_counts = np.bincount(digits.target)
  assert source.validation.num_examples == round(0.1 * DIGITS_TOTAL)
  assert source.test.num_examples == round(0.2 * DIGITS_TOTAL)
  splits = [split.arrays() for split in _all_splits(source)]
  for fraction, (_, labels) in ((0.1, splits[1]), (0.2, splits[2])):
    deviation = np.bincount(labels, minlength=10) - fraction * class_counts
    # Each class gets its share up to rounding, so it is off by under one.
    assert np.abs(deviation).max() < 1
  union = _sorted_examples(np.concatenate([s[0] for s in splits]),
                           np.concatenate([s[1] for s in splits]))
  assert union == _sorted_examples(
      (digits.images[..., np.newaxis] / 16.).astype(np.float32), digits.target)


def test_digits_loads_inside_a_graph_without_adding_ops():
  with tf.Graph().as_default() as graph:
    source = data.load_digits(image_size=16)
    source.test.arrays()
  assert graph.get_operations() == []


# Splits: seeds and graph-mode pipelines ---------------------------------------


def _load_case(case, cifar_paths, signs_path, folder_path, seed=0):
  if case == 'digits':
    return data.load_digits(image_size=8, seed=seed)
  if case == 'cifar10':
    return data.load_cifar10(cifar_paths['binary-folder'], seed=seed,
                             validation_fraction=0.2)
  if case == 'signs':
    return data.load_signs(signs_path, seed=seed, validation_fraction=0.2)
  return data.load_folder(folder_path, image_size=FOLDER_IMAGE_SIZE,
                          seed=seed, validation_fraction=0.2,
                          test_fraction=0.2)


@pytest.mark.parametrize('case', ('digits', 'cifar10', 'signs', 'folder'))
def test_seed_makes_the_split_reproducible(case, cifar_paths, signs_path,
                                           folder_path):
  first, again, other = (
      _load_case(case, cifar_paths, signs_path, folder_path, seed=seed)
      for seed in (0, 0, 1))
  first_images, _ = first.validation.arrays()
  np.testing.assert_array_equal(again.validation.arrays()[0], first_images)
  assert not np.array_equal(other.validation.arrays()[0], first_images)


@pytest.mark.parametrize('case, max_embedded_bytes', [
    ('digits', data.MAX_EMBEDDED_ARRAY_BYTES),
    ('cifar10', data.MAX_EMBEDDED_ARRAY_BYTES),
    ('cifar10', 0),  # Streamed in chunks instead of embedded.
    ('signs', data.MAX_EMBEDDED_ARRAY_BYTES),
    ('folder', data.MAX_EMBEDDED_ARRAY_BYTES),
])
def test_as_dataset_in_graph_mode_yields_arrays(case, max_embedded_bytes,
                                                cifar_paths, signs_path,
                                                folder_path, monkeypatch):
  # Patched where `ArraySplit` reads them; `data` only re-exports them.
  monkeypatch.setattr(splits_lib, 'MAX_EMBEDDED_ARRAY_BYTES',
                      max_embedded_bytes)
  # A chunk size that leaves a partial last chunk.
  monkeypatch.setattr(splits_lib, 'STREAM_CHUNK_EXAMPLES', 7)
  source = _load_case(case, cifar_paths, signs_path, folder_path)
  for split in _all_splits(source):
    with tf.Graph().as_default() as graph:
      dataset = split.as_dataset()
      image_spec, label_spec = dataset.element_spec
      assert image_spec.shape.as_list() == list(source.image_shape)
      assert image_spec.dtype == tf.float32
      assert label_spec.shape.as_list() == [] and label_spec.dtype == tf.int64
      graph_bytes = graph.as_graph_def().ByteSize()
    images, labels = split.arrays()
    if max_embedded_bytes == 0:
      assert graph_bytes < images.nbytes // 4
    got_images, got_labels = _collect(split.as_dataset)
    np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_array_equal(got_images, images)


@pytest.mark.parametrize('case', ('cifar10', 'folder'))
def test_batched_pipeline_holds_raw_examples_and_yields_arrays(
    case, cifar_paths, signs_path, folder_path):
  split = _load_case(case, cifar_paths, signs_path, folder_path).train
  images, labels = split.arrays()
  raw = split.raw_dataset().element_spec[0]
  # The shuffle buffer holds uint8 pixels or file paths, never float32.
  assert raw.dtype == (tf.string if case == 'folder' else tf.uint8)

  in_order = _collect(lambda: split.batched(5).unbatch())
  np.testing.assert_array_equal(in_order[0], images)
  np.testing.assert_array_equal(in_order[1], labels)
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(0)
    seed = tf.compat.v1.placeholder(tf.int64, [])
    dataset = split.batched(5, shuffle_buffer=split.num_examples, seed=seed)
    assert dataset.element_spec[0].shape.as_list() == [None] + list(
        images.shape[1:])
    batch = tf.compat.v1.data.make_initializable_iterator(dataset)
    next_batch = batch.get_next()
    epochs = []
    with tf.compat.v1.Session() as session:
      for epoch in (0, 1, 0):  # as the trainer feeds it: the epoch number
        session.run(batch.initializer, {seed: epoch})
        got = []
        while True:
          try:
            got.append(session.run(next_batch))
          except tf.errors.OutOfRangeError:
            break
        epochs.append((np.concatenate([g[0] for g in got]),
                       np.concatenate([g[1] for g in got])))
  label_of = {image.tobytes(): label for image, label in zip(images, labels)}
  for shuffled_images, shuffled_labels in epochs:
    # The same examples, each image still with its label, in a new order.
    assert len(shuffled_labels) == len(labels)
    assert [label_of[image.tobytes()] for image in shuffled_images] == (
        shuffled_labels.tolist())
    assert len({image.tobytes() for image in shuffled_images}) == len(
        label_of)
  assert not np.array_equal(epochs[0][1], epochs[1][1])  # a new order
  np.testing.assert_array_equal(epochs[0][1], epochs[2][1])  # reproducible


def test_file_split_arrays_leave_the_callers_graph_alone(folder_path):
  with tf.Graph().as_default() as graph:
    source = data.load_folder(folder_path, image_size=FOLDER_IMAGE_SIZE)
    images, _ = source.test.arrays()
  assert graph.get_operations() == []
  assert images.shape == (source.test.num_examples,) + source.image_shape


# Images from outside a dataset ------------------------------------------------


def test_read_images_resizes_a_constant_image_to_its_value(tmp_path):
  path = str(tmp_path / 'flat.png')
  _write_image(path, np.full((5, 7, 3), 200, np.uint8))
  with tf.Graph().as_default() as graph:
    images = data.read_images([path], height=4, width=6, channels=3)
  # A private graph: nothing lands in the caller's.
  assert graph.get_operations() == []
  assert images.dtype == np.float32 and images.shape == (1, 4, 6, 3)
  np.testing.assert_allclose(images, 200 / 255, atol=PNG_TOLERANCE, rtol=0)


def test_read_images_interpolates_converts_channels_and_keeps_order(tmp_path):
  ramp, flat = str(tmp_path / 'ramp.png'), str(tmp_path / 'flat.png')
  _write_image(ramp, np.array([[[0], [255]]], np.uint8))
  _write_image(flat, np.full((3, 3, 3), 51, np.uint8))
  images = data.read_images([ramp, flat], height=1, width=4, channels=1)
  assert images.shape == (2, 1, 4, 1)
  # Half-pixel centres of 4 outputs over 2 inputs sit at input x = -0.25,
  # 0.25, 0.75, 1.25, clamped to [0, 1]: weights 0, 1/4, 3/4, 1 of 255.
  np.testing.assert_allclose(images[0, 0, :, 0], [0., 0.25, 0.75, 1.],
                             atol=PNG_TOLERANCE, rtol=0)
  # An RGB gray of 51 stays 51 when converted to one channel.
  np.testing.assert_allclose(images[1], 51 / 255, atol=PNG_TOLERANCE, rtol=0)


def test_read_images_names_a_missing_file(tmp_path):
  present, missing = str(tmp_path / 'here.png'), str(tmp_path / 'gone.png')
  _write_image(present, np.zeros((2, 2, 3), np.uint8))
  with pytest.raises(FileNotFoundError, match=re.escape(missing)):
    data.read_images([present, missing], height=2, width=2, channels=3)


def test_read_images_names_a_file_that_is_not_an_image(tmp_path):
  junk = str(tmp_path / 'junk.png')
  with open(junk, 'wb') as f:
    f.write(b'these bytes are no image at all')
  with pytest.raises(ValueError,
                     match=re.escape(repr(junk)) + '.*cannot be decoded'):
    data.read_images([junk], height=2, width=2, channels=3)


def test_to_unit_range_divides_uint8_by_255_exactly():
  pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
  original = pixels.copy()
  images = data.to_unit_range(pixels)
  assert images.dtype == np.float32 and images.shape == pixels.shape
  # Every uint8 value against the float64 quotient rounded once to float32.
  np.testing.assert_array_equal(
      images, (np.arange(256) / 255.).astype(np.float32).reshape(1, 16, 16, 1))
  assert images[0, 0, 0, 0] == 0. and images[0, -1, -1, 0] == 1.
  images[...] = 7.
  np.testing.assert_array_equal(pixels, original)


def test_to_unit_range_keeps_float32_values_in_a_new_array():
  floats = np.random.default_rng(0).uniform(0, 1, (2, 3, 3, 3)).astype(
      np.float32)
  original = floats.copy()
  images = data.to_unit_range(floats)
  assert images.dtype == np.float32
  np.testing.assert_array_equal(images, original)
  assert not np.shares_memory(images, floats)
  images[...] = 7.
  np.testing.assert_array_equal(floats, original)


# The registry -----------------------------------------------------------------


@pytest.mark.parametrize('name', data.DATASETS)
def test_load_dispatches_by_name(name, cifar_paths, signs_path, folder_path,
                                tmp_path):
  paths = {'digits': None, 'cifar10': cifar_paths['python-archive'],
           'signs': signs_path, 'folder': folder_path, 'tfrecord': tmp_path}
  if name == 'tfrecord':  # Train and test shards: validation is held out.
    data.write_tfrecord(data.load_digits(image_size=8, validation_fraction=0.),
                        tmp_path, name='digits')
  kwargs = {'folder': {'image_size': FOLDER_IMAGE_SIZE}}.get(name, {})
  source = data.load(name, paths[name], validation_fraction=0.2, **kwargs)
  assert source.name == name
  assert source.validation.num_examples > 0


# Bad input --------------------------------------------------------------------


def _cifar_python_folder(root):
  folder = os.path.join(str(root), data.CIFAR_PYTHON_FOLDER)
  _write_cifar_python(folder, *_cifar_examples(seed=0))
  return folder


def _cifar_binary_folder(root):
  folder = os.path.join(str(root), data.CIFAR_BINARY_FOLDER)
  _write_cifar_binary(folder, *_cifar_examples(seed=0))
  return folder


def _missing_cifar_test_batch(root):
  folder = _cifar_python_folder(root)
  os.remove(os.path.join(folder, 'test_batch'))
  return data.load_cifar10(folder)


def _cifar_archive_without_test_batch(root):
  folder = _cifar_binary_folder(root)
  os.remove(os.path.join(folder, 'test_batch.bin'))
  archive = os.path.join(str(root), data.CIFAR_BINARY_ARCHIVE)
  _tar_folder(folder, archive)
  return data.load_cifar10(archive)


def _truncated_cifar_binary(root):
  folder = _cifar_binary_folder(root)
  with open(os.path.join(folder, 'data_batch_3.bin'), 'ab') as f:
    f.write(b'\x00' * 100)
  return data.load_cifar10(folder)


def _truncated_cifar_pickle(root):
  folder = _cifar_python_folder(root)
  file_path = os.path.join(folder, 'data_batch_2')
  with open(file_path, 'rb') as f:
    content = f.read()
  with open(file_path, 'wb') as f:
    f.write(content[:len(content) // 2])
  return data.load_cifar10(folder)


def _cifar_python_label_out_of_range(root):
  folder = _cifar_python_folder(root)
  images = np.zeros((2, 32, 32, 3), np.uint8)
  _write_cifar_python_batch(os.path.join(folder, 'test_batch'), b'test',
                            images, [3, 10])
  return data.load_cifar10(folder)


def _cifar_binary_label_out_of_range(root):
  folder = _cifar_binary_folder(root)
  with open(os.path.join(folder, 'data_batch_1.bin'), 'r+b') as f:
    f.write(bytes([255]))
  return data.load_cifar10(folder)


def _not_a_cifar_archive(root):
  file_path = os.path.join(str(root), data.CIFAR_PYTHON_ARCHIVE)
  with open(file_path, 'wb') as f:
    f.write(b'this is not a tar archive')
  return data.load_cifar10(file_path)


def _signs_with_images(root, train_x):
  folder = str(root)
  _write_signs(folder)
  with h5py.File(os.path.join(folder, data.SIGNS_TRAIN_FILE), 'r+') as f:
    del f['train_set_x']
    f['train_set_x'] = train_x
  return data.load_signs(folder)


def _signs_label_out_of_range(root):
  images, labels = _signs_examples(SIGNS_TEST_PER_CLASS, seed=1)
  labels[0] = SIGNS_NUM_CLASSES
  _write_signs(str(root), test=(images, labels))
  return data.load_signs(root)


def _signs_missing_test_file(root):
  _write_signs(str(root))
  os.remove(os.path.join(str(root), data.SIGNS_TEST_FILE))
  return data.load_signs(root)


def _signs_missing_dataset(root):
  _write_signs(str(root))
  with h5py.File(os.path.join(str(root), data.SIGNS_TEST_FILE), 'r+') as f:
    del f['test_set_y']
  return data.load_signs(root)


def _folder_with_empty_class(root):
  _write_class_folders(str(root), _folder_images(seed=0))
  os.makedirs(os.path.join(str(root), 'zebra'))
  with open(os.path.join(str(root), 'zebra', 'readme.txt'), 'w') as f:
    f.write('no pictures yet')
  return data.load_folder(root)


def _folder_train_test_classes_differ(root):
  images = _folder_images(seed=0)
  _write_class_folders(str(root / 'train'), images)
  del images['fish']
  _write_class_folders(str(root / 'test'), images)
  return data.load_folder(root)


def _folder_too_small_to_split(root):
  _write_class_folders(str(root), {'cat': _folder_images(seed=0)['cat'][:2]})
  return data.load_folder(root, validation_fraction=0.1, test_fraction=0.1)


BAD_INPUTS = [
    ('cifar10-missing-path',
     lambda root: data.load_cifar10(root / 'nowhere'),
     FileNotFoundError, r'nowhere.*cifar-10-batches-py.*cifar-10-python'),
    ('cifar10-empty-directory', data.load_cifar10,
     FileNotFoundError, r'holds no CIFAR-10 data; expected the folder'),
    ('cifar10-folder-missing-file', _missing_cifar_test_batch,
     FileNotFoundError, r"'test_batch' is missing"),
    ('cifar10-archive-missing-member', _cifar_archive_without_test_batch,
     FileNotFoundError, r'test_batch\.bin is missing from archive'),
    ('cifar10-truncated-binary', _truncated_cifar_binary,
     ValueError, r'data_batch_3\.bin.*not a multiple of the 3073-byte'),
    ('cifar10-truncated-pickle', _truncated_cifar_pickle,
     ValueError, r'data_batch_2.*truncated or corrupt'),
    ('cifar10-python-label-out-of-range', _cifar_python_label_out_of_range,
     ValueError, r'test_batch: labels span \[3, 10\] but there are 10'),
    ('cifar10-binary-label-out-of-range', _cifar_binary_label_out_of_range,
     ValueError, r'data_batch_1\.bin: labels span .* 255\] but there are 10'),
    ('cifar10-not-an-archive', _not_a_cifar_archive,
     ValueError, r'not a readable tar archive'),
    ('signs-missing-path',
     lambda root: data.load_signs(root / 'nowhere'),
     FileNotFoundError, r'nowhere.*train_signs\.h5 and test_signs\.h5'),
    ('signs-missing-test-file', _signs_missing_test_file,
     FileNotFoundError, r'test_signs\.h5.* is missing'),
    ('signs-missing-dataset', _signs_missing_dataset,
     ValueError, r"lacks datasets \['test_set_y'\]"),
    ('signs-rank-3-images',
     lambda root: _signs_with_images(root, np.zeros((4, 64, 64), np.uint8)),
     ValueError, r'train_set_x .* shape \(4, 64, 64\); expected rank 4'),
    ('signs-rank-5-images',
     lambda root: _signs_with_images(
         root, np.zeros((4, 1, 64, 64, 3), np.uint8)),
     ValueError, r'train_set_x .* shape \(4, 1, 64, 64, 3\); expected rank 4'),
    ('signs-label-out-of-range', _signs_label_out_of_range,
     ValueError, r'test_signs\.h5: labels span \[0, 6\] but there are 6'),
    ('folder-missing-path',
     lambda root: data.load_folder(root / 'nowhere'),
     FileNotFoundError, r'nowhere.*one sub-folder .* per class'),
    ('folder-without-class-folders', data.load_folder,
     ValueError, r'has no class sub-folders'),
    ('folder-class-without-images', _folder_with_empty_class,
     ValueError, r"zebra' has no images"),
    ('folder-train-test-classes-differ', _folder_train_test_classes_differ,
     ValueError, r"has classes \['cat', 'dog', 'fish'\] but .* has "
                 r"\['cat', 'dog'\]"),
    ('folder-bad-channels',
     lambda root: data.load_folder(root, channels=4),
     ValueError, r'channels must be one of \(1, 3\), got 4'),
    ('folder-bad-image-size',
     lambda root: data.load_folder(root, image_size=(0, 5)),
     ValueError, r'image_size must be a positive int, got 0'),
    ('digits-bad-image-size',
     lambda root: data.load_digits(image_size=2.5),
     ValueError, r'image_size must be a positive int, got 2\.5'),
    ('fraction-out-of-range',
     lambda root: data.load_digits(validation_fraction=-0.1),
     ValueError, r'fractions must be in \[0, 1\), got -0\.1'),
    ('fractions-leave-no-training',
     lambda root: data.load_digits(validation_fraction=0.5,
                                   test_fraction=0.5),
     ValueError, r'leave no training examples'),
    ('too-few-examples-for-the-splits', _folder_too_small_to_split,
     ValueError, r'2 examples are too few'),
    ('unknown-dataset',
     lambda root: data.load('imagenet'),
     ValueError, r"unknown dataset 'imagenet'; choose one of digits, "
                 r'cifar10, signs, folder'),
    ('dataset-needs-path',
     lambda root: data.load('cifar10'),
     ValueError, r'cifar10 needs path='),
    ('digits-takes-no-path',
     lambda root: data.load('digits', root),
     ValueError, r'digits is bundled .* takes no path'),
]


@pytest.mark.parametrize('make, error, message',
                         [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_raises_a_clear_error(tmp_path, make, error, message):
  with pytest.raises(error, match=message):
    make(tmp_path)
