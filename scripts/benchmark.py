#!/usr/bin/env python3
"""Speed side by side: see resnet_v1_graph/benchmark.py (also `resnet-tf1-benchmark`)."""

import os
import sys

# Runs from a clone without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from resnet_v1_graph import benchmark  # pylint: disable=g-import-not-at-top

if __name__ == '__main__':
  sys.exit(benchmark.main())
