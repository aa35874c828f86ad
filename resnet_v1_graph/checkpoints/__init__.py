"""Reading, comparing, diagnosing and converting checkpoints.

A plain `Saver.restore` of a checkpoint that does not fit fails deep inside
TensorFlow with one key at a time. These modules read TensorFlow checkpoints
and Keras weight files alike, and say what is in them and why they do not
fit:

  * `reading`: {name: Variable} or {name: array} of a checkpoint, a run
    directory or a Keras `.h5` / `.weights.h5` file (`read_variables`,
    `read_arrays`, `resolve_checkpoint`), and the name helpers
    (`is_training_state`, `is_head`, `optimizer_of`);
  * `family`: which network a set of variables belongs to (`recognise`):
    slim ResNet v1/v2 and its depth from the units per block, the classic
    `ResNet` class and its depth, Keras applications' ResNet50/ResNet50V2
    and deeper;
  * `matching`: `check` (raises `CheckpointMismatchError`) and `diff`:
    missing, unexpected and shape-mismatched variables between two
    checkpoints, or a checkpoint and a network built by name, with the usual
    causes named in plain words;
  * `inspection`: `inspect`, every variable grouped by scope with totals,
    and `model_variables`, the variables of a network of `nets.registry`;
  * `keras_names`: which Keras application weight becomes which variable;
  * `convert`: Keras applications' weights to checkpoints and back.

Typical use:

  from resnet_v1_graph import checkpoints

  print(checkpoints.format_inspection(checkpoints.inspect('model.ckpt')))
  result = checkpoints.diff('resnet_v2_50.ckpt',
                            checkpoints.model_variables('resnet_v2_50',
                                                        num_classes=1000))
  print(checkpoints.format_diff(result))
"""

from resnet_v1_graph.checkpoints import convert
from resnet_v1_graph.checkpoints import family
from resnet_v1_graph.checkpoints import inspection
from resnet_v1_graph.checkpoints import keras_names
from resnet_v1_graph.checkpoints import matching
from resnet_v1_graph.checkpoints import reading
from resnet_v1_graph.checkpoints.matching import Cause
from resnet_v1_graph.checkpoints.matching import check
from resnet_v1_graph.checkpoints.matching import CheckpointMismatchError
from resnet_v1_graph.checkpoints.matching import compare
from resnet_v1_graph.checkpoints.matching import Comparison
from resnet_v1_graph.checkpoints.matching import diff
from resnet_v1_graph.checkpoints.matching import Diff
from resnet_v1_graph.checkpoints.matching import format_diff
from resnet_v1_graph.checkpoints.family import describe_family
from resnet_v1_graph.checkpoints.family import Family
from resnet_v1_graph.checkpoints.family import FAMILY_TITLES
from resnet_v1_graph.checkpoints.family import recognise
from resnet_v1_graph.checkpoints.inspection import format_inspection
from resnet_v1_graph.checkpoints.inspection import Group
from resnet_v1_graph.checkpoints.inspection import inspect
from resnet_v1_graph.checkpoints.inspection import Inspection
from resnet_v1_graph.checkpoints.inspection import model_variables
from resnet_v1_graph.checkpoints.reading import checkpoint_variables
from resnet_v1_graph.checkpoints.reading import checkpoints_in
from resnet_v1_graph.checkpoints.reading import DAMAGE_ERRORS
from resnet_v1_graph.checkpoints.reading import GLOBAL_STEP
from resnet_v1_graph.checkpoints.reading import HEAD_SCOPES
from resnet_v1_graph.checkpoints.reading import is_head
from resnet_v1_graph.checkpoints.reading import is_keras_weights
from resnet_v1_graph.checkpoints.reading import is_training_state
from resnet_v1_graph.checkpoints.reading import OPTIMIZER_GLOBALS
from resnet_v1_graph.checkpoints.reading import OPTIMIZER_SLOTS
from resnet_v1_graph.checkpoints.reading import optimizer_of
from resnet_v1_graph.checkpoints.reading import read_arrays
from resnet_v1_graph.checkpoints.reading import read_variables
from resnet_v1_graph.checkpoints.reading import resolve_checkpoint
from resnet_v1_graph.checkpoints.reading import Variable
from resnet_v1_graph.checkpoints.reading import variable_bytes
from resnet_v1_graph.checkpoints.reading import variable_size
from resnet_v1_graph.nets.registry import IMAGENET_CLASSES
from resnet_v1_graph.nets.registry import IMAGENET_CLASSES_WITH_BACKGROUND

__all__ = [
    # Modules.
    'convert', 'family', 'inspection', 'keras_names', 'matching', 'reading',
    # Reading.
    'GLOBAL_STEP', 'HEAD_SCOPES', 'OPTIMIZER_GLOBALS', 'OPTIMIZER_SLOTS',
    'DAMAGE_ERRORS', 'Variable', 'checkpoint_variables', 'checkpoints_in',
    'is_head', 'is_keras_weights',
    'is_training_state', 'optimizer_of', 'read_arrays', 'read_variables',
    'resolve_checkpoint', 'variable_bytes', 'variable_size',
    # Families.
    'FAMILY_TITLES', 'Family', 'describe_family', 'recognise',
    # Comparing.
    'Cause', 'CheckpointMismatchError', 'Comparison', 'Diff', 'check',
    'compare', 'diff', 'format_diff',
    # Inspecting.
    'Group', 'Inspection', 'format_inspection', 'inspect', 'model_variables',
    # From the registry.
    'IMAGENET_CLASSES', 'IMAGENET_CLASSES_WITH_BACKGROUND',
]
