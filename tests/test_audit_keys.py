"""The signing key: where it lives, made once with owner-only permissions, never shown."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.audit.keys import KeyFileError, Signer, key_path, load_or_create_key, signer_for


def test_key_of_a_sqlite_database_sits_next_to_its_file() -> None:
    assert key_path("sqlite:////srv/data/timeline.db", {}) == Path("/srv/data/timeline.db.key")
    assert key_path("sqlite:///timeline.db", {}) == Path("timeline.db.key")


def test_key_of_a_postgresql_database_is_in_the_working_directory() -> None:
    assert key_path("postgresql://tl@db:5432/timeline", {}) == Path("timeline.key")


def test_key_file_setting_wins_over_the_default() -> None:
    environ = {"TIMELINE_KEY_FILE": "/run/secrets/timeline.key"}
    assert key_path("sqlite:///timeline.db", environ) == Path("/run/secrets/timeline.key")


def test_key_is_made_on_first_use_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "timeline.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert Signer(load_or_create_key(path)).public_key == Signer(key).public_key
    assert [p.name for p in path.parent.iterdir()] == ["timeline.key"]  # no temporary left


def test_processes_starting_together_end_up_with_one_key(tmp_path: Path) -> None:
    path = tmp_path / "timeline.key"
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: Signer(load_or_create_key(path)).public_key, range(16)))
    assert len(set(keys)) == 1


def test_file_without_a_key_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.key"
    path.write_text("not a key")
    with pytest.raises(KeyFileError, match=r"broken\.key"):
        load_or_create_key(path)


def test_key_of_another_algorithm_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.key"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        load_or_create_key(path)


def test_signer_shows_only_its_public_key(tmp_path: Path) -> None:
    signer = Signer(load_or_create_key(tmp_path / "timeline.key"))
    assert repr(signer) == f"Signer(public_key={signer.public_key.hex()})"
    assert len(signer.public_key) == 32


def test_signer_of_a_database_follows_the_key_file_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIMELINE_KEY_FILE", str(tmp_path / "configured.key"))
    signer = signer_for(f"sqlite:///{tmp_path}/timeline.db")
    assert (tmp_path / "configured.key").exists() and not (tmp_path / "timeline.db.key").exists()
    assert signer is signer_for(f"sqlite:///{tmp_path}/timeline.db")
