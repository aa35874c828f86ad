"""Pictures of a network's structure: PNG or SVG, drawn with matplotlib.

`draw` reads a network's structure from the graph it builds (see
`structure`) and draws it top to bottom: the input, the stem, each stage as
a labelled band holding its units, and the head. A unit's box gives its
name, its output shape (height x width x channels) and the layers of its
residual branch. The bracket beside it is its shortcut, drawn in the style
of its kind (the legend at the bottom names them) and labelled where it
does more than pass its input on: a projection's convolution, a
subsampling's stride, the zero channels of [1]'s option A. Plain twins have
no bracket.

Runs of more than `collapse_over` consecutive units of a stage that differ
in name only become one row, 'unit_2 ... unit_35 x34', so resnet_v2_152's
50 units fit on a page; `collapse_over=None` draws every unit.

matplotlib draws off screen (its Agg canvas; SVG through its own writer),
so no display and no Graphviz are needed. SVG text stays text, so the
picture can be searched and tested.

[1] Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun
    Deep Residual Learning for Image Recognition. arXiv:1512.03385

Typical use:

  from resnet_v1_graph.tools import drawing

  drawing.draw('resnet_v2_50', 'resnet_v2_50.svg')
  drawing.draw('resnet', 'resnet18_32.png', depth=18, image_size=32)
"""

import os

import matplotlib
from matplotlib import figure as figure_lib
from matplotlib import lines
from matplotlib import patches
from matplotlib import path as path_lib
from matplotlib.backends import backend_agg

from resnet_v1_graph.checkpoints import convert
from resnet_v1_graph.tools import structure as structure_lib

FORMATS = ('.png', '.svg')
# Runs of identical units longer than this are drawn as one row: all 16
# units of resnet_v2_50 stay visible, deeper nets fold their long stages.
COLLAPSE_OVER = 4
DPI = 150
# The figure is WIDTH inches wide, 10 x-units across; a row is ROW inches.
WIDTH = 8.0
ROW = 0.5
# Rows besides the stages': title, input, stem, head and legend.
FIXED_ROWS = 5.3
BOX_LEFT, BOX_RIGHT = 2.3, 7.1
CENTRE = (BOX_LEFT + BOX_RIGHT) / 2
BOX_HEIGHT = 0.78
STAGE_GAP = 0.35
STAGE_COLOURS = ('#eef3fa', '#f1f7ec')
PLAIN_BOX, END_BOX = '#ffffff', '#fff4d6'
# How each kind of shortcut is drawn: (line style, colour).
SHORTCUT_STYLES = {
    structure_lib.IDENTITY: ('-', '#555555'),
    structure_lib.SUBSAMPLED: (':', '#1f5fbf'),
    structure_lib.ZERO_PADDED: ('-.', '#2a8a3a'),
    structure_lib.PROJECTION: ('--', '#c0392b'),
}


def format_shape(shape):
  """'56×56×256' for (56, 56, 256); '1001' for (1001,)."""
  return '×'.join(str(d) for d in shape)


def format_layer(layer):
  """'3×3 conv 64 /2', '3×3 max pool /2', 'global avg pool', 'dense 10'."""
  if layer.kind == 'global avg pool':
    return layer.kind
  if layer.kind == 'dense':
    return 'dense %d' % layer.channels
  text = '%d×%d %s' % (layer.kernel + (layer.kind,))
  if layer.kind == 'conv':
    text += ' %d' % layer.channels
  if layer.stride > 1:
    text += ' /%d' % layer.stride
  if layer.rate > 1:
    text += ' rate %d' % layer.rate
  return text


def collapse(units, collapse_over=COLLAPSE_OVER):
  """The rows of a stage: tuples of units drawn as one.

  Args:
    units: A stage's units, in order.
    collapse_over: Runs of more consecutive units than this that differ in
      name only (`Unit.same_as`) become one row; None: one row per unit.

  Returns:
    A list of non-empty tuples of `Unit`s.

  Raises:
    ValueError: If `collapse_over` is neither None nor an integer >= 1.
  """
  if collapse_over is not None and not (
      isinstance(collapse_over, int) and collapse_over >= 1):
    raise ValueError('collapse_over must be None or an integer >= 1, got %r'
                     % (collapse_over,))
  runs = []
  for unit in units:
    if runs and runs[-1][-1].same_as(unit):
      runs[-1].append(unit)
    else:
      runs.append([unit])
  rows = []
  for run in runs:
    if collapse_over is not None and len(run) > collapse_over:
      rows.append(tuple(run))
    else:
      rows.extend((unit,) for unit in run)
  return rows


