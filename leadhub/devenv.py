"""Write the development ``.env`` on first run of ``make``: DEBUG on and the development keys.

``make`` runs it as ``python3 leadhub/devenv.py .env`` before the virtualenv exists, so
it uses the standard library only. Keys an earlier ``make run`` generated into
``var/`` are reused, so vendor credentials encrypted with them stay readable. An
existing ``.env`` is never changed. The settings read ``.env`` (the environment wins
over it), so ``python manage.py …`` works as the README prints it, outside ``make run``.
The file is for development: a server sets ``DEBUG=false`` and its own keys.
"""
from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

HEADER = """\
# Written once by `make` for DEVELOPMENT (leadhub/devenv.py); never deploy this file.
# The environment wins over it. A server sets DEBUG=false, SECRET_KEY and FIELD_ENCRYPTION_KEY itself.
"""


def _existing_or_new(path: Path, make) -> str:
    return path.read_text().strip() if path.exists() else make()


def write_env(path: Path) -> bool:
    """Write ``path`` unless it exists; True when written."""
    if path.exists():
        return False
    var_dir = Path(os.environ.get("LEADHUB_VAR_DIR") or path.resolve().parent / "var")
    secret_key = _existing_or_new(var_dir / "secret_key", lambda: secrets.token_urlsafe(50))
    # a Fernet key is 32 random bytes, url-safe base64 (what Fernet.generate_key() returns)
    fernet_key = _existing_or_new(var_dir / "field_encryption_key",
                                  lambda: base64.urlsafe_b64encode(os.urandom(32)).decode())
    body = f"{HEADER}DEBUG=true\nSECRET_KEY={secret_key}\nFIELD_ENCRYPTION_KEY={fernet_key}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(body)
    return True


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
    if write_env(target):
        print(f"Wrote {target} (development: DEBUG=true and generated keys; see README 'Two commands').")
