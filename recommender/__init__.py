"""Matches an alert to past incidents; recommends root causes, severity and fixes."""
