"""`python -m tuneyard` runs the CLI."""

from __future__ import annotations

from tuneyard.cli.main import main

raise SystemExit(main())
