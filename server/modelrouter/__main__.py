"""`python -m modelrouter` entry point."""

from modelrouter.cli import main

raise SystemExit(main())
