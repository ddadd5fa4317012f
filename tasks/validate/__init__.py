"""CodeUri folder of the validate function: requirements.txt plus the `validate` package."""
