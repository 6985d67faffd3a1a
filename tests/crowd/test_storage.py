"""Media storage goes through storage.open/save only: it works the same without a local path."""

import io

import numpy as np
import pytest
from django.core.files.storage import default_storage

from crowd import storage


@pytest.fixture
def stored(media_and_no_hooks):
    array = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    return storage.save_unique("t", "a.npy", storage.npy_bytes(array)), array


def test_a_local_file_is_memory_mapped(stored):
    name, array = stored
    loaded = storage.load_npy(name, mmap=True)
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, array)


def test_storage_without_a_file_descriptor_reads_the_bytes(stored, monkeypatch):
    # Object storage (S3...) hands out a stream with no descriptor and has no .path at all.
    name, array = stored
    data = storage.read_bytes(name)
    monkeypatch.setattr(default_storage, "open", lambda *_args, **_kwargs: io.BytesIO(data))
    monkeypatch.setattr(default_storage, "path", None)
    loaded = storage.load_npy(name, mmap=True)
    assert not isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, array)


def test_save_bytes_replaces_and_delete_removes(media_and_no_hooks):
    name = storage.save_bytes("t/x.bin", b"one")
    assert storage.save_bytes("t/x.bin", b"two") == name
    assert storage.read_bytes(name) == b"two"
    storage.delete([name, ""])
    assert not storage.exists(name)
