"""Starts one pipeline execution per S3 object version, named so a repeat start is refused."""