def check_output(path, force=False):
  """Refuses an output that is no picture, or exists, unless `force`.

  Raises:
    ValueError: If `path` does not end in one of `FORMATS`.
    FileExistsError: If something is saved at `path` and `force` is False.
  """
  extension = os.path.splitext(str(path))[1].lower()
  if extension not in FORMATS:
    raise ValueError('cannot draw into %s: the file name must end in %s '
                     '(the format follows it)' % (path, ' or '.join(FORMATS)))
  convert.check_new_output(path, force)


def draw(name, output, image_size=None, depth=None, channels=3,
         force=False, collapse_over=COLLAPSE_OVER):
  """Draws network `name` of `nets.registry` into `output`.

  Args:
    name: A network name ('resnet', 'resnet_v2_50', 'cifar_resnet56', ...).
    output: A .png or .svg file to create.
    image_size: Input height and width (default: the network's own).
    depth: Depth of the classic 'resnet' (default that of `config.DEFAULTS`).
    channels: Input channels (1 for grey images such as the digits).
    force: Replace `output` if it exists.
    collapse_over: See `collapse`.

  Returns:
    The `structure.Structure` drawn.

  Raises:
    ValueError: On a bad file name, network, depth or image size.
    FileExistsError: If `output` exists and `force` is False.
  """
  check_output(output, force)
  net = structure_lib.read_structure(name, image_size=image_size,
                                     depth=depth, channels=channels)
  render(net, output, force=force, collapse_over=collapse_over)
  return net


def render(net, output, force=False, collapse_over=COLLAPSE_OVER):
  """Draws a `structure.Structure` into `output` (.png or .svg).

  Raises:
    ValueError: If `output` does not end in one of `FORMATS`.
    FileExistsError: If `output` exists and `force` is False.
  """
  check_output(output, force)
  stages = [(stage, collapse(stage.units, collapse_over))
            for stage in net.stages]
  height = FIXED_ROWS + sum(len(rows) + STAGE_GAP for _, rows in stages)
  figure = figure_lib.Figure(figsize=(WIDTH, height * ROW))
  backend_agg.FigureCanvasAgg(figure)
  axes = figure.add_axes((0, 0, 1, 1))
  axes.set_xlim(0, 10)
  axes.set_ylim(height, 0)
  axes.axis('off')
  axes.text(5, 0.55, '%s: %s, %d units' % (net.title, net.family,
                                          len(net.units)),
            ha='center', va='center', fontsize=12, weight='bold')
  column = _Column(axes, 1.1)
  column.box('input', format_shape(net.input_shape), (), END_BOX)
  column.box('stem', format_shape(net.stem_shape), net.stem, END_BOX)
  for i, (stage, rows) in enumerate(stages):
    column.stage(stage, rows, STAGE_COLOURS[i % 2])
  column.box('head', format_shape(net.output_shape), net.head, END_BOX)
  _legend(axes, {unit.shortcut for unit in net.units})
  os.makedirs(os.path.dirname(os.path.abspath(str(output))), exist_ok=True)
  extension = os.path.splitext(str(output))[1].lower()
  # 'none' keeps SVG text as <text>, searchable, instead of glyph outlines.
  with matplotlib.rc_context({'svg.fonttype': 'none'}):
    figure.savefig(str(output), format=extension[1:], dpi=DPI,
                   metadata={'Date': None} if extension == '.svg' else None)


