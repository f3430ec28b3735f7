"""Errors a user can cause. The CLI prints them in one or two lines and exits 2."""

from __future__ import annotations


class FlowcheckError(Exception):
    """Base of every error caused by input: a bad machine, bad JSON, an unknown name."""


class MachineError(FlowcheckError):
    """A flow class or chart that flowcheck cannot honour."""


class UnknownNameError(FlowcheckError):
    """A machine, state or event name that does not exist."""


class PayloadError(FlowcheckError):
    """An event payload that fails its model."""


class ImportFormatError(FlowcheckError):
    """An XState config that cannot be read."""


class OutputError(FlowcheckError):
    """A file that cannot be written."""
