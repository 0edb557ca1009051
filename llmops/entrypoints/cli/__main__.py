"""`python -m llmops.entrypoints.cli`: the `llmops` command."""

import sys

from llmops.entrypoints.cli import main

sys.exit(main())
