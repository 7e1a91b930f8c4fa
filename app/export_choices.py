"""What the export dialog exports: remembered between sessions, and named presets.

`ExportChoices` is the dialog's state without widgets (stems, combined outputs, format). The last
choices live in the Settings prefs `export_*`; user presets are one JSON object in the pref
`export_presets` (name -> choices). `BUILTIN_PRESETS` are the ones every producer asks for.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

from .settings import Settings

logger = logging.getLogger(__name__)

ALL_STEMS = "*"


@dataclass(frozen=True)
class ExportChoices:
    """`stems` None = every stem of the model; `outputs` = combined-output keys (model presets or
    "what_i_hear"); `bit_depth` 0 = like the source; `mp3_kbps` for MP3 only."""

    stems: tuple[str, ...] | None = None
    outputs: tuple[str, ...] = ()
    container: str = "wav"
    bit_depth: int = 0
    mp3_kbps: int = 320

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stems"] = None if self.stems is None else list(self.stems)
        d["outputs"] = list(self.outputs)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ExportChoices":
        """Choices from `to_dict()` output; raises ValueError/TypeError on anything else."""
        stems = d.get("stems")
        return cls(stems=None if stems is None else tuple(str(s) for s in stems),
                   outputs=tuple(str(o) for o in d.get("outputs", ())),
                   container=str(d.get("container", "wav")), bit_depth=int(d.get("bit_depth", 0)),
                   mp3_kbps=int(d.get("mp3_kbps", 320)))


BUILTIN_PRESETS: dict[str, ExportChoices] = {
    "Stems 24-bit WAV": ExportChoices(None, (), "wav", 24),
    "Stems 16-bit WAV": ExportChoices(None, (), "wav", 16),
    "Stems FLAC": ExportChoices(None, (), "flac", 0),
    "Stems MP3 320": ExportChoices(None, (), "mp3", 0, 320),
    "Instrumental MP3 320": ExportChoices((), ("instrumental",), "mp3", 0, 320),
    "Instrumental + A cappella 24-bit WAV": ExportChoices((), ("instrumental", "acappella"), "wav", 24),
    "Drumless 24-bit WAV (practice)": ExportChoices((), ("drumless",), "wav", 24),
}


def remembered(settings: Settings) -> ExportChoices:
    """The choices of the last export (defaults: every stem as WAV like the source)."""
    stems_text = settings.get("export_stems")
    stems = None if stems_text == ALL_STEMS else tuple(s for s in stems_text.split(",") if s)
    outputs = tuple(s for s in settings.get("export_outputs").split(",") if s)
    return ExportChoices(stems, outputs, settings.get("export_container"), settings.get("export_bit_depth"),
                         settings.get("export_mp3_kbps"))


def remember(settings: Settings, choices: ExportChoices) -> None:
    settings.set("export_stems", ALL_STEMS if choices.stems is None else ",".join(choices.stems))
    settings.set("export_outputs", ",".join(choices.outputs))
    settings.set("export_container", choices.container)
    settings.set("export_bit_depth", choices.bit_depth)
    settings.set("export_mp3_kbps", choices.mp3_kbps)


def user_presets(settings: Settings) -> dict[str, ExportChoices]:
    """Presets the user saved; a damaged entry is dropped (logged), never an error."""
    try:
        raw = json.loads(settings.get("export_presets") or "{}")
    except ValueError:
        logger.warning("export presets in the settings are not valid JSON; ignored")
        return {}
    presets = {}
    for name, d in (raw.items() if isinstance(raw, dict) else ()):
        try:
            presets[str(name)] = ExportChoices.from_dict(d)
        except (TypeError, ValueError, AttributeError):
            logger.warning("export preset %r in the settings is damaged; ignored", name)
    return presets


def save_user_preset(settings: Settings, name: str, choices: ExportChoices) -> None:
    """Store (or replace) the user preset `name`."""
    presets = user_presets(settings)
    presets[name] = choices
    settings.set("export_presets", json.dumps({k: v.to_dict() for k, v in presets.items()}))


def all_presets(settings: Settings) -> dict[str, ExportChoices]:
    """Built-in presets first, then the user's (a user preset may not hide a built-in one)."""
    out = dict(BUILTIN_PRESETS)
    out.update({k: v for k, v in user_presets(settings).items() if k not in BUILTIN_PRESETS})
    return out
