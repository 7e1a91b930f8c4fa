"""Smoke test of the frozen Linux build: does the tarball a user downloads work on this machine?

    python packaging/smoke_test.py [dist/StemDeck-<version>-linux-x86_64.tar.gz] [--keep]

Run with the project's environment (it writes the test audio with numpy/soundfile); the frozen
program itself runs with a clean environment in a temporary HOME, from a temporary folder, so
it cannot lean on the source tree. Steps, each printing one line with its time:

1. unpack the tarball into a temporary folder;
2. `stemdeck --self-test` with Qt's offscreen platform (no display), then under Xvfb (the xcb
   platform plugin and the host's X libraries), each ending in SELFTEST OK, with PortAudio loaded
   from inside the bundle;
3. `stemdeck separate` on a generated 10 s song at 48 kHz, headless: 4 stems, each exactly as
   long as the song, at its rate;
4. a 2-step training run through the hidden child mode the Train tab uses
   (`stemdeck --child-python -m model.cli train ... --workers 2`): DataLoader workers, frozen;
5. `ldd` on the Qt xcb platform plugin: no library "not found";
6. the highest GLIBC symbol version any ELF file in the bundle needs (the oldest glibc it can run on).

Exit status 0 when every step passed; the first failure stops the test with its output.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

SONG_SECONDS = 10
SONG_RATE = 48_000


class SmokeFailure(Exception):
    pass


def clean_env(home: Path, display: bool = False) -> dict[str, str]:
    """What a desktop session would give the program: PATH, HOME, locale; no Python variables."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "XDG_RUNTIME_DIR": str(home / "runtime")}
    (home / "runtime").mkdir(mode=0o700, parents=True, exist_ok=True)
    if not display:
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SmokeFailure(f"{' '.join(cmd[:4])} ... exited with {done.returncode}\n"
                           f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")
    return done


def step(name: str, func, *args):
    start = time.monotonic()
    detail = func(*args)
    print(f"ok   {name} ({time.monotonic() - start:.1f} s){': ' + detail if detail else ''}", flush=True)
    return detail


def unpack(tarball: Path, into: Path) -> Path:
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(into)], check=True)
    folders = [p for p in into.iterdir() if p.is_dir()]
    if len(folders) != 1 or not (folders[0] / "stemdeck").is_file():
        raise SmokeFailure(f"{tarball.name} should hold one folder with the stemdeck program, holds {folders}")
    size = sum(p.stat().st_size for p in folders[0].rglob("*") if p.is_file() and not p.is_symlink())
    return folders[0], f"{folders[0].name}, {size / 2**20:.0f} MiB unpacked"


def self_test(app: Path, home: Path, work: Path, xvfb: bool) -> str:
    env = clean_env(home, display=xvfb)
    cmd = [str(app / "stemdeck"), "--self-test"]
    if xvfb:
        if shutil.which("xvfb-run") is None:
            raise SmokeFailure("xvfb-run is not installed (Debian: apt-get install xvfb xauth)")
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", *cmd]
    out = run(cmd, env, work, timeout=300).stdout
    lines = out.splitlines()
    if not lines or lines[-1] != "SELFTEST OK":
        raise SmokeFailure(f"self-test did not end in SELFTEST OK:\n{out}")
    platform = re.search(r"Qt platform '(\w+)'", out)
    want = "xcb" if xvfb else "offscreen"
    if not platform or platform.group(1) != want:
        raise SmokeFailure(f"expected the {want} Qt platform:\n{out}")
    library = re.search(r"library (\S+)", out)
    if not library or not library.group(1).startswith(str(app)):
        raise SmokeFailure(f"PortAudio was not loaded from the bundle:\n{out}")
    return f"SELFTEST OK on '{want}', {len(lines) - 1} checks"


def separate(app: Path, home: Path, work: Path) -> str:
    import soundfile as sf
    from gui_fixtures import make_song

    song = make_song(work / "ten seconds.wav", seconds=SONG_SECONDS, samplerate=SONG_RATE)
    frames = sf.info(song).frames
    run([str(app / "stemdeck"), "separate", str(song), "-o", str(work / "stems")], clean_env(home), work)
    files = sorted((work / "stems").rglob("*.wav"))
    names = sorted(p.stem for p in files)
    if names != ["bass", "drums", "other", "vocals"]:
        raise SmokeFailure(f"expected 4 stems, got {[str(p) for p in files]}")
    for path in files:
        info = sf.info(path)
        if info.frames != frames or info.samplerate != SONG_RATE:
            raise SmokeFailure(f"{path.name}: {info.frames} frames at {info.samplerate} Hz, "
                               f"the song has {frames} at {SONG_RATE}")
    return f"4 stems of {frames} frames at {SONG_RATE} Hz"


