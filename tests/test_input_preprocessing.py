"""The input pipeline's preprocessing, against crops computed by hand."""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import classifier
from resnet_v1_graph import config as config_lib
from resnet_v1_graph import data
from resnet_v1_graph import export
from resnet_v1_graph import preprocessing
from resnet_v1_graph.data import images as images_lib
from resnet_v1_graph.data import splits

SIZE = 8


def _image(height=SIZE, width=SIZE, channels=3, seed=0):
  rng = np.random.default_rng(seed)
  return rng.random((height, width, channels)).astype(np.float32)


def _resize(image, height, width):
  """The numpy bilinear resize (half-pixel centres) of each channel."""
  channels = np.moveaxis(image, -1, 0)
  return np.moveaxis(images_lib.resize_bilinear(channels, height, width),
                     0, -1)


def _run(function, image, draws=1):
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    output = function(tf.constant(image))
    with tf.Session() as session:
      return [session.run(output) for _ in range(draws)]


def test_cifar_training_is_a_padded_crop_or_its_mirror():
  image = (np.arange(6 * 5 * 2).reshape(6, 5, 2) + 1).astype(np.float32)
  pad = preprocessing.CIFAR_PAD
  padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
  crops = {}
  for top in range(2 * pad + 1):
    for left in range(2 * pad + 1):
      crop = padded[top:top + 6, left:left + 5]
      crops[crop.tobytes()] = (top, left, False)
      crops[crop[:, ::-1].tobytes()] = (top, left, True)
  seen = set()
  for out in _run(preprocessing.cifar_train, image, draws=600):
    assert out.shape == image.shape
    assert out.tobytes() in crops
    seen.add(crops[out.tobytes()])
  # 162 offsets and flips, drawn uniformly: 600 draws see most of them,
  # the extreme offsets and both flips among them.
  assert len(seen) > 140
  assert {flip for _, _, flip in seen} == {False, True}
  assert {top for top, _, _ in seen} == set(range(2 * pad + 1))


def test_inception_evaluation_is_the_central_crop_resized():
  image = _image(16, 16)
  # tf.image.central_crop keeps int((16 - 16 * 0.875) / 2) = 1 pixel off
  # each side: rows and columns 1..14.
  expected = _resize(image[1:15, 1:15], 16, 16) * 2. - 1.
  got, = _run(preprocessing.inception_eval, image)
  np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize('channels', [3, 1])
def test_vgg_evaluation_resizes_the_short_side_and_crops_the_centre(
    channels):
  image = _image(SIZE, 12, channels)
  # 256 x 8 / 224 rounds to 9: 8x12 becomes 9x14 (13.5 rounds to even),
  # and the central 8x12 starts at row 0, column 1.
  side = preprocessing.vgg_side(SIZE, preprocessing.VGG_SIDE_MIN)
  assert side == 9
  means = (np.array(preprocessing.VGG_MEANS_RGB) if channels == 3
           else np.mean(preprocessing.VGG_MEANS_RGB))
  expected = _resize(image, 9, 14)[0:8, 1:13] * 255. - means
  got, = _run(preprocessing.vgg_eval, image)
  np.testing.assert_allclose(got, expected, atol=1e-3)


def test_vgg_training_is_a_crop_of_a_rescaled_image():
  image = _image()
  low = preprocessing.vgg_side(SIZE, preprocessing.VGG_SIDE_MIN)
  high = preprocessing.vgg_side(SIZE, preprocessing.VGG_SIDE_MAX)
  assert (low, high) == (9, 18)
  candidates = []
  for side in range(low, high + 1):
    resized = _resize(image, side, side) * 255. - np.array(
        preprocessing.VGG_MEANS_RGB)
    for top in range(side - SIZE + 1):
      for left in range(side - SIZE + 1):
        crop = resized[top:top + SIZE, left:left + SIZE]
        candidates += [(side, crop), (side, crop[:, ::-1])]
  sides = set()
  for out in _run(preprocessing.vgg_train, image, draws=200):
    matches = [side for side, crop in candidates
               if np.allclose(out, crop, atol=1e-3)]
    assert matches, 'not a crop of any rescaled image'
    sides.add(matches[0])
  assert len(sides) >= 6  # The short side is drawn, not fixed.


