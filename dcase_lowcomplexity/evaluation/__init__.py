"""Metrics, tables, figures and DCASE submission files."""
