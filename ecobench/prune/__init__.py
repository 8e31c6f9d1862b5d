"""Importance scores, trajectory recording, masks."""
