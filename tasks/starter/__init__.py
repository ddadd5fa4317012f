"""CodeUri folder of the starter function: requirements.txt plus the `starter` package."""
