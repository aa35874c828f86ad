"""The papers' training recipes as presets of `config.Config` fields.

A recipe is a function of the run's configuration and the size of its
training split (schedules in the papers are given in iterations or epochs,
the trainer counts epochs of its split), returning the fields it sets.
Explicit settings win: the command line applies a recipe first and then
`--config` files and flags over it.

  he2015-cifar10   He et al. 2015, "Deep Residual Learning for Image
                   Recognition", section 4.2: ResNet-20/32/44/56/110 on
                   CIFAR-10. SGD with momentum 0.9, batch 128, weight decay
                   1e-4, learning rate 0.1 divided by 10 at 32k and 48k
                   iterations, stopping at 64k (on a 45k/5k train/validation
                   split). ResNet-110 trains at 0.01 for its first 400
                   iterations, then goes back to 0.1. The paper's test
                   errors: 8.75 / 7.51 / 7.17 / 6.97 / 6.43 % (ResNet-110:
                   best of 5 runs; mean 6.61 %).
  r1-imagenet      The TF 1 official ResNet (tensorflow/models,
                   official/r1/resnet, imagenet_main.py): SGD with momentum
                   0.9, learning rate 0.1 x batch / 256, linear warm-up over
                   5 epochs, divided by 10 at epochs 30, 60 and 80, 90
                   epochs, weight decay 1e-4.

Each also sets its input preprocessing: he2015-cifar10 the paper's
augmentation (pad 4, random 32x32 crop, random horizontal flip:
`preprocessing_name='cifar'`), r1-imagenet official r1's own
(`preprocessing_name='r1'`: a distorted box crop, flipped, resized; short
side 256 and central crop for evaluation; minus the ImageNet means).

Typical use:

  changes = recipes.apply('he2015-cifar10', cfg, train_examples=45000)
  cfg = cfg.replace(**changes)
"""

import math

HE2015_BATCH = 128
HE2015_BOUNDARIES = (32000, 48000)
HE2015_VALUES = (0.1, 0.01, 0.001)
HE2015_STEPS = 64000
HE2015_WARMUP = (400, 0.01)  # ResNet-110: iterations at a lower rate.
HE2015_TEST_ERRORS = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43}

R1_BASE_RATE = 0.1
R1_BASE_BATCH = 256
R1_WARMUP_EPOCHS = 5
R1_DECAY_EPOCHS = (30, 60, 80)
R1_EPOCHS = 90

MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4


def _steps_per_epoch(cfg, train_examples, batch_size):
  return math.ceil(train_examples / (batch_size * cfg.num_clones))


def he2015_cifar10(cfg, train_examples):
  """He et al. 2015, section 4.2 (see the module docstring)."""
  per_epoch = _steps_per_epoch(cfg, train_examples, HE2015_BATCH)
  boundaries, values = HE2015_BOUNDARIES, HE2015_VALUES
  if cfg.model == 'cifar_resnet110':
    steps, rate = HE2015_WARMUP
    boundaries, values = (steps,) + boundaries, (rate,) + values
  return dict(
      optimizer='momentum', momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
      batch_size=HE2015_BATCH, learning_rate=values[0],
      learning_rate_schedule='piecewise', learning_rate_boundaries=boundaries,
      learning_rate_values=values, preprocessing_name='cifar',
      epoch=max(1, round(HE2015_STEPS / per_epoch)))


def r1_imagenet(cfg, train_examples):
  """The TF 1 official ResNet's ImageNet schedule (see the module
  docstring); `cfg.batch_size` per tower is kept."""
  rate = R1_BASE_RATE * cfg.batch_size * cfg.num_clones / R1_BASE_BATCH
  per_epoch = _steps_per_epoch(cfg, train_examples, cfg.batch_size)
  return dict(
      optimizer='momentum', momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
      learning_rate=rate, learning_rate_schedule='piecewise',
      learning_rate_boundaries=tuple(e * per_epoch for e in R1_DECAY_EPOCHS),
      learning_rate_values=tuple(rate * 0.1 ** i for i in range(4)),
      warmup_steps=R1_WARMUP_EPOCHS * per_epoch, warmup_learning_rate=0.,
      epoch=R1_EPOCHS, preprocessing_name='r1')


RECIPES = {'he2015-cifar10': he2015_cifar10, 'r1-imagenet': r1_imagenet}


def apply(name, cfg, train_examples):
  """The fields recipe `name` sets for `cfg` and a training split.

  Raises:
    ValueError: If `name` is not a recipe, or the split is empty.
  """
  if name not in RECIPES:
    raise ValueError('unknown recipe %r; choose one of %s'
                     % (name, ', '.join(RECIPES)))
  if train_examples < 1:
    raise ValueError('recipe %s needs a non-empty training split' % name)
  return RECIPES[name](cfg, train_examples)
