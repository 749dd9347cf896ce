"""The service's Ed25519 signing key: one file, made on first start, readable by its owner only."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.config import persistence_env

KEY_FILE_ENV = "TIMELINE_KEY_FILE"

logger = logging.getLogger(__name__)


class KeyFileError(RuntimeError):
    """The key file exists but cannot be used; the message says which file and why."""


class KeyFileUnreadable(KeyFileError):
    """The key file could not be read or made: the system said why."""


def key_path(database: str, environ: Mapping[str, str] | None = None) -> Path:
    """`TIMELINE_KEY_FILE`, else `<db>.key` beside a SQLite database, else `./timeline.key`."""
    env = os.environ if environ is None else environ
    configured = env.get(KEY_FILE_ENV)
    if configured:
        return Path(configured)
    settings = persistence_env(database)
    if "SQLITE_DBNAME" in settings:
        return Path(settings["SQLITE_DBNAME"] + ".key")
    return Path("timeline.key")


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _create(path: Path) -> None:
    """Write a new key under a temporary name, then link it in place: the first process wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(_pem(Ed25519PrivateKey.generate()))
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The private key in `path`, created (mode 0600) when the file does not exist yet."""
    try:
        if not path.exists():
            _create(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        data = path.read_bytes()
    except OSError as error:
        raise KeyFileUnreadable(f"signing key {path}: {error.strerror or error}") from None
    if mode & 0o077:
        logger.warning("signing key %s is readable by others (mode %o); chmod 600 it", path, mode)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise KeyFileError(f"{path} holds no unencrypted PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


class Signer:
    """Signs checkpoints with the private key; exposes only the public half."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of `message`."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"Signer(public_key={self.public_key.hex()})"


def check_key(path: Path) -> None:
    """Refuse a key file that is there but cannot be used (`KeyFileError`): said when a server
    starts, not at its first checkpoint. A missing one is made when first needed."""
    if path.exists() or path.is_symlink():
        load_or_create_key(path)


_signers: dict[Path, Signer] = {}
_signers_lock = threading.Lock()


def signer_for(database: str, key_file: Path | None = None) -> Signer:
    """The signer of a database's checkpoints, its key loaded (or made) once per process."""
    path = (key_file or key_path(database)).resolve()
    with _signers_lock:
        if path not in _signers:
            _signers[path] = Signer(load_or_create_key(path))
        return _signers[path]
