"""Plugins: one file per plugin, one explicit registry per kind."""
