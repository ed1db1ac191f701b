"""`python -m epic_mcp` and the `epic-mcp` console script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
