"""The four errors that end a stage without a retry, each reported as its own failure kind.

InputError and SourceChanged exit 2, UsageError and ConfigError exit 3 (video_contract.exits); any
other exception is transient (exit 1, retried).
"""

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


class SourceChanged(Exception):
    """The source object is no longer the version the run pinned (``--source-etag``): replaced or deleted.

    Exit 2 with kind ``changed``: this run can never finish (every stage must read one file), so no
    retry; but it is not the input's fault, so nothing is quarantined: the new object gets a run of
    its own (its ETag gives it its own video id). Not an ``InputError``, so no handler takes it for one.
    """
