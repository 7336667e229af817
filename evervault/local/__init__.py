"""evervault-local: a local Evervault API emulator (an aiohttp.web driving adapter over the domain).

* :mod:`evervault.local.cli` - the ``evervault-local`` command (``serve``, ``demo``);
* :mod:`evervault.local.runner` - start an emulator on an event loop or a background thread;
* :mod:`evervault.local.server` - the HTTP API; :mod:`~evervault.local.state` - the data directory;
* :mod:`evervault.local.pytest_plugin` - the ``evervault_local`` pytest fixtures.

Nothing is imported here, so loading the pytest plugin stays cheap.
"""
