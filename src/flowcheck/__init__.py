"""flowcheck: executable, proven and exported wizard flows."""

__version__ = "0.1.0"
