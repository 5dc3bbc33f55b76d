"""TarSink writes exactly the bytes of tarfile's own GNU stream writer, with the fixed member metadata."""

from __future__ import annotations

import io
import tarfile

import pytest

from pipelines.store.tarfmt import FIXED_MTIME, TarSink, iter_tar_samples, ordered_exts

SAMPLES = [
    ("a", {"jpg": b"\xff\xd8" + bytes(range(256)) * 7, "txt": b"caption", "json": b"{}"}),
    ("k" * 140, {"txt": b"a long key: GNU long-name blocks"}),  # a member name over 100 characters
    ("empty", {"txt": b"", "json": b"x" * 512}),  # an empty member, a member of exactly one block
    ("caf\u00e9", {"txt": "\u00e9t\u00e9".encode()}),
]


def _tarfile_bytes(samples) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for key, files in samples:
            for ext in ordered_exts(files):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size, info.mtime, info.mode = len(files[ext]), FIXED_MTIME, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(files[ext]))
    return buf.getvalue()


@pytest.mark.parametrize("n", [0, 1, len(SAMPLES)])
def test_tarsink_bytes_equal_tarfiles_stream_writer(n):
    buf = io.BytesIO()
    sink = TarSink(buf)
    for key, files in SAMPLES[:n]:
        sink.add(key, files)
    sink.close()
    assert buf.getvalue() == _tarfile_bytes(SAMPLES[:n])
    assert len(buf.getvalue()) % tarfile.RECORDSIZE == 0 and not buf.closed
    assert list(iter_tar_samples(io.BytesIO(buf.getvalue()))) == SAMPLES[:n]


def test_tarsink_refuses_a_key_with_a_dot():
    with pytest.raises(ValueError, match="dot or slash"):
        TarSink(io.BytesIO()).add("a.b", {"txt": b""})
