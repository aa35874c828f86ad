"""Pictures of a network's structure: the structure read from the graph,
checked against what the networks themselves name, and the files drawn."""

import math
import re
from xml.etree import ElementTree

from matplotlib import image as image_lib
import pytest
import tensorflow.compat.v1 as tf
import tf_slim

from resnet_v1_graph import cli
from resnet_v1_graph.nets import classic
from resnet_v1_graph.nets import registry
from resnet_v1_graph.tools import drawing
from resnet_v1_graph.tools import structure
from resnet_v2_slim import resnet_v2

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def v2_50():
  return structure.read_structure('resnet_v2_50', image_size=64)


@pytest.fixture(scope='module')
def resnet18():
  return structure.read_structure('resnet', image_size=32, depth=18)


def _shape(tensor):
  return tuple(tensor.shape.as_list()[1:])


def _slim_v2_50(size, output_stride=None):
  """images, logits, end_points and variable names of slim's own net."""
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, size, size, 3])
    with tf_slim.arg_scope(resnet_v2.resnet_arg_scope()):
      logits, end_points = resnet_v2.resnet_v2_50(
          images, 1001, is_training=False, output_stride=output_stride)
    variables = {v.op.name for v in tf.global_variables()}
  return images, logits, end_points, variables


def _expected_shortcut(projection, stride):
  if projection:
    return structure.PROJECTION
  return structure.SUBSAMPLED if stride > 1 else structure.IDENTITY


def test_slim_units_are_those_of_its_end_points(v2_50):
  _, _, end_points, variables = _slim_v2_50(64)
  units = [(key[:-len('/bottleneck_v2')], _shape(tensor))
           for key, tensor in end_points.items()
           if re.fullmatch(r'resnet_v2_50/block\d/unit_\d+/bottleneck_v2',
                           key)]
  blocks = [(key.split('/')[-1], _shape(tensor))
            for key, tensor in end_points.items()
            if re.fullmatch(r'resnet_v2_50/block\d', key)]
  assert len(units) == 16 and len(blocks) == 4
  assert [(u.scope, u.output_shape) for u in v2_50.units] == units
  assert [(s.name, s.output_shape) for s in v2_50.stages] == blocks
  assert v2_50.output_shape == _shape(
      end_points['resnet_v2_50/spatial_squeeze'])
  assert v2_50.input_shape == (64, 64, 3)
  assert v2_50.stem_shape == (16, 16, 64)  # conv1 /2, pool1 /2.
  # A projection is a shortcut with weights; a stride shrinks the map.
  height = v2_50.stem_shape[0]
  for unit in v2_50.units:
    stride = height // unit.output_shape[0]
    projection = unit.scope + '/bottleneck_v2/shortcut/weights' in variables
    assert (unit.stride, unit.shortcut) == (
        stride, _expected_shortcut(projection, stride)), unit.scope
    assert [layer.kernel for layer in unit.layers] == [(1, 1), (3, 3), (1, 1)]
    height = unit.output_shape[0]


def test_classic_units_are_its_block_scopes(resnet18):
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [1, 32, 32, 3])
    logits = classic.resnet_logits(images, is_training=False, depth=18,
                                   num_classes=1000)
    variables = {v.op.name for v in tf.global_variables()}
  # Each block ends in the ReLU after its shortcut's addition.
  ends = [op for op in graph.get_operations()
          if re.fullmatch(r'stack_\d/stack_\d_block_\d+/shortcut_connect/Relu',
                          op.name)]
  assert len(ends) == 8
  assert [(u.scope, u.output_shape) for u in resnet18.units] == [
      (op.name.rsplit('/', 2)[0], _shape(op.outputs[0])) for op in ends]
  assert [s.name for s in resnet18.stages] == [
      'stack_0', 'stack_1', 'stack_2', 'stack_3']
  assert resnet18.title == 'ResNet-18'
  assert resnet18.stem_shape == (8, 8, 64)
  assert resnet18.output_shape == _shape(logits)
  height = resnet18.stem_shape[0]
  for unit in resnet18.units:
    stride = height // unit.output_shape[0]
    projection = '%s_shortcut/kernel' % unit.name in variables
    assert (unit.stride, unit.shortcut) == (
        stride, _expected_shortcut(projection, stride)), unit.scope
    # 3x3 even where the 1x1 maps of stack_3 see only the centre tap.
    assert [layer.kernel for layer in unit.layers] == [(3, 3), (3, 3)]
    height = unit.output_shape[0]


@pytest.mark.parametrize('name', ['cifar_resnet20', 'cifar_plain20'])
def test_cifar_shortcuts_are_option_a_or_none(name):
  net = structure.read_structure(name)
  graph = tf.Graph()
  with graph.as_default():
    registry.get(name).logits_fn(tf.placeholder(tf.float32, [1, 32, 32, 3]),
                                 False, 10)
  names = {op.name for op in graph.get_operations()}
  assert [s.name for s in net.stages] == ['stage_0', 'stage_1', 'stage_2']
  assert [u.output_shape for u in net.units] == (
      [(32, 32, 16)] * 3 + [(16, 16, 32)] * 3 + [(8, 8, 64)] * 3)
  for unit in net.units:
    if not any(n.startswith(unit.scope + '/shortcut_connect/') for n in names):
      expected = structure.NO_SHORTCUT
    elif unit.scope + '/shortcut_connect/Pad' in names:
      expected = structure.ZERO_PADDED
    else:
      expected = structure.IDENTITY
    assert unit.shortcut == expected, unit.scope
  assert {u.shortcut for u in net.units} == (
      {structure.NO_SHORTCUT} if 'plain' in name else
      {structure.IDENTITY, structure.ZERO_PADDED})


