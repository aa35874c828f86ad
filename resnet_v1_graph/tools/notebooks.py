"""The teaching notebooks: built from plain-text sources, run, and checked.

Each notebook is written as a Python file under `notebooks/` in the
percent format (`# %%` opens a code cell, `# %% [markdown]` a text cell
whose lines start with `# `), which reads and diffs as code. This module
turns a source into a notebook, runs it top to bottom in a fresh kernel
(nbclient), and writes `notebooks/<name>.ipynb` with its outputs, so that it
reads on GitHub as it ran. Every cell carries the hash of its source, so a
test can tell a committed notebook whose outputs no longer match its
source without running anything.

  python -m resnet_v1_graph.tools.notebooks            # rebuild all
  python -m resnet_v1_graph.tools.notebooks 01_graphs_and_sessions

nbclient, nbformat and ipykernel are the `[notebooks]` extra.
"""

import argparse
import glob
import hashlib
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
NOTEBOOKS = os.path.join(ROOT, 'notebooks')
CELL_MARK = '# %%'
MARKDOWN_MARK = '# %% [markdown]'
# A cell's longest run before the notebook counts as failed.
CELL_TIMEOUT_SECONDS = 600
KERNEL = 'python3'
EXTRA_MESSAGE = ("the notebooks need nbclient, nbformat and ipykernel: pip "
                 "install 'resnet-tf1[notebooks]'")


def _nbformat():
  try:  # The optional [notebooks] extra.
    import nbformat
  except ImportError as error:
    raise ImportError('%s (%s)' % (EXTRA_MESSAGE, error)) from None
  return nbformat


def sources():
  """{name: path} of the notebook sources, in order."""
  return {os.path.splitext(os.path.basename(path))[0]: path
          for path in sorted(glob.glob(os.path.join(NOTEBOOKS, '[0-9]*.py')))}


def notebook_path(name):
  return os.path.join(NOTEBOOKS, name + '.ipynb')


def source_hash(text):
  return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


def split_cells(text):
  """[(kind, source)] of a percent-format file; kind 'code' or 'markdown'.

  Raises:
    ValueError: If text comes before the first cell mark.
  """
  cells = []
  for line in text.splitlines():
    if line.startswith(CELL_MARK):
      kind = 'markdown' if line.startswith(MARKDOWN_MARK) else 'code'
      cells.append((kind, []))
    elif not cells:
      if line.strip():
        raise ValueError('text before the first %r line: %r' % (CELL_MARK,
                                                                  line))
    else:
      if cells[-1][0] == 'markdown':
        line = line[2:] if line.startswith('# ') else line.lstrip('#')
      cells[-1][1].append(line)
  return [(kind, '\n'.join(lines).strip('\n')) for kind, lines in cells]


def build(path):
  """The notebook of a source file, unexecuted, each cell stamped."""
  nbformat = _nbformat()
  with open(path, encoding='utf-8') as f:
    cells = split_cells(f.read())
  notebook = nbformat.v4.new_notebook()
  notebook.metadata['kernelspec'] = {'name': KERNEL, 'display_name':
                                     'Python 3', 'language': 'python'}
  for kind, text in cells:
    make = (nbformat.v4.new_markdown_cell if kind == 'markdown'
            else nbformat.v4.new_code_cell)
    cell = make(text)
    cell.metadata['source_hash'] = source_hash(text)
    notebook.cells.append(cell)
  return notebook


def execute(notebook, cwd):
  """Runs every cell in a fresh kernel started in `cwd`; the notebook.

  Raises:
    nbclient.exceptions.CellExecutionError: At the first cell that fails.
  """
  import nbclient  # pylint: disable=g-import-not-at-top
  # TensorFlow's C++ start-up lines (oneDNN's notice, written before its
  # logging reads TF_CPP_MIN_LOG_LEVEL) go to the kernel's own stderr, not
  # into the cells: the kernel does not capture file descriptor 2.
  client = nbclient.NotebookClient(
      notebook, timeout=CELL_TIMEOUT_SECONDS, kernel_name=KERNEL,
      resources={'metadata': {'path': cwd}},
      extra_arguments=['--IPKernelApp.capture_fd_output=False'])
  client.execute()
  return notebook


def problems(name):
  """What is stale or missing in the committed notebook `name`: cells that
  differ from the source, cells not run, or run out of order, or that
  failed. An empty list means it is current."""
  nbformat = _nbformat()
  path = notebook_path(name)
  if not os.path.exists(path):
    return ['%s does not exist; build it' % path]
  committed = nbformat.read(path, as_version=4)
  expected = build(sources()[name])
  found = []
  if len(committed.cells) != len(expected.cells):
    found.append('%d cells, the source has %d' % (len(committed.cells),
                                                  len(expected.cells)))
  count = 0
  for i, (cell, want) in enumerate(zip(committed.cells, expected.cells)):
    if (cell.cell_type != want.cell_type or
        cell.metadata.get('source_hash') != want.metadata['source_hash'] or
        source_hash(cell.source) != want.metadata['source_hash']):
      found.append('cell %d differs from the source' % i)
    if cell.cell_type != 'code':
      continue
    count += 1
    if cell.execution_count != count:
      found.append('cell %d ran as [%s], not [%d]' % (i, cell.execution_count,
                                                      count))
    if any(output.output_type == 'error' for output in cell.outputs):
      found.append('cell %d ended in an error' % i)
  return found


def rebuild(name, echo=print):
  """Builds, runs and writes notebook `name`; the seconds it took."""
  nbformat = _nbformat()
  started = time.monotonic()
  notebook = execute(build(sources()[name]), NOTEBOOKS)
  seconds = time.monotonic() - started
  partial = notebook_path(name) + '.partial'
  nbformat.write(notebook, partial)
  os.replace(partial, notebook_path(name))
  echo('%s: ran in %.0f s, wrote %s' % (name, seconds, notebook_path(name)))
  return seconds


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('names', nargs='*', help='notebooks to rebuild '
                      '(default: all): %s' % ', '.join(sources()))
  args = parser.parse_args(argv)
  unknown = sorted(set(args.names) - set(sources()))
  if unknown:
    parser.error('unknown notebook(s) %s; choose from %s' % (
        ', '.join(unknown), ', '.join(sources())))
  for name in args.names or sources():
    rebuild(name)
  return 0


if __name__ == '__main__':
  sys.exit(main())
