"""Lookup API."""
