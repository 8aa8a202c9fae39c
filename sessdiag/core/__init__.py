"""Foundations every layer may import: errors, units, time format, the report contract."""
