"""The teaching notebooks: each runs from a clean kernel, and the committed
ones match their sources and show every cell run in order."""

import os
import shutil

import pytest

from resnet_v1_graph.tools import notebooks

NAMES = sorted(notebooks.sources())


def test_there_are_notebooks():
  assert NAMES and all(name[:2].isdigit() for name in NAMES)


@pytest.mark.parametrize('name', NAMES)
def test_committed_notebook_is_current(name):
  assert notebooks.problems(name) == [], (
      'rebuild with: python -m resnet_v1_graph.tools.notebooks %s' % name)


@pytest.mark.parametrize('name', NAMES)
def test_notebook_runs_from_a_clean_kernel(name, tmp_path, monkeypatch):
  # A failing cell raises CellExecutionError with its traceback; the
  # notebooks assert what their text says about their results. What they
  # write to the temporary folder is gone once their kernel has stopped.
  scratch = tmp_path / 'tmp'
  scratch.mkdir()
  monkeypatch.setenv('TMPDIR', str(scratch))
  ran = notebooks.execute(notebooks.build(notebooks.sources()[name]),
                          str(tmp_path))
  code = [cell for cell in ran.cells if cell.cell_type == 'code']
  assert [cell.execution_count for cell in code] == list(
      range(1, len(code) + 1))
  assert os.listdir(scratch) == []


def test_cells_split_by_their_marks():
  text = ('# %% [markdown]\n# # Title\n#\n# Some *text*.\n\n'
          '# %%\nx = 1\n\nprint(x)\n# %%\n# a comment stays code\n')
  assert notebooks.split_cells(text) == [
      ('markdown', '# Title\n\nSome *text*.'),
      ('code', 'x = 1\n\nprint(x)'),
      ('code', '# a comment stays code')]
  with pytest.raises(ValueError, match='before the first'):
    notebooks.split_cells('x = 1\n# %%\n')


def test_an_edited_source_makes_its_notebook_stale(tmp_path, monkeypatch):
  name = NAMES[0]
  shutil.copy(notebooks.sources()[name], tmp_path)
  shutil.copy(notebooks.notebook_path(name), tmp_path)
  monkeypatch.setattr(notebooks, 'NOTEBOOKS', str(tmp_path))
  assert notebooks.problems(name) == []
  path = os.path.join(str(tmp_path), name + '.py')
  with open(path, encoding='utf-8') as f:
    text = f.read()
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text.replace('# %%\n', '# %%\npass\n', 1))
  found = notebooks.problems(name)
  assert len(found) == 1 and found[0].endswith('differs from the source')
  os.remove(notebooks.notebook_path(name))
  assert 'does not exist' in notebooks.problems(name)[0]
