"""Test set-up: the reference oracles need legacy Keras before TF loads, and
files shared by a module's tests go when the module is done."""

import os
import shutil

import pytest

os.environ['TF_USE_LEGACY_KERAS'] = '1'
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


@pytest.fixture(scope='module')
def module_dir(request, tmp_path_factory):
  """`module_dir(name)`: a new folder for files a module's tests share.

  The folders go when the module's last test is done, unless one of its tests
  failed (then they stay beside the failed tests' own `tmp_path`, as
  `pytest.ini` keeps those). A run of the suite writes about 20 GB of
  checkpoints; kept to the end, they fill a CI machine's disk.
  """
  made = []
  failures = request.session.testsfailed

  def make(name):
    made.append(tmp_path_factory.mktemp(name))
    return made[-1]

  yield make
  if request.session.testsfailed == failures:
    for path in made:
      shutil.rmtree(path, ignore_errors=True)
