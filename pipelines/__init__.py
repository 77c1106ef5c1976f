"""Dagster wiring: partitions, resources, jobs, schedules, sensors and the one ``definitions.py``."""