@pytest.mark.parametrize('fixture', ['v2_50', 'resnet18'])
def test_each_unit_shrinks_the_map_by_its_stride(fixture, request):
  net = request.getfixturevalue(fixture)
  height = net.stem_shape[0]
  for unit in net.units:
    assert unit.output_shape[0] == math.ceil(height / unit.stride)
    height = unit.output_shape[0]


def test_output_stride_trades_strides_for_rates():
  images, logits, _, _ = _slim_v2_50(64, output_stride=8)
  _, stem_shape, stages, _ = structure.read_graph(
      images, logits, structure.UNIT_SCOPES['slim_v2'])
  units = [unit for stage in stages for unit in stage.units]
  assert stem_shape == (16, 16, 64)
  # Stride 8 is reached in block1 (4 x 2); later units keep 8x8 and dilate.
  assert [u.stride for u in units] == [1, 1, 2] + [1] * 13
  assert all(u.output_shape[:2] == (8, 8) for u in units[2:])
  assert [u.layers[1].rate for u in units] == [1] * 7 + [2] * 6 + [4] * 3


def test_every_family_has_unit_scopes():
  families = {network.family for network in registry.NETWORKS.values()}
  assert families <= set(structure.UNIT_SCOPES)


def test_errors_name_what_to_do():
  with pytest.raises(ValueError, match='depth applies to'):
    structure.read_structure('resnet_v2_50', depth=50)
  with pytest.raises(ValueError, match=r'unknown depth 19; choose one of'):
    structure.read_structure('resnet', depth=19)
  with pytest.raises(ValueError, match='cannot build course_resnet50 on '
                                       '16x16 images'):
    structure.read_structure('course_resnet50', image_size=16)


def test_long_runs_of_identical_units_collapse(v2_50, tmp_path):
  block3 = v2_50.stages[2].units
  assert [len(row) for row in drawing.collapse(block3)] == [1] * 6
  assert [len(row) for row in drawing.collapse(block3, 3)] == [1, 4, 1]
  assert [len(row) for row in drawing.collapse(block3, None)] == [1] * 6
  with pytest.raises(ValueError, match='collapse_over'):
    drawing.collapse(block3, 0)
  path = tmp_path / 'folded.svg'
  drawing.render(v2_50, path, collapse_over=3)
  text = ' '.join(ElementTree.parse(path).getroot().itertext())
  assert 'unit_2 … unit_5  ×4' in text


def test_svg_names_every_stage_and_shape(v2_50, tmp_path):
  path = tmp_path / 'resnet_v2_50.svg'
  drawing.render(v2_50, path)
  text = ' '.join(ElementTree.parse(path).getroot().itertext())
  for stage in v2_50.stages:
    assert stage.name in text
  for unit in v2_50.units:
    assert unit.name in text
    assert drawing.format_shape(unit.output_shape) in text
  for kind in (structure.IDENTITY, structure.SUBSAMPLED,
               structure.PROJECTION):
    assert kind + ' shortcut' in text
  assert '1×1 conv 256' in text  # block1/unit_1's projection.


def test_png_is_an_image(resnet18, tmp_path):
  path = tmp_path / 'resnet18.png'
  drawing.render(resnet18, path)
  assert path.read_bytes()[:8] == PNG_SIGNATURE
  height, width, _ = image_lib.imread(path).shape
  assert height > 500 and width > 500


def test_outputs_are_not_replaced_unasked(resnet18, tmp_path):
  path = tmp_path / 'kept.svg'
  path.write_text('keep me')
  with pytest.raises(FileExistsError, match='--force'):
    drawing.render(resnet18, path)
  with pytest.raises(FileExistsError):
    drawing.draw('resnet', path)  # Refused before building anything.
  assert path.read_text() == 'keep me'
  drawing.render(resnet18, path, force=True)
  assert path.read_text().lstrip().startswith('<?xml')
  for bad in ('net.jpg', 'net.pdf', 'net'):
    with pytest.raises(ValueError, match=r'\.png or \.svg'):
      drawing.render(resnet18, tmp_path / bad)
    assert not (tmp_path / bad).exists()


def test_draw_command(tmp_path, capsys):
  output = tmp_path / 'pictures' / 'resnet18.png'
  flags = ['draw', '--model', 'resnet', '--depth', '18', '--image-size', '32',
           '--output', str(output)]
  assert cli.main(flags) == 0
  assert 'wrote %s (ResNet-18: 4 stages, 8 units)' % output in (
      capsys.readouterr().out)
  assert output.read_bytes()[:8] == PNG_SIGNATURE
  assert cli.main(flags) == 2
  assert 'exists' in capsys.readouterr().err
  assert cli.main(flags + ['--force']) == 0
  capsys.readouterr()
  grey = tmp_path / 'grey.svg'
  assert cli.main(['draw', '--model', 'cifar_resnet20', '--image-size', '8',
                   '--channels', '1', '--output', str(grey)]) == 0
  assert '8×8×1' in grey.read_text() and '8×8×3' not in grey.read_text()
  assert cli.main(['draw', '--model', 'resnet_v2_50', '--output',
                   str(tmp_path / 'r50.gif')]) == 2
  err = capsys.readouterr().err
  assert err.startswith('resnet-tf1 draw: ') and '.png or .svg' in err
  assert cli.main(['draw', '--model', 'resnet_v2_50', '--depth', '50',
                   '--output', str(tmp_path / 'r50.svg')]) == 2
  assert 'depth applies to' in capsys.readouterr().err
  with pytest.raises(SystemExit):
    cli.main(['draw', '--model', 'resnet_v3_50', '--output', 'x.svg'])
  assert 'cifar_plain110' in capsys.readouterr().err
