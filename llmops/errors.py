"""Exceptions a user can act on; the CLI prints their message on one line and exits 2."""


class LlmopsError(Exception):
    """Base class of every error caused by bad input or configuration."""


class InputError(LlmopsError):
    """A file, argument or record the user handed us is malformed; the message names it."""


class IndexNotFoundError(LlmopsError):
    """No embedding table exists yet for the requested model."""
