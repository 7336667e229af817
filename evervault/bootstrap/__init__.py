"""The composition root: the only package that knows concrete adapters and wires them into services."""
