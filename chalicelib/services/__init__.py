"""Use cases: each calls ports only."""
