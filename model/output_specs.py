"""Combined outputs: signed sums of stems, the mixture and the residual.

An `OutputSpec` is a name and terms `((source, weight), ...)` where source is a stem name,
"mixture" (the input song) or "residual" (mixture minus the sum of all stems: whatever the
model assigned to no stem). `parse_output_spec` reads the text form used by the CLI and settings:

    instrumental                 a preset name (see PRESETS)
    minus_drums / no_drums       mix-minus (mixture - drums) / sum of the other stems
    name=drums+bass              explicit; weights allowed: "karaoke=mixture-0.8*vocals"

Presets and the mix-minus choice
--------------------------------
"Everything except X" can be built two ways (Demucs `--other-method minus|add`):
- mix-minus: mixture - X.  Together with X it adds back to the original exactly (null test),
  and it keeps what no stem claimed (reverb tails, FX, the residual). What the model missed of X
  stays in it.
- sum of others: the other stems added.  It also loses the residual and adds every stem's
  artefacts; it equals mix-minus only when the stems sum to the mixture.
Producers expect an instrumental that, played with the a cappella, *is* the song (Logic's stem
splitter makes that promise; Demucs-GUI recommends mix-minus), so every "without X" preset here is
mix-minus: instrumental = mixture - vocals, drumless = mixture - drums, bassless = mixture - bass.
The sum-of-others variants stay one word away (`no_vocals`, `others_spec("vocals")`).
When the separation ran with an exact-sum constraint both give the same signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from .config import SOURCES
from .errors import StemDeckError

#: Names a term may use besides the stems.
MIXTURE = "mixture"
RESIDUAL = "residual"


class OutputSpecError(StemDeckError, ValueError):
    """A combined-output description names an unknown stem or cannot be parsed."""


@dataclass(frozen=True)
class OutputSpec:
    """One exported signal: `sum(weight * signal[source] for source, weight in terms)`."""

    name: str
    terms: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", tuple((str(s), float(w)) for s, w in self.terms))
        if not self.name or not self.name.strip():
            raise OutputSpecError("an output needs a name")
        if not self.terms:
            raise OutputSpecError(f"output '{self.name}' has no terms")

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(s for s, _ in self.terms)

    def to_text(self) -> str:
        """The spec in `parse_output_spec` syntax (round-trips)."""
        parts = []
        for i, (src, w) in enumerate(self.terms):
            sign = "-" if w < 0 else ("+" if i else "")
            mag = abs(w)
            parts.append(f"{sign}{src}" if mag == 1.0 else f"{sign}{mag:g}*{src}")
        return f"{self.name}=" + "".join(parts)


def minus_spec(stem: str) -> OutputSpec:
    """`minus_<stem>` = mixture - stem (mix-minus; adds back to the original with the stem)."""
    return OutputSpec(f"minus_{stem}", ((MIXTURE, 1.0), (stem, -1.0)))


def others_spec(stem: str, sources: Iterable[str] = SOURCES) -> OutputSpec:
    """`no_<stem>` = the sum of every other stem (Demucs' `--other-method add`)."""
    rest = tuple((s, 1.0) for s in sources if s != stem)
    if len(rest) == len(tuple(sources)):
        raise OutputSpecError(f"unknown stem '{stem}' (known: {', '.join(sources)})")
    return OutputSpec(f"no_{stem}", rest)


#: Ready-made combinations (mix-minus; see the module docstring for why).
PRESETS: dict[str, OutputSpec] = {
    "instrumental": OutputSpec("instrumental", ((MIXTURE, 1.0), ("vocals", -1.0))),
    "acappella": OutputSpec("acappella", (("vocals", 1.0),)),
    "drumless": OutputSpec("drumless", ((MIXTURE, 1.0), ("drums", -1.0))),
    "bassless": OutputSpec("bassless", ((MIXTURE, 1.0), ("bass", -1.0))),
    "residual": OutputSpec("residual", ((RESIDUAL, 1.0),)),
}

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .\-]*$")
_TERM_RE = re.compile(r"\s*([+-]?)\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*")


