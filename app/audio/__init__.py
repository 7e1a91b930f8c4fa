"""Playback (the pure-numpy StemMixer with one cursor for all lanes, the sounddevice Player) and the
numpy display maths beside it (waveform envelope pyramids, spectrogram images)."""
