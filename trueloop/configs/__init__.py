"""Built-in run configurations (TOML), shipped as package data."""
