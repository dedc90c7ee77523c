"""The one error type that means "this input will never work"."""

from __future__ import annotations


class InputError(Exception):
    """A permanent input error: retrying cannot help, so the CLI exits 2.

    The message is shown to people (task logs, the DynamoDB item), so it is one
    clear sentence about the input, not about our code.
    """


class UsageError(ValueError):
    """Options that can never work (an unknown class name, a bad ladder): exit 3, no retry.

    Not the input's fault, so the orchestrator must not quarantine the video.
    """


class ConfigError(Exception):
    """The worker's installation or settings are wrong (a tool that is not there): exit 3, no retry.

    Neither the input's fault nor the options': no quarantine, and retrying on the same machine
    cannot help. The message names what is missing and the setting (or PATH) that supplies it.
    Not a ``UsageError`` (a ``ValueError``), so that no stage's ``except ValueError`` swallows it.
    """
