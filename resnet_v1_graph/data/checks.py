"""Argument and content checks that every data source shares.

Each fails with a ValueError naming the argument or file at fault, so that a
loader stops before it builds any split.
"""

import operator
import os


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
