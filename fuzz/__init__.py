"""Fuzz targets for every parser, for atheris (opt-in) and Hypothesis (default test run).

``python -m fuzz --minutes N`` runs each target under atheris (coverage-guided, ``pip
install -e '.[fuzz]'``) for its share of the budget and prints executions, exec/s and
crashes per target. ``tests/fuzz_properties`` runs the same targets under Hypothesis.
A target passes an input when only an ``EvervaultError`` (or, for the emulator's HTTP
handlers, a non-500 Problem JSON answer) comes out of it.
"""
