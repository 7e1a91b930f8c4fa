"""`python -m model.corpus build --out DIR --songs N --seed S [--jobs J] [--resume]`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..errors import StemDeckError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model.corpus",
                                description="StemDeck synthetic multitrack corpus generator (MUSDB18-HQ layout)")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="render songs into OUT/{train,valid,test}/<song>/*.wav + manifest.json")
    b.add_argument("--out", type=Path, required=True, help="corpus folder (created)")
    b.add_argument("--songs", type=int, required=True, help="number of songs (indices 0..N-1)")
    b.add_argument("--seed", type=int, default=0, help="corpus seed: same seed, same songs")
    b.add_argument("--jobs", type=int, default=1, help="parallel worker processes")
    b.add_argument("--resume", action="store_true", help="keep complete songs in OUT, render the rest")
    b.add_argument("--profile", choices=("full", "simple"), default="full",
                   help="'simple': the CORPUS_NOTES baseline recipe (4/4, FluidR3_GM only, GM voice patches, "
                        "no distorted or recorded guitars, EQ-only production, 12-20 s songs)")
    b.add_argument("--min-seconds", type=float, default=None, help="shortest song (s; default 15, simple 12)")
    b.add_argument("--max-seconds", type=float, default=None, help="longest song (s; default 30, simple 20)")
    b.add_argument("--soundfonts", choices=("all", "small"), default="all",
                   help="'small': only TimGM6mb (fast, what tests use)")
    b.add_argument("--valid-every", type=int, default=20,
                   help="1 song in N goes to valid and 1 in N to test (default 20: 90/5/5 %%)")
    b.add_argument("--vocals-source", default=None,
                   help="real-singing WAV for WORLD re-pitching (default: shared vocadito_1.wav; '' = none)")
    b.add_argument("--no-real-audio", action="store_true",
                   help="do not mix the real guitar recordings of Debian's Frets on Fire song packs into 'other'")
    b.add_argument("--bus-compressor", type=float, default=0.0, metavar="SHARE",
                   help="share of songs (0-1) whose whole mix goes through one bus compressor or "
                        "limiter, applied as one gain envelope to every stem (default 0)")
    b.add_argument("--synth-effects", action=argparse.BooleanOptionalAction, default=None,
                   help="fluidsynth's built-in reverb and chorus on soundfont parts, as the fluidsynth "
                        "command line renders by default (default: on for 'simple', off for 'full', "
                        "where pedalboard adds the rooms)")
    b.add_argument("--other-melodies", action=argparse.BooleanOptionalAction, default=None,
                   help="synth leads and mallets in 'other' may play phrased melodies like the vocals' "
                        "(default: on); --no-other-melodies has them play arpeggios, as the "
                        "CORPUS_NOTES corpus's 'other' (pads, comping, arpeggios, strums) did")
    b.add_argument("-v", "--verbose", action="store_true")
    m = sub.add_parser("manifest", help="rewrite OUT/manifest.json from the complete songs and print hours per split "
                                        "(options not given: as OUT was built)")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--songs", type=int, default=None)
    m.add_argument("--seed", type=int, default=None)
    m.add_argument("--soundfonts", choices=("all", "small"), default=None)
    m.add_argument("--valid-every", type=int, default=None)
    m.add_argument("--vocals-source", default=None)
    m.add_argument("--profile", choices=("full", "simple"), default=None)
    m.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from .build import BuildOptions, build, refresh_manifest
    from .profiles import PROFILES

    try:
        if args.command == "manifest":
            refresh_manifest(args.out, progress=lambda msg: print(msg, flush=True), songs=args.songs, seed=args.seed,
                             soundfonts=args.soundfonts, valid_every=args.valid_every,
                             vocals_source=args.vocals_source, profile=args.profile)
            return 0
        if not 0.0 <= args.bus_compressor <= 1.0:
            raise StemDeckError(f"--bus-compressor must be between 0 and 1, not {args.bus_compressor}")
        lo, hi = PROFILES[args.profile].seconds
        opts = BuildOptions(out=args.out, songs=args.songs, seed=args.seed, jobs=max(1, args.jobs), resume=args.resume,
                            min_seconds=lo if args.min_seconds is None else args.min_seconds,
                            max_seconds=hi if args.max_seconds is None else args.max_seconds,
                            soundfonts=args.soundfonts, valid_every=args.valid_every,
                            vocals_source=args.vocals_source, real_audio=not args.no_real_audio, profile=args.profile,
                            bus_compressor=args.bus_compressor, synth_effects=args.synth_effects,
                            other_melodies=args.other_melodies)
        build(opts, progress=lambda msg: print(msg, flush=True))
    except StemDeckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: complete songs are kept; rerun with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
