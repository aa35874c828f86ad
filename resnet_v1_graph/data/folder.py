"""Image folders: one sub-folder of JPEG/PNG files per class.

Files are listed when the dataset is loaded and decoded lazily in the tf.data
pipeline (`FileSplit`), so a folder larger than memory trains as well.

Typical use:

  from resnet_v1_graph import data

  # ~/pets/cat/*.jpg, ~/pets/dog/*.png, ... or ~/pets/{train,test}/cat/...
  source = data.load_folder('~/pets', image_size=(64, 64), channels=3)
"""

import os

import numpy as np

from resnet_v1_graph.data import checks
from resnet_v1_graph.data import images as images_lib
from resnet_v1_graph.data import splits

FOLDER_TRAIN_SUBDIR = 'train'
FOLDER_TEST_SUBDIR = 'test'
FOLDER_IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
# JPEG has no alpha and its decoder refuses 4 channels, so RGBA output would
# fail mid-training on the first JPEG; PNG alpha is dropped instead.
FOLDER_CHANNELS = (1, 3)


def load_folder(path, image_size=(64, 64), channels=3, validation_fraction=0.1,
                test_fraction=0.2, seed=0, skip_corrupt=False):
  """Loads JPEG/PNG images sorted into one sub-folder per class.

  Class names are the sorted sub-folder names; files ending in .jpg, .jpeg or
  .png (any case) are images and everything else, like hidden entries, is
  skipped. When `path` holds `train/` and `test/`, each with the same class
  sub-folders, those are the train and test splits and validation is held out
  from train; otherwise all images are split stratified by the fractions.
  Images are decoded in the tf.data pipeline, converted to `channels` and
  resized (bilinear) to `image_size`.

  Args:
    path: The root folder.
    image_size: (height, width) of the output images, or one int for both.
    channels: 1 (grayscale) or 3 (RGB); alpha is dropped.
    validation_fraction: Fraction held out for validation: of all images, or
      of `train/` when the folder is already split.
    test_fraction: Fraction of all images held out for testing; unused when
      the folder has `train/` and `test/`.
    seed: Seed of the stratified split.
    skip_corrupt: Test-decode every image now and leave out those that do
      not decode (each is named, and counted). Without it, a file that is
      not an image stops the pipeline with a message naming it; one that
      is damaged inside its data stops it with the decoder's message.

  Returns:
    A `DataSource` with image_shape (height, width, channels).

  Raises:
    FileNotFoundError: If `path` is not a directory.
    ValueError: If there are no class sub-folders, a class sub-folder holds
      no images, `train/` and `test/` hold different classes, `image_size` or
      `channels` is invalid, the fractions are not in [0, 1) with a sum below
      1, or there are too few images to give every split one.
  """
  path = checks.expand_path(path)
  if not os.path.isdir(path):
    raise FileNotFoundError(
        'folder: no directory %r; pass a directory with one sub-folder of '
        '%s images per class (optionally under train/ and test/)'
        % (path, '/'.join(FOLDER_IMAGE_EXTENSIONS)))
  image_size = checks.image_size(image_size)
  if channels not in FOLDER_CHANNELS:
    raise ValueError('channels must be one of %s, got %r'
                     % (FOLDER_CHANNELS, channels))

  def file_split(paths, labels):
    return splits.FileSplit(paths, labels, image_size, channels)

  def listed(folder):
    names, paths, labels = _list_class_folders(folder)
    if skip_corrupt:
      paths, labels = _decodable(paths, labels, channels)
    return names, paths, labels

  train_dir = os.path.join(path, FOLDER_TRAIN_SUBDIR)
  test_dir = os.path.join(path, FOLDER_TEST_SUBDIR)
  if os.path.isdir(train_dir) and os.path.isdir(test_dir):
    class_names, train_paths, train_labels = listed(train_dir)
    test_names, test_paths, test_labels = listed(test_dir)
    if test_names != class_names:
      raise ValueError(
          'folder: %s has classes %s but %s has %s; give both the same class '
          'sub-folders' % (train_dir, class_names, test_dir, test_names))
    train_index, validation_index = splits.stratified_split(
        train_labels, (validation_fraction,), seed)
    test = file_split(test_paths, test_labels)
  else:
    class_names, train_paths, train_labels = listed(path)
    train_index, validation_index, test_index = splits.stratified_split(
        train_labels, (validation_fraction, test_fraction), seed)
    test = file_split([train_paths[i] for i in test_index],
                      train_labels[test_index])
  train = file_split([train_paths[i] for i in train_index],
                     train_labels[train_index])
  validation = file_split([train_paths[i] for i in validation_index],
                          train_labels[validation_index])
  return splits.DataSource(
      name='folder', image_shape=image_size + (channels,),
      num_classes=len(class_names), class_names=class_names, train=train,
      validation=validation, test=test)


def _decodable(paths, labels, channels):
  """The files (and their labels) that decode; the others are printed."""
  bad = set(images_lib.undecodable(paths, channels))
  if bad:
    print('folder: skipped %d undecodable image%s: %s' % (
        len(bad), 's' * (len(bad) > 1),
        ', '.join(paths[i] for i in sorted(bad))), flush=True)
  keep = [i for i in range(len(paths)) if i not in bad]
  return [paths[i] for i in keep], np.asarray(labels)[keep]


def _list_images(folder):
  return sorted(
      os.path.join(folder, entry) for entry in os.listdir(folder)
      if not entry.startswith('.')
      and entry.lower().endswith(FOLDER_IMAGE_EXTENSIONS)
      and os.path.isfile(os.path.join(folder, entry)))


def _list_class_folders(root):
  """Lists `root/<class>/<image>`.

  Returns:
    class_names: Sorted class folder names.
    paths: Image paths, class by class.
    labels: int64 array `[len(paths)]`, indices into `class_names`.

  Raises:
    ValueError: If `root` has no class folders or one of them no images.
  """
  class_names = sorted(
      entry for entry in os.listdir(root)
      if not entry.startswith('.') and os.path.isdir(os.path.join(root, entry)))
  if not class_names:
    raise ValueError(
        'folder: %r has no class sub-folders; put the images of each class in '
        'a sub-folder named after it' % (root,))
  paths, labels = [], []
  for label, class_name in enumerate(class_names):
    images = _list_images(os.path.join(root, class_name))
    if not images:
      raise ValueError(
          'folder: class folder %r has no images; add %s files or remove it'
          % (os.path.join(root, class_name),
             '/'.join(FOLDER_IMAGE_EXTENSIONS)))
    paths.extend(images)
    labels.extend([label] * len(images))
  return class_names, paths, np.array(labels, dtype=np.int64)