def train(app: Path, home: Path, work: Path) -> str:
    from train_fixtures import make_musdb_hq

    data = make_musdb_hq(work / "dataset", n_train=3, n_valid=1, n_test=0, seconds=2.0)
    out = work / "run"
    run([str(app / "stemdeck"), "--child-python", "-m", "model.cli", "train", "--data", str(data),
         "--out", str(out), "--from", "scratch", "--tiny", "--steps", "2", "--batch", "2",
         "--segment", "0.5", "--workers", "2", "--validate-every", "0", "--progress", "json",
         "--name", "smoke"], clean_env(home), work)
    if not (out / "smoke.safetensors").is_file():
        raise SmokeFailure(f"training ended without {out / 'smoke.safetensors'}")
    return "2 steps with 2 DataLoader workers, model written"


def ldd_xcb(app: Path) -> str:
    plugins = list(app.rglob("platforms/libqxcb.so"))
    if not plugins:
        raise SmokeFailure("no Qt xcb platform plugin in the bundle")
    out = subprocess.run(["ldd", str(plugins[0])], capture_output=True, text=True, check=True).stdout
    missing = [line.strip() for line in out.splitlines() if "not found" in line]
    if missing:
        raise SmokeFailure(f"{plugins[0]} misses: {missing}")
    host = sorted({Path(m).name for m in re.findall(r"=> (/\S+)", out) if not m.startswith(str(app))})
    return f"no missing libraries; from the host: {', '.join(host)}"


def glibc_needed(app: Path) -> str:
    versions: dict[tuple[int, ...], str] = {}
    for path in app.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as fh:
            if fh.read(4) != b"\x7fELF":
                continue
        out = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True).stdout
        for v in set(re.findall(r"GLIBC_(\d+(?:\.\d+)+)", out)):
            key = tuple(int(x) for x in v.split("."))
            versions.setdefault(key, path.relative_to(app).as_posix())
    if not versions:
        raise SmokeFailure("no GLIBC symbol versions found (objdump missing?)")
    top = max(versions)
    return f"needs GLIBC_{'.'.join(map(str, top))} (first seen in {versions[top]})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", nargs="?", type=Path, help="default: the newest dist/StemDeck-*-linux-*.tar.gz")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    args = parser.parse_args(argv)
    tarball = args.tarball
    if tarball is None:
        found = sorted((ROOT / "dist").glob("StemDeck-*-linux-*.tar.gz"), key=lambda p: p.stat().st_mtime)
        if not found:
            print("smoke_test: no dist/StemDeck-*-linux-*.tar.gz; build it with bash packaging/build_frozen.sh",
                  file=sys.stderr)
            return 2
        tarball = found[-1]
    start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="stemdeck-smoke-"))
    try:
        unpacked, work, home = tmp / "unpacked", tmp / "work", tmp / "home"
        for folder in (unpacked, work, home):
            folder.mkdir()
        print(f"smoke test of {tarball} ({tarball.stat().st_size / 2**20:.0f} MiB packed)", flush=True)
        t0 = time.monotonic()
        app, detail = unpack(tarball, unpacked)
        print(f"ok   unpack ({time.monotonic() - t0:.1f} s): {detail}", flush=True)
        step("self-test offscreen", self_test, app, home, work, False)
        step("self-test under Xvfb", self_test, app, home, work, True)
        step("separate 10 s headless", separate, app, home, work)
        step("train through the hidden child mode", train, app, home, work)
        step("ldd Qt xcb plugin", ldd_xcb, app)
        step("GLIBC", glibc_needed, app)
    except SmokeFailure as exc:
        print(f"FAIL {exc}", flush=True)
        print(f"SMOKE FAILED after {time.monotonic() - start:.0f} s", flush=True)
        return 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"SMOKE OK in {time.monotonic() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
