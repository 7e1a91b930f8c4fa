"""StemDeck's headless core: network, inference, audio I/O, export, training, evaluation, CLI.

Nothing in this package imports Qt or sounddevice.
"""

__version__ = "0.1.0"
