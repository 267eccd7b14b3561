"""Adapters: implementations of the domain ports on AWS and other systems."""
