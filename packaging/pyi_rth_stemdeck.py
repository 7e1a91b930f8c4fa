"""PyInstaller runtime hook (runs before the app's code in the frozen build).

sounddevice finds PortAudio with `ctypes.util.find_library("portaudio")`, which on Linux asks the
host (ldconfig) and never looks inside the bundle: on a machine without libportaudio2 playback
would be missing, and on one with it the host's copy would be used instead of the tested one.
Point that one lookup at the bundled library.
"""

import ctypes.util
import os
import sys

_host_find_library = ctypes.util.find_library
_BUNDLED = {"portaudio": "libportaudio.so.2"}


def _find_library(name):
    bundled = _BUNDLED.get(name)
    if bundled and sys.platform.startswith("linux"):
        path = os.path.join(sys._MEIPASS, bundled)
        if os.path.isfile(path):
            return path
    return _host_find_library(name)


ctypes.util.find_library = _find_library
