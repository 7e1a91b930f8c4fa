"""Player widgets: waveform lanes (pyqtgraph), per-lane controls with meters, transport bar."""
