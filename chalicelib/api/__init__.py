"""Endpoint groups: one Chalice blueprint each (parse, call a service, shape the response)."""
