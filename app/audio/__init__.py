"""Playback: the pure-numpy StemMixer (one cursor for all lanes) and the sounddevice Player."""
