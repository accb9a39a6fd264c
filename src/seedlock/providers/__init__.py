"""Hosted image APIs (and the local A1111 API): what pins them, what moves them, what to record."""
