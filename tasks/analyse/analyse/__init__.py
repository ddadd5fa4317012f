"""Analyses an uploaded object's content: images with Pillow, JSON and CSV documents with the stdlib."""
