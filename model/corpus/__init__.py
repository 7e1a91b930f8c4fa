"""Synthetic multitrack corpus generator (issue 5).

Renders songs one stem at a time (drums, bass, other, vocals) from generated arrangements:
General MIDI soundfonts played by libfluidsynth (loaded once per worker), real singing re-pitched along
generated melodies with the WORLD vocoder, and per-stem production with pedalboard. The output
follows the MUSDB18-HQ layout ``<out>/{train,valid,test}/<song>/{mixture,drums,bass,other,vocals}.wav``
plus ``<out>/manifest.json``. Run as ``python -m model.corpus build --out DIR --songs N --seed S``.
"""

from __future__ import annotations

#: bump when the same seed would render different audio
GENERATOR_VERSION = "1"
