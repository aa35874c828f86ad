"""The house rules of ARCHITECTURE.md, read from the source itself.

Every import statement of both packages is collected from the syntax tree,
the ones inside functions included, and checked: no module imports one of a
higher layer, nothing imports the tests, there is no cycle, and no module
grows past what reads in one sitting.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ('resnet_v1_graph', 'resnet_v2_slim')
# Lowest first; a module may import its own layer and the ones before it.
# The first prefix that matches a module's name decides its layer.
LAYERS = (
    ('layers', ('resnet_v2_slim', 'resnet_v1_graph.nets.layers')),
    ('nets', ('resnet_v1_graph.nets',)),
    ('config', ('resnet_v1_graph.config', 'resnet_v1_graph.recipes')),
    ('graph and data', ('resnet_v1_graph.model', 'resnet_v1_graph.data',
                        'resnet_v1_graph.preprocessing',
                        'resnet_v1_graph.optimization')),
    ('checkpoints', ('resnet_v1_graph.checkpoints',)),
    ('training', ('resnet_v1_graph.training',)),
    ('classifier', ('resnet_v1_graph.classifier',)),
    ('tools', ('resnet_v1_graph.export', 'resnet_v1_graph.cli',
               'resnet_v1_graph.tools', 'resnet_v1_graph')),
)
MAX_MODULE_LINES = 600
TEST_MODULES = ('tests', 'conftest', 'oracles')


def _module_files():
  """{dotted module name: path} for every module of both packages."""
  modules = {}
  for package in PACKAGES:
    for path in sorted((ROOT / package).rglob('*.py')):
      parts = list(path.relative_to(ROOT).with_suffix('').parts)
      if parts[-1] == '__init__':
        parts.pop()
      modules['.'.join(parts)] = path
  return modules


MODULES = _module_files()


def _imports(path):
  """(line, imported module) of every import in a file, at any depth.

  `from package import name` counts as importing `package.name` when that
  is a module, else `package`.
  """
  found = []
  for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
    if isinstance(node, ast.Import):
      found += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
      for alias in node.names:
        child = '%s.%s' % (node.module, alias.name)
        found.append((node.lineno,
                      child if child in MODULES else node.module))
  return found


def _layer(module):
  for rank, (_, prefixes) in enumerate(LAYERS):
    if any(module == p or module.startswith(p + '.') for p in prefixes):
      return rank
  raise AssertionError('%s belongs to no layer of LAYERS' % module)


def _edges():
  """{module: {imported module of the packages: first line}}."""
  edges = {}
  for module, path in MODULES.items():
    edges[module] = {}
    for line, name in _imports(path):
      if name.split('.')[0] in PACKAGES and name in MODULES:
        edges[module].setdefault(name, line)
  return edges


def test_every_module_has_a_layer():
  assert len(MODULES) > 30
  for module in MODULES:
    _layer(module)


def test_imports_point_down_the_layers():
  upward = []
  for module, imported in _edges().items():
    for name, line in imported.items():
      if _layer(name) > _layer(module):
        upward.append('%s:%d imports %s (%s above %s)' % (
            module, line, name, LAYERS[_layer(name)][0],
            LAYERS[_layer(module)][0]))
  assert not upward, '\n'.join(upward)


def test_nothing_imports_the_tests():
  offenders = ['%s:%d imports %s' % (module, line, name)
               for module, path in MODULES.items()
               for line, name in _imports(path)
               if name.split('.')[0] in TEST_MODULES]
  assert not offenders, '\n'.join(offenders)
  for module, path in MODULES.items():
    assert 'sys.path' not in path.read_text(encoding='utf-8'), module


def _cycle(edges):
  """One import cycle as a list of modules, or None (depth-first search)."""
  state, stack = {}, []

  def visit(module):
    state[module] = 'open'
    stack.append(module)
    for name in sorted(edges.get(module, ())):
      if name == module:
        continue
      if state.get(name) == 'open':
        return stack[stack.index(name):] + [name]
      if name not in state:
        found = visit(name)
        if found:
          return found
    stack.pop()
    state[module] = 'done'
    return None

  for module in sorted(edges):
    if module not in state:
      found = visit(module)
      if found:
        return found
  return None


def test_no_import_cycles():
  cycle = _cycle(_edges())
  assert cycle is None, ' -> '.join(cycle)


@pytest.mark.parametrize('edges,expected', [
    ({'a': {'b': 1}, 'b': {'c': 1}, 'c': {'a': 1}}, ['a', 'b', 'c', 'a']),
    ({'a': {'b': 1}, 'b': {'c': 1}, 'c': {}}, None),
])
def test_cycle_finder_finds_cycles(edges, expected):
  assert _cycle(edges) == expected


def test_imports_inside_functions_are_seen(tmp_path):
  source = tmp_path / 'late.py'
  source.write_text('def f():\n  from resnet_v1_graph import cli\n')
  assert _imports(source) == [(2, 'resnet_v1_graph.cli')]


def test_modules_read_in_one_sitting():
  long = {module: n for module, n in (
      (module, len(path.read_text(encoding='utf-8').splitlines()))
      for module, path in MODULES.items()) if n > MAX_MODULE_LINES}
  assert not long, long
