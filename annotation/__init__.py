"""Recordings, gaze samples and manual labels."""
