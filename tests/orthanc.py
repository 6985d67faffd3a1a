"""A real Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) on a free loopback port, with a
temporary storage folder and a generated configuration: for the DICOMweb tests and
bench/dicomweb.py.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "gazecrowd", "orthanc-test-password"
PLUGIN_GLOBS = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                "/usr/lib/orthanc/libOrthancDicomWeb.so*", "/usr/lib/*/orthanc/libOrthancDicomWeb.so*")


def orthanc_missing() -> str | None:
    """Why Orthanc cannot start here (None when it can)."""
    if shutil.which("Orthanc") is None:
        return "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)"
    if dicomweb_plugin() is None:
        return "the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)"
    return None


def dicomweb_plugin() -> str | None:
    for pattern in PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Orthanc:
    url: str  # the REST root
    process: subprocess.Popen

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def upload(self, data: bytes) -> None:
        """Store one DICOM file through Orthanc's REST API (not DICOMweb: the test's setup)."""
        import requests

        response = requests.post(f"{self.url}/instances", data=data, auth=(USER, PASSWORD), timeout=30)
        response.raise_for_status()


@contextlib.contextmanager
def running_orthanc(folder: Path):
    """Start Orthanc with storage in ``folder``; stop it (this process only) afterwards."""
    import requests

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config = {
        "Name": "gazecrowd-tests", "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"), "HttpPort": port, "DicomServerEnabled": False,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD}, "Plugins": [dicomweb_plugin()],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}, "HttpsCACertificates": "",
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "wb")
    process = subprocess.Popen(["Orthanc", str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT,
                               cwd=folder, env={**os.environ, "LANG": "C"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/system", auth=(USER, PASSWORD), timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not start: {(folder / 'orthanc.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield Orthanc(url=url, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _orthanc_fixture(tmp_path_factory):
    import pytest

    reason = orthanc_missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: .ci/run installs it")
        pytest.skip(reason)
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


def orthanc_fixture():
    """A session-scoped ``orthanc`` fixture for a test module: ``orthanc = orthanc_fixture()``."""
    import pytest

    return pytest.fixture(scope="session", name="orthanc")(_orthanc_fixture)