def test_inception_training_stays_in_range_and_varies():
  image = _image()
  outputs = _run(preprocessing.inception_train, image, draws=50)
  for out in outputs:
    assert out.shape == image.shape
    assert out.min() >= -1. and out.max() <= 1.
  assert len({out.tobytes() for out in outputs}) == len(outputs)
  # The drawn box keeps the channels known, so an RGB image gets slim's
  # saturation and hue jitter as well as brightness and contrast.
  with tf.Graph().as_default() as graph:
    preprocessing.inception_train(tf.constant(image))
    kinds = {op.type for op in graph.get_operations()}
  assert {'AdjustSaturation', 'AdjustHue'} <= kinds


def test_the_pipeline_scales_then_preprocesses_each_image():
  rng = np.random.default_rng(1)
  pixels = rng.integers(0, 256, (5, SIZE, SIZE, 3), dtype=np.uint8)
  split = splits.ArraySplit(pixels, np.arange(5), scale=255)
  evaluate = preprocessing.pipeline('inception').eval
  with tf.Graph().as_default():
    batch = tf.data.make_one_shot_iterator(
        split.batched(5, preprocess=evaluate)).get_next()
    with tf.Session() as session:
      images, labels = session.run(batch)
  np.testing.assert_array_equal(labels, np.arange(5))
  # At 8 pixels the central crop keeps them all (int((8 - 7) / 2) = 0),
  # and resizing 8 to 8 keeps every value: only the scaling remains.
  np.testing.assert_allclose(images, pixels / np.float32(255) * 2. - 1.,
                             atol=1e-6)


def test_predict_and_export_apply_the_evaluation_preprocessing(tmp_path):
  cfg = config_lib.DEFAULTS.replace(
      model='cifar_resnet20', height=SIZE, width=SIZE, channel=1, epoch=1,
      batch_size=128, preprocessing_name='vgg', verbose=False,
      model_path=str(tmp_path / 'model'),
      summary_path=str(tmp_path / 'summary'))
  source = data.load_digits(image_size=SIZE)
  model = classifier.Classifier(cfg)
  model.fit(source.train, source.validation)
  images = source.test.arrays()[0][:6]
  predicted = model.predict_proba(images)
  # By hand: the network fed the vgg evaluation of each image.
  side = preprocessing.vgg_side(SIZE, preprocessing.VGG_SIDE_MIN)
  top = (side - SIZE) // 2
  prepared = np.stack([
      _resize(image, side, side)[top:top + SIZE, top:top + SIZE] * 255.
      - np.mean(preprocessing.VGG_MEANS_RGB) for image in images])
  session = model.trainer.session
  by_hand = session.run(model.probabilities, {model.input_x: prepared})
  np.testing.assert_allclose(predicted, by_hand, atol=1e-4)
  frozen = str(tmp_path / 'frozen.pb')
  export.export_run(cfg, frozen=frozen)
  model.close()
  exported = export.run_frozen(frozen, images)
  np.testing.assert_allclose(exported, predicted, atol=1e-4)


STORED = (16, 12)
OUTPUT = (8, 6)


