"""python -m dermbridge.core.scaled"""

from dermbridge.core.scaled.cli import main

raise SystemExit(main())
