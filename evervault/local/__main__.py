"""``python -m evervault.local`` = ``evervault-local``."""

from evervault.local.entry import main

raise SystemExit(main())