@pytest.fixture(scope='module')
def stored_images(module_dir):
  """Three 16x12 RGB PNGs, as files and as one slim-style TFRecord shard."""
  root = module_dir('stored')
  rng = np.random.default_rng(3)
  pixels = rng.integers(0, 256, (3,) + STORED + (3,), dtype=np.uint8)
  paths, records = [], []
  for i, image in enumerate(pixels):
    encoded = tf.io.encode_png(image).numpy()
    paths.append(str(root / ('%d.png' % i)))
    with open(paths[-1], 'wb') as f:
      f.write(encoded)
    records.append(tf.train.Example(features=tf.train.Features(feature={
        'image/encoded': tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[encoded])),
        'image/format': tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[b'png'])),
        'image/class/label': tf.train.Feature(
            int64_list=tf.train.Int64List(value=[i])),
        'image/height': tf.train.Feature(
            int64_list=tf.train.Int64List(value=[STORED[0]])),
        'image/width': tf.train.Feature(
            int64_list=tf.train.Int64List(value=[STORED[1]])),
    })).SerializeToString())
  shards = root / 'shards'
  shards.mkdir()
  for split in ('train', 'validation'):
    with tf.io.TFRecordWriter(
        str(shards / ('x_%s_00000-of-00001.tfrecord' % split))) as writer:
      for record in records:
        writer.write(record)
  return pixels / np.float32(255), paths, str(shards)


@pytest.mark.parametrize('kind', ['files', 'tfrecord'])
def test_crops_start_from_the_image_as_stored(stored_images, kind):
  images, paths, shards = stored_images
  if kind == 'files':
    split = splits.FileSplit(paths, np.arange(3), OUTPUT, 3)
  else:
    split = data.load('tfrecord', shards, image_size=OUTPUT).train
  with tf.Graph().as_default():
    batch = tf.data.make_one_shot_iterator(split.batched(
        3, preprocess=preprocessing.pipeline('vgg').eval)).get_next()
    with tf.Session() as session:
      got, labels = session.run(batch)
  np.testing.assert_array_equal(labels, np.arange(3))
  # By hand from the stored 16x12: the short side 12 goes to
  # round(256 x 6 / 224) = 7, so 16x12 becomes 9x7 (9.33 rounds to 9);
  # the central 8x6 starts at row 0, column 0.
  side = preprocessing.vgg_side(min(OUTPUT), preprocessing.VGG_SIDE_MIN)
  assert side == 7
  means = np.array(preprocessing.VGG_MEANS_RGB)
  expected = np.stack([_resize(image, 9, 7)[:8, :6] for image in images])
  np.testing.assert_allclose(got, expected * 255. - means, atol=2e-3)
  # Cropping the already resized 8x6 instead gives other inputs.
  resized = np.stack([_resize(image, *OUTPUT) for image in images])
  assert not np.allclose(got, _run(preprocessing.vgg_eval, resized[0])[0],
                         atol=1.)


def test_r1_training_is_a_flipped_box_resized_without_colour_jitter():
  image = _image(6, 5)
  size = (4, 4)
  means = np.array(preprocessing.VGG_MEANS_RGB)
  boxes = {}
  for top in range(6):
    for left in range(5):
      for height in range(1, 7 - top):
        for width in range(1, 6 - left):
          box = image[top:top + height, left:left + width]
          for flip in (False, True):
            boxes[(top, left, height, width, flip)] = (
                _resize(box[:, ::-1] if flip else box, *size) * 255. - means)
  seen = set()
  for out in _run(lambda x: preprocessing.r1_train(x, size), image, 40):
    assert out.shape == size + (3,)
    matches = [key for key, box in boxes.items()
               if np.allclose(out, box, atol=1e-3)]
    assert matches, 'not a resized box of the image'
    seen.add(matches[0])
  # Boxes and flips are drawn, not fixed.
  assert len(seen) >= 10 and {key[-1] for key in seen} == {False, True}
  # Its evaluation is vgg's: short side 256 x size / 224, central crop.
  assert preprocessing.pipeline('r1').eval is not None
  r1_eval, = _run(lambda x: preprocessing.pipeline('r1').eval(x, size),
                  image)
  vgg_eval, = _run(lambda x: preprocessing.vgg_eval(x, size), image)
  np.testing.assert_array_equal(r1_eval, vgg_eval)
