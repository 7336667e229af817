"""``python -m evervault.local`` = ``evervault-local``."""

from evervault.local.cli import main

raise SystemExit(main())
