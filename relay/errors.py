"""Errors that any layer may raise and the CLI reports."""


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""
