"""Test your own state machines: run definitions in process on virtual time, assert paths, measure coverage."""