def parse_output_spec(text: str, sources: Iterable[str] = SOURCES) -> OutputSpec:
    """Parse `"name=a+b-0.5*c"`, a preset name, `minus_<stem>` or `no_<stem>`.

    Term names must be one of `sources`, "mixture" or "residual". Raises OutputSpecError with a
    message that says what is wrong and what is allowed.
    """
    sources = tuple(sources)
    known = sources + (MIXTURE, RESIDUAL)
    raw = (text or "").strip()
    if not raw:
        raise OutputSpecError("empty output description (expected e.g. 'instrumental' or 'name=drums+bass')")
    if "=" not in raw:
        key = raw.lower()
        if key in PRESETS:
            spec = PRESETS[key]
            _check_names(spec, known, raw)
            return spec
        for prefix, build in (("minus_", minus_spec), ("no_", lambda s: others_spec(s, sources))):
            if key.startswith(prefix):
                stem = key[len(prefix):]
                if stem not in sources:
                    raise OutputSpecError(f"'{raw}': unknown stem '{stem}' (known stems: {', '.join(sources)})")
                return build(stem)
        raise OutputSpecError(
            f"'{raw}' is not a preset ({', '.join(PRESETS)}) and has no '=': write it as NAME=EXPRESSION, "
            "e.g. 'drums_and_bass=drums+bass'"
        )
    name, expr = (part.strip() for part in raw.split("=", 1))
    if not name or not _NAME_RE.match(name):
        raise OutputSpecError(f"'{raw}': the output name '{name}' must start with a letter or digit and use letters, digits, _ - . or spaces")
    terms: list[tuple[str, float]] = []
    pos = 0
    expr_clean = expr.strip()
    if not expr_clean:
        raise OutputSpecError(f"'{raw}': nothing after '='")
    while pos < len(expr_clean):
        m = _TERM_RE.match(expr_clean, pos)
        if not m or m.end() == pos:
            raise OutputSpecError(f"'{raw}': cannot read the expression at '{expr_clean[pos:]}' (use e.g. drums+bass-0.5*vocals)")
        sign, num, src = m.groups()
        if terms and not sign:
            raise OutputSpecError(f"'{raw}': missing '+' or '-' before '{src}'")
        weight = float(num) if num else 1.0
        terms.append((src.lower(), -weight if sign == "-" else weight))
        pos = m.end()
    spec = OutputSpec(name, tuple(terms))
    _check_names(spec, known, raw)
    return spec


def _check_names(spec: OutputSpec, known: tuple[str, ...], raw: str) -> None:
    unknown = [s for s in spec.sources if s not in known]
    if unknown:
        raise OutputSpecError(
            f"'{raw}': unknown stem '{unknown[0]}' (known: {', '.join(known)})"
        )


def render_outputs(
    stems: Mapping[str, np.ndarray],
    mixture: np.ndarray | None,
    specs: Iterable[OutputSpec],
) -> dict[str, np.ndarray]:
    """Evaluate each spec on `(channels, frames)` signals; returns name -> float32 `(C, N)`.

    "residual" is `mixture - sum(stems.values())`, computed once. The inputs are not modified.
    """
    out: dict[str, np.ndarray] = {}
    cache: dict[str, np.ndarray] = {}
    for spec in specs:
        if spec.name in out:
            raise OutputSpecError(f"two outputs are both called '{spec.name}'")
        out[spec.name] = render_one(spec, stems, mixture, cache)
    return out


def render_one(
    spec: OutputSpec,
    stems: Mapping[str, np.ndarray],
    mixture: np.ndarray | None,
    cache: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Evaluate one spec (see `render_outputs`); `cache` keeps the residual between calls."""
    cache = {} if cache is None else cache
    shape = _common_shape(stems, mixture)
    acc = np.zeros(shape, dtype=np.float32)
    for src, weight in spec.terms:
        signal = _signal(src, stems, mixture, cache, spec.name)
        if weight == 1.0:
            acc += signal
        elif weight == -1.0:
            acc -= signal
        else:
            acc += np.float32(weight) * signal
    return acc


def _signal(src: str, stems, mixture, cache: dict, output: str) -> np.ndarray:
    if src == MIXTURE:
        if mixture is None:
            raise OutputSpecError(f"output '{output}' needs the mixture, but none was given")
        return mixture
    if src == RESIDUAL:
        if RESIDUAL not in cache:
            if mixture is None:
                raise OutputSpecError(f"output '{output}' needs the mixture for the residual, but none was given")
            res = np.array(mixture, dtype=np.float32, copy=True)
            for stem in stems.values():
                res -= stem
            cache[RESIDUAL] = res
        return cache[RESIDUAL]
    if src not in stems:
        raise OutputSpecError(f"output '{output}' uses the stem '{src}', which this model does not produce (has: {', '.join(stems)})")
    return stems[src]


def _common_shape(stems: Mapping[str, np.ndarray], mixture: np.ndarray | None) -> tuple[int, int]:
    shapes = {name: tuple(a.shape) for name, a in stems.items()}
    if mixture is not None:
        shapes[MIXTURE] = tuple(mixture.shape)
    distinct = set(shapes.values())
    if len(distinct) != 1:
        raise ValueError(f"stems and mixture must all have the same (channels, frames) shape, got {shapes}")
    shape = distinct.pop()
    if len(shape) != 2:
        raise ValueError(f"signals must be (channels, frames), got {shape}")
    return shape  # type: ignore[return-value]
