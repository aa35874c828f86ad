"""The suite's own set-up keeps its disk use down: files written by passing
tests go as they finish, a failure's files stay for inspection. Checked in
a second pytest process given this suite's conftest.py and pytest.ini."""

import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))

MODULE = '''
import pytest


@pytest.fixture(scope='module')
def shared(module_dir):
  path = module_dir('shared')
  (path / 'weights').write_bytes(bytes(1000))
  return path


def test_reads_the_shared_files(shared):
  assert (shared / 'weights').stat().st_size == 1000


def test_writes_a_checkpoint(shared, tmp_path):
  (tmp_path / 'checkpoint').write_bytes(bytes(1000))


def test_last(tmp_path):
  (tmp_path / 'last').write_text('x')
  assert {passes}
'''


def _files_left(pytester, passes):
  shutil.copy(os.path.join(HERE, 'conftest.py'), pytester.path)
  shutil.copy(os.path.join(HERE, os.pardir, 'pytest.ini'), pytester.path)
  pytester.makepyfile(test_module=MODULE.format(passes=passes))
  basetemp = pytester.path / 'basetemp'
  result = pytester.runpytest_subprocess('-p', 'no:cacheprovider',
                                         '--basetemp', str(basetemp))
  result.assert_outcomes(passed=3 if passes else 2, failed=0 if passes else 1)
  assert basetemp.is_dir()
  return sorted(os.path.relpath(os.path.join(folder, name), basetemp)
                for folder, _, names in os.walk(basetemp) for name in names)


def test_a_passing_module_leaves_no_files(pytester):
  assert _files_left(pytester, passes=True) == []


def test_a_failing_module_keeps_its_shared_files_and_the_failure(pytester):
  # Passing tests' own folders still go; the module's shared folder stays
  # (its state may explain the failure), and so does the failed test's.
  assert _files_left(pytester, passes=False) == [
      os.path.join('shared0', 'weights'), os.path.join('test_last0', 'last')]


def test_this_suite_runs_with_that_set_up(request):
  assert request.config.getini('tmp_path_retention_policy') == 'failed'


def test_shared_test_files_go_through_module_dir():
  # Folders made by pytest's session-wide factory directly would stay until
  # the run ends; `module_dir` (conftest.py) removes them with their module.
  factory = 'tmp_path' + '_factory'
  users = []
  for name in sorted(os.listdir(HERE)):
    if name.endswith('.py') and name != 'conftest.py':
      with open(os.path.join(HERE, name), encoding='utf-8') as f:
        if factory in f.read():
          users.append(name)
  assert users == []