class _Column:
  """Rows drawn one under the other, each joined to the one above."""

  def __init__(self, axes, y):
    self.axes = axes
    self.y = y  # The top of the next row.
    self.above = None  # The bottom of the last box.

  def box(self, name, shape, layers, colour, count=1):
    """A row's box: name, shape, layers; `count` > 1 stacks shadows."""
    axes, top = self.axes, self.y + (1 - BOX_HEIGHT) / 2
    for shadow in range(min(count, 3) - 1, -1, -1):
      axes.add_patch(patches.FancyBboxPatch(
          (BOX_LEFT + 0.07 * shadow, top - 0.07 * shadow),
          BOX_RIGHT - BOX_LEFT, BOX_HEIGHT,
          boxstyle='round,pad=0,rounding_size=0.1', facecolor=colour,
          edgecolor='#999999' if shadow else '#333333',
          linewidth=0.6 if shadow else 0.9))
    text = ' · '.join(format_layer(layer) for layer in layers)
    middle = self.y + (0.36 if text else 0.5)
    axes.text(BOX_LEFT + 0.15, middle, name, va='center', fontsize=9,
              weight='bold')
    axes.text(BOX_RIGHT - 0.15, middle, shape, va='center', ha='right',
              fontsize=9, family='monospace')
    if text:
      axes.text(BOX_LEFT + 0.15, self.y + 0.68, text, va='center',
                fontsize=7, color='#444444')
    if self.above is not None:
      axes.annotate('', xy=(CENTRE, top), xytext=(CENTRE, self.above),
                    arrowprops=dict(arrowstyle='-|>', color='#333333',
                                    linewidth=0.8, shrinkA=0, shrinkB=0))
    self.above = top + BOX_HEIGHT
    self.y += 1

  def stage(self, stage, rows, colour):
    """A stage's band and label around its rows of units."""
    axes = self.axes
    axes.add_patch(patches.Rectangle(
        (0.1, self.y + STAGE_GAP / 2 - 0.05), 9.8, len(rows) + 0.1,
        facecolor=colour, edgecolor='#c8d0da', linewidth=0.6, zorder=-1))
    middle = self.y + STAGE_GAP / 2 + len(rows) / 2
    axes.text(0.3, middle - 0.22, stage.name, va='center', fontsize=10,
              weight='bold')
    axes.text(0.3, middle + 0.22, '%d unit%s' % (
        len(stage.units), 's' * (len(stage.units) != 1)), va='center',
              fontsize=8, color='#444444')
    self.y += STAGE_GAP / 2
    for row in rows:
      unit = row[0]
      name = _short_name(unit.name, stage.name)
      if len(row) > 1:
        name = '%s … %s  ×%d' % (
            name, _short_name(row[-1].name, stage.name), len(row))
      _shortcut(axes, self.y, unit)
      self.box(name, format_shape(unit.output_shape), unit.layers,
               PLAIN_BOX, count=len(row))
    self.y += STAGE_GAP / 2


def _short_name(unit, stage):
  """A unit's name without its stage's prefix ('block_1' in stack_0)."""
  prefix = stage + '_'
  return unit[len(prefix):] if unit.startswith(prefix) else unit


def _shortcut(axes, y, unit):
  """The bracket from a unit's input to its output, and its label."""
  if unit.shortcut == structure_lib.NO_SHORTCUT:
    axes.text(BOX_RIGHT + 0.25, y + 0.5, 'no shortcut', va='center',
              fontsize=7, color='#888888', style='italic')
    return
  style, colour = SHORTCUT_STYLES[unit.shortcut]
  top, bottom = y + 0.2, y + 0.8
  bracket = path_lib.Path([(BOX_RIGHT, top), (BOX_RIGHT + 0.3, top),
                           (BOX_RIGHT + 0.3, bottom), (BOX_RIGHT, bottom)])
  axes.add_patch(patches.FancyArrowPatch(
      path=bracket, arrowstyle='-|>', mutation_scale=8, linestyle=style,
      color=colour, linewidth=1.1, zorder=3))
  label = _shortcut_label(unit)
  if label:
    axes.text(BOX_RIGHT + 0.42, y + 0.5, label, va='center', fontsize=7,
              color=colour)


def _shortcut_label(unit):
  """'1×1 conv 256 /2', 'subsample /2', 'subsample /2 + zero-pad' or ''."""
  if unit.shortcut == structure_lib.PROJECTION:
    return ' · '.join(format_layer(layer) for layer in unit.shortcut_layers)
  # The sum needs both terms at one resolution: the shortcut subsamples by
  # the residual branch's stride (a strided slice, which is no layer, too).
  parts = ['subsample /%d' % unit.stride] if unit.stride > 1 else []
  if unit.shortcut == structure_lib.ZERO_PADDED:
    parts.append('zero-pad')
  return ' + '.join(parts)


def _legend(axes, kinds):
  handles = [lines.Line2D([], [], linestyle=style, color=colour,
                          linewidth=1.2, label=kind + ' shortcut')
             for kind, (style, colour) in SHORTCUT_STYLES.items()
             if kind in kinds]
  if structure_lib.NO_SHORTCUT in kinds:
    handles.append(lines.Line2D([], [], linestyle='none',
                                label='no shortcut (plain twin)'))
  axes.legend(handles=handles, loc='lower center',
              ncol=min(len(handles), 3), fontsize=8,
              frameon=False, bbox_to_anchor=(0.5, 0.005))
