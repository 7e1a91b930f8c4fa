"""Tests never touch the real user's settings, cache or models (conftest's `temp_home`)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

#: the user's real home from the password database (HOME is the temporary one in tests)
REAL_HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)


def _inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def test_settings_cache_and_models_go_to_the_temporary_home(tmp_path_factory):
    from app.cache import stemdeck_home
    from app.settings import Settings
    from model.model_store import user_models_dir

    temp_home = tmp_path_factory.getbasetemp()   # every test's temporary folders are in here

    real_conf = REAL_HOME / ".config" / "StemDeck" / "StemDeck.conf"
    before = real_conf.stat().st_mtime_ns if real_conf.exists() else None
    settings = Settings()            # the app's own store, as `stemdeck` uses it
    settings.set("quality", "best")
    settings.sync()
    written = settings.qsettings.fileName()
    assert _inside(written, temp_home) and Path(written).is_file()
    assert not _inside(written, REAL_HOME) or _inside(temp_home, REAL_HOME)
    after = real_conf.stat().st_mtime_ns if real_conf.exists() else None
    assert after == before, f"{real_conf} was written by a test"
    assert _inside(stemdeck_home(), temp_home)
    assert _inside(user_models_dir(), temp_home)
    assert _inside(Path.home(), temp_home)
