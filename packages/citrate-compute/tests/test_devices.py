"""Device backends: NVML where a GPU answers (not on this machine: no NVIDIA driver), else the CPU.

NVML's absence here is real: `nvidia-ml-py` is installed but `libnvidia-ml.so.1` is not.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from citrate_compute.devices import CpuBackend, Device, NvmlBackend, Telemetry, detect_devices
from citrate_compute.errors import ComputeError, NvmlUnavailable, UnknownDevice


def _nvml_missing() -> bool:
    try:
        NvmlBackend().close()
    except NvmlUnavailable:
        return True
    return False


NVML_MISSING = _nvml_missing()
needs_no_nvml = pytest.mark.skipif(not NVML_MISSING, reason="this machine has a working NVML")


@needs_no_nvml
def test_nvml_missing_is_a_clear_error() -> None:
    with pytest.raises(NvmlUnavailable) as info:
        NvmlBackend()
    assert "NVML library (libnvidia-ml.so.1) is not on this machine" in info.value.message
    assert info.value.hint is not None and "NVIDIA driver" in info.value.hint
    assert "hint: " in str(info.value)


@needs_no_nvml
def test_detect_devices_falls_back_to_the_cpu_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="citrate_compute.devices"):
        backend = detect_devices()
    assert isinstance(backend, CpuBackend)
    assert [d.id for d in backend.devices()] == ["cpu0"]
    assert backend.describe()["fallback_reason"].startswith("the NVML library")
    assert "no GPU through NVML" in caplog.text
    assert "lending the CPU device cpu0 instead" in caplog.text


@needs_no_nvml
def test_asking_for_nvml_does_not_fall_back() -> None:
    with pytest.raises(NvmlUnavailable):
        detect_devices("nvml")


def test_detect_devices_rejects_unknown_backends() -> None:
    with pytest.raises(ValueError, match="unknown device backend `tpu`"):
        detect_devices("tpu")  # type: ignore[arg-type]


def _proc_value(name: str, key: str) -> str:
    for line in Path(f"/proc/{name}").read_text().splitlines():
        field, _, value = line.partition(":")
        if field.strip() == key:
            return value.strip()
    raise AssertionError(f"no {key} in /proc/{name}")


def test_the_cpu_device_is_a_cpu_never_a_gpu() -> None:
    backend = CpuBackend()
    (device,) = backend.devices()
    assert device.id == "cpu0"
    assert device.kind == "cpu"
    assert device.name == _proc_value("cpuinfo", "model name")
    assert device.total_memory == int(_proc_value("meminfo", "MemTotal").split()[0]) * 1024
    assert device.power_limit_w is None
    assert detect_devices("cpu").devices()[0].kind == "cpu"


def test_cpu_telemetry_reports_what_exists_and_invents_nothing() -> None:
    backend = CpuBackend()
    reading = backend.telemetry("cpu0")
    assert reading.power_w is None
    assert reading.utilization is not None and 0.0 <= reading.utilization <= 1.0
    assert reading.memory_used is not None
    assert 0 < reading.memory_used <= backend.devices()[0].total_memory
    zones = list(Path("/sys/class/thermal").glob("thermal_zone*/temp"))
    hwmon = list(Path("/sys/class/hwmon").glob("hwmon*/temp*_input"))
    if not zones and not hwmon:
        assert reading.temperature_c is None  # this VM has no sensor: none is made up
    second = backend.telemetry("cpu0")  # the utilisation is a delta from the first reading
    assert second.utilization is None or 0.0 <= second.utilization <= 1.0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cpu_temperature_prefers_the_package_zone(tmp_path: Path) -> None:
    # A sysfs tree captured from a laptop: an ACPI zone and the CPU package zone.
    _write(tmp_path / "class/thermal/thermal_zone0/type", "acpitz\n")
    _write(tmp_path / "class/thermal/thermal_zone0/temp", "91000\n")
    _write(tmp_path / "class/thermal/thermal_zone1/type", "x86_pkg_temp\n")
    _write(tmp_path / "class/thermal/thermal_zone1/temp", "64500\n")
    backend = CpuBackend(sys=tmp_path)
    assert backend.telemetry("cpu0").temperature_c == 64.5


def test_cpu_temperature_from_hwmon_prefers_cpu_chips(tmp_path: Path) -> None:
    _write(tmp_path / "class/hwmon/hwmon0/name", "nvme\n")
    _write(tmp_path / "class/hwmon/hwmon0/temp1_input", "70000\n")
    _write(tmp_path / "class/hwmon/hwmon1/name", "k10temp\n")
    _write(tmp_path / "class/hwmon/hwmon1/temp1_input", "55250\n")
    _write(tmp_path / "class/hwmon/hwmon1/temp3_input", "58000\n")
    backend = CpuBackend(sys=tmp_path)
    assert backend.telemetry("cpu0").temperature_c == 58.0


def test_cpu_backend_reads_a_captured_proc(tmp_path: Path) -> None:
    _write(tmp_path / "cpuinfo", "processor\t: 0\nmodel name\t: Test CPU 9000\n")
    _write(tmp_path / "meminfo", "MemTotal:       2048 kB\nMemAvailable:   1024 kB\n")
    _write(tmp_path / "stat", "cpu  100 0 100 800 0 0 0 0 0 0\n")
    backend = CpuBackend(proc=tmp_path, sys=tmp_path)
    assert backend.devices() == [Device("cpu0", "cpu", "Test CPU 9000", 2048 * 1024, None)]
    reading = backend.telemetry("cpu0")
    assert reading == Telemetry(None, None, pytest.approx(0.2), 1024 * 1024)  # 200 busy of 1000


def test_unknown_device_ids_are_refused() -> None:
    backend = CpuBackend()
    for bad in ("gpu0", "cpu1", "cpu", ""):
        with pytest.raises(UnknownDevice, match="hint: devices: cpu0"):
            backend.telemetry(bad)


def test_compute_errors_survive_pickling_with_their_hint() -> None:
    # Ray ships errors between processes by pickle.
    error = NvmlUnavailable("no driver", hint="install it")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object, round-tripped
    assert type(copy) is NvmlUnavailable
    assert (copy.message, copy.hint, str(copy)) == ("no driver", "install it", str(error))
    assert isinstance(copy, ComputeError)
