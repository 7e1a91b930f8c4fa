"""The colour scale of the spectrogram lanes: the heat map from RANGE_DB below the reference (left)
to the reference (right), labelled in dB. The reference is the original's loudest band, shared by
every lane of the song (see spectrogram.py), so a colour means the same level in every lane."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from app.palette import heatmap_lut
from app.audio.spectrogram import RANGE_DB

BAR_HEIGHT = 8  # px


class LevelScale(QtWidgets.QWidget):
    """A horizontal colour bar with dB labels under it (see module doc)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("levelScale")
        self.setToolTip("Spectrogram colours: level in dB relative to the original's loudest band "
                        "(the same scale in every lane, so bleed shows as a darker copy)")
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Fixed, QtWidgets.QSizePolicy.Policy.Fixed)

    def labels(self) -> list[str]:
        """The dB labels, left to right."""
        return [f"{-RANGE_DB + k * RANGE_DB / 4:+.0f} dB".replace("+0 dB", "0 dB").replace("-", "−")
                for k in range(5)]

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt API
        metrics = self.fontMetrics()
        text = sum(metrics.horizontalAdvance(t) for t in self.labels())
        return QtCore.QSize(max(220, text + 40), BAR_HEIGHT + metrics.height() + 4)

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt API
        return self.sizeHint()

    def color_at(self, fraction: float) -> QtGui.QColor:
        """The bar's colour at `fraction` of its width (0 = −RANGE_DB, 1 = 0 dB)."""
        lut = heatmap_lut()
        row = lut[min(len(lut) - 1, max(0, int(round(fraction * (len(lut) - 1)))))]
        return QtGui.QColor(int(row[0]), int(row[1]), int(row[2]))

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QtGui.QPainter(self)
        metrics = self.fontMetrics()
        labels = self.labels()
        margin = metrics.horizontalAdvance(labels[0]) // 2 + 1
        width = max(1, self.width() - 2 * margin)
        gradient = QtGui.QLinearGradient(margin, 0, margin + width, 0)
        for k in range(0, 256, 16):
            gradient.setColorAt(k / 255, self.color_at(k / 255))
        gradient.setColorAt(1.0, self.color_at(1.0))
        p.fillRect(QtCore.QRect(margin, 0, width, BAR_HEIGHT), QtGui.QBrush(gradient))
        p.setPen(self.palette().color(QtGui.QPalette.ColorRole.WindowText))
        for k, text in enumerate(labels):
            x = margin + width * k / (len(labels) - 1)
            w = metrics.horizontalAdvance(text)
            left = min(max(0.0, x - w / 2), self.width() - w)
            p.drawText(QtCore.QPointF(left, BAR_HEIGHT + 2 + metrics.ascent()), text)
        p.end()
