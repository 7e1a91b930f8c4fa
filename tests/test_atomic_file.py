import pytest

from model.atomic_file import atomic_write, atomic_write_text


def test_replaces_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "card.json"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_failure_midway_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"previous checkpoint")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "wb") as handle:
            handle.write(b"half of a new one")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"previous checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_new_files_follow_the_umask_not_mkstemps_0600(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        target = atomic_write_text(tmp_path / "stem.json", "{}")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644
