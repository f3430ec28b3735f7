"""One module per command; each has ``run(...) -> int`` (the exit code)."""
