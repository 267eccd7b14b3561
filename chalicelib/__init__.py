"""Drover: an open AI SRE engine for Kubernetes fleets."""

__version__ = "0.1.0"
