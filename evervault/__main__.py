"""``python -m evervault ...`` runs the ``evervault`` command."""

from evervault.cli.main import main

raise SystemExit(main())
