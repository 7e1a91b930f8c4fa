"""Named exceptions for everything the core can refuse.

Library code raises these with the offending path and the reason in the message; the CLI turns
them into one line on stderr and a non-zero exit code, the GUI into a message box.
"""

from __future__ import annotations


class StemDeckError(Exception):
    """Base class of every error StemDeck reports to a user."""


class AudioReadError(StemDeckError):
    """An input audio file is missing, unreadable, corrupt, empty or holds invalid samples."""


class AudioWriteError(StemDeckError):
    """An output file could not be written (bad folder, full disk, unsupported format...)."""


class OutputExistsError(AudioWriteError):
    """An output file already exists and overwriting was not allowed."""


class ModelLoadError(StemDeckError):
    """A model file is missing, corrupt, or does not match its config/card."""


class DatasetError(StemDeckError):
    """A training/evaluation dataset folder is unusable."""


class DeviceError(StemDeckError):
    """A requested compute device does not exist or cannot be used."""


class Cancelled(StemDeckError):
    """A long operation was stopped because its cancel event was set."""
