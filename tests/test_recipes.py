"""The papers' recipes: the fields they set, and each one end to end."""

import json

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v1_graph import cli
from resnet_v1_graph import config as config_lib
from resnet_v1_graph import optimization
from resnet_v1_graph import recipes

CIFAR_TRAIN = 45000  # The paper's split: 45k train, 5k validation.
IMAGENET_TRAIN = 1281167


def _rate_at(cfg, steps):
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    rate = optimization.learning_rate(cfg, step)
    with tf.Session() as session:
      return [float(session.run(rate, {step: s})) for s in steps]


@pytest.mark.parametrize('depth', sorted(recipes.HE2015_TEST_ERRORS))
def test_he2015_is_the_papers_schedule(depth):
  base = config_lib.DEFAULTS.replace(model='cifar_resnet%d' % depth)
  cfg = base.replace(**recipes.apply('he2015-cifar10', base, CIFAR_TRAIN))
  assert (cfg.optimizer, cfg.momentum, cfg.weight_decay, cfg.batch_size) == (
      'momentum', 0.9, 1e-4, 128)
  # 64k iterations of 128 images: 352 steps per epoch of 45k images.
  assert cfg.epoch == round(64000 / 352) == 182
  rates = _rate_at(cfg, [0, 399, 401, 32000, 32001, 48000, 48001, 64000])
  warm = 0.01 if depth == 110 else 0.1
  np.testing.assert_allclose(
      rates, [warm, warm, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)


def test_r1_imagenet_scales_the_rate_and_warms_up():
  base = config_lib.DEFAULTS.replace(model='resnet_v1_50', batch_size=64,
                                     num_classes=1001)
  cfg = base.replace(**recipes.apply('r1-imagenet', base, IMAGENET_TRAIN))
  per_epoch = -(-IMAGENET_TRAIN // 64)
  assert cfg.learning_rate == 0.1 * 64 / 256 and cfg.epoch == 90
  steps = [0, 5 * per_epoch // 2, 5 * per_epoch, 30 * per_epoch + 1,
           60 * per_epoch + 1, 80 * per_epoch + 1]
  np.testing.assert_allclose(
      _rate_at(cfg, steps),
      [0., 0.025 * (5 * per_epoch // 2) / (5 * per_epoch), 0.025, 0.0025,
       0.00025, 0.000025], rtol=1e-5)


def test_unknown_recipe_is_named():
  with pytest.raises(ValueError, match="unknown recipe 'he2016'; choose one "
                     'of he2015-cifar10, r1-imagenet'):
    recipes.apply('he2016', config_lib.DEFAULTS, 10)


@pytest.mark.parametrize('recipe', sorted(recipes.RECIPES))
def test_each_recipe_trains_end_to_end(recipe, tmp_path, capsys):
  model_path = tmp_path / 'model'
  assert cli.main([
      'train', '--recipe', recipe, '--model', 'cifar_resnet20',
      '--image-size', '8', '--epoch', '1', '--batch-size', '64',
      '--model-path', str(model_path),
      '--summary-path', str(tmp_path / 'summary')]) == 0
  out = capsys.readouterr().out
  assert 'recipe %s: ' % recipe in out and 'test accuracy: ' in out
  saved = json.load(open(model_path / 'config.json'))
  # The recipe's fields, with the flags given explicitly winning.
  assert (saved['optimizer'], saved['learning_rate_schedule']) == (
      'momentum', 'piecewise')
  assert (saved['epoch'], saved['batch_size']) == (1, 64)
  assert saved['preprocessing_name'] == (
      'cifar' if recipe == 'he2015-cifar10' else 'r1')
  history = json.load(open(tmp_path / 'summary' / 'history.json'))
  rate = history['learning_rate'][0]
  if recipe == 'he2015-cifar10':
    assert rate == pytest.approx(0.1)
  else:  # Warm-up: one epoch of five, at 0.1 x 64 / 256.
    step = history['step'][0]
    warm = saved['warmup_steps']
    assert warm == 5 * step
    # The rate read with the last step: at its global step or the one before.
    assert rate == pytest.approx(0.025 * step / warm, rel=1.5 / step)
