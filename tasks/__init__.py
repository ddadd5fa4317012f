"""Lambda tasks of the file pipeline; each subfolder is one function's deployment package (SAM CodeUri)."""
