"""CodeUri folder of the analyse function: requirements.txt plus the `analyse` package."""
