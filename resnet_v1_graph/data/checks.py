"""Argument and content checks that every data source shares.

Each fails with a ValueError naming the argument or file at fault, so that a
loader stops before it builds any split.
"""

import operator
import os

import numpy as np


def expand_path(path):
  """`path` (str or path-like) as a str, with `~` expanded."""
  return os.path.expanduser(os.fspath(path))


def positive_int(value, name):
  """Returns `value` as an int.

  Raises:
    ValueError: Naming `name`, if `value` is not a positive int (bools and
      floats included).
  """
  try:
    if isinstance(value, bool):
      raise TypeError
    value = operator.index(value)
  except TypeError:
    raise ValueError('%s must be a positive int, got %r'
                     % (name, value)) from None
  if value < 1:
    raise ValueError('%s must be a positive int, got %r' % (name, value))
  return value


def image_size(value):
  """(height, width) from a pair or one int for both.

  Raises:
    ValueError: If `value` is neither, or a side is not a positive int.
  """
  if np.ndim(value) == 0:
    value = (value, value)
  if len(value) != 2:
    raise ValueError('image_size must be (height, width) or one int, got %r'
                     % (value,))
  return tuple(positive_int(side, 'image_size') for side in value)


def check_labels(labels, num_classes, where):
  """Checks that int `labels` lie in [0, num_classes).

  Raises:
    ValueError: Naming `where` (a file), if a label is out of range.
  """
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise ValueError(
        '%s: labels span [%d, %d] but there are %d classes, so they must lie '
        'in [0, %d); the file is corrupt or belongs to another dataset'
        % (where, labels.min(), labels.max(), num_classes, num_classes))
