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


class InputError(FlowcheckError):
    """An input file flowcheck will not read: not a regular file, too large, too deeply
    nested, not UTF-8, not valid JSON or YAML."""


class SettingsError(FlowcheckError):
    """A ``[tool.flowcheck]`` setting of the wrong type or out of range."""


class LimitError(FlowcheckError):
    """A command stopped at ``--max-seconds`` or ``--max-memory`` outside exploration,
    where no bounded result can be reported."""
