"""The devices a provider lends, and their telemetry.

`NvmlBackend` reads NVIDIA GPUs through NVML (`nvidia-ml-py`, imported when first used);
`CpuBackend` presents the machine's CPU as one device, `cpu0`, so the whole package runs on
machines without a GPU. A CPU is never reported as a GPU: its kind is `"cpu"` and its power is
unknown (`None`), not made up. `detect_devices()` picks NVML when a GPU answers and otherwise
falls back to the CPU, logging why.

Every NVML failure becomes a `DeviceError`: `NvmlUnavailable` when the library is missing or does
not initialise, `NvmlError` when a call fails later (the resource manager then holds the device:
see `resources.py`).
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import DeviceError, NvmlError, NvmlUnavailable, UnknownDevice

__all__ = [
    "CpuBackend",
    "Device",
    "DeviceBackend",
    "NvmlBackend",
    "Telemetry",
    "detect_devices",
]

log = logging.getLogger(__name__)

DeviceKind = Literal["gpu", "cpu"]


@dataclass(frozen=True)
class Device:
    """One device this provider can lend.

    Attributes:
        id: `gpu0`, `gpu1`, ... (NVML index) or `cpu0`; the scheduler's node id.
        kind: `"gpu"` or `"cpu"`.
        name: the model name the driver or `/proc/cpuinfo` reports.
        total_memory: bytes (the GPU's memory, or the machine's RAM for the CPU device).
        power_limit_w: the board's enforced power limit in watts; `None` when unknown (CPU).
    """

    id: str
    kind: DeviceKind
    name: str
    total_memory: int
    power_limit_w: float | None = None


@dataclass(frozen=True)
class Telemetry:
    """One reading of a device. Fields a device does not report are `None`, never guessed.

    Attributes:
        temperature_c: degrees Celsius.
        power_w: current draw in watts.
        utilization: 0.0-1.0 busy share since the previous reading (CPU) or NVML's sample.
        memory_used: bytes in use on the device (RAM in use for the CPU device).
    """

    temperature_c: float | None = None
    power_w: float | None = None
    utilization: float | None = None
    memory_used: int | None = None


class DeviceBackend(ABC):
    """Lists devices and reads their telemetry."""

    name: str = "backend"

    @abstractmethod
    def devices(self) -> list[Device]:
        """The devices, in a stable order."""

    @abstractmethod
    def telemetry(self, device_id: str) -> Telemetry:
        """A fresh reading of `device_id`.

        Raises:
            UnknownDevice: no such device here.
            DeviceError: the reading failed (for NVML: `NvmlError`).
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release the backend's resources (NVML's handle)."""

    def describe(self) -> dict[str, Any]:
        """What the backend is, for status displays."""
        return {"backend": self.name}


# --- NVML ---------------------------------------------------------------------------------------


def _nvml_message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("\n", " ")[:200]


class NvmlBackend(DeviceBackend):
    """NVIDIA GPUs through NVML. Raises `NvmlUnavailable` when there is no usable NVML.

    Telemetry that a board does not support (NVML's `NotSupported`, e.g. power on some
    laptops) is `None`; any other NVML failure raises `NvmlError`.
    """

    name = "nvml"

    def __init__(self) -> None:
        try:
            import pynvml  # type: ignore[import-untyped]  # lazy: it loads a C library
        except ImportError as exc:
            raise NvmlUnavailable(
                "nvidia-ml-py is not installed, so GPUs cannot be read",
                hint="pip install nvidia-ml-py (citrate-compute depends on it), or use the CPU",
            ) from exc
        self._nvml: Any = pynvml
        self._lock = threading.Lock()
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError_LibraryNotFound as exc:
            raise NvmlUnavailable(
                "the NVML library (libnvidia-ml.so.1) is not on this machine: no NVIDIA driver",
                hint="install the NVIDIA driver to lend a GPU; without it the CPU device is used",
            ) from exc
        except pynvml.NVMLError as exc:
            raise NvmlUnavailable(
                f"NVML did not initialise: {_nvml_message(exc)}",
                hint="check the NVIDIA driver (`nvidia-smi` must work); the CPU device is used",
            ) from exc
        self._closed = False
        try:
            count = int(pynvml.nvmlDeviceGetCount())
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._devices = [self._describe_device(i, h) for i, h in enumerate(self._handles)]
        except pynvml.NVMLError as exc:
            self.close()
            raise NvmlUnavailable(
                f"NVML initialised but listing GPUs failed: {_nvml_message(exc)}",
                hint="check the NVIDIA driver (`nvidia-smi` must work)",
            ) from exc
        if not self._devices:
            self.close()
            raise NvmlUnavailable(
                "NVML found no NVIDIA GPU", hint="without a GPU the CPU device is used"
            )

    def _optional(self, call: Any, *args: Any) -> Any:
        """`call(*args)`, or None when the board does not support it."""
        try:
            return call(*args)
        except self._nvml.NVMLError_NotSupported:
            return None

    def _describe_device(self, index: int, handle: Any) -> Device:
        nvml = self._nvml
        name = nvml.nvmlDeviceGetName(handle)
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        limit_mw = self._optional(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        return Device(
            id=f"gpu{index}",
            kind="gpu",
            name=str(name),
            total_memory=int(memory.total),
            power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
        )

    def devices(self) -> list[Device]:
        return list(self._devices)

    def telemetry(self, device_id: str) -> Telemetry:
        index = _index_of(device_id, "gpu", len(self._devices))
        nvml = self._nvml
        with self._lock:
            if self._closed:
                raise NvmlError("NVML was shut down", hint="create a new backend")
            handle = self._handles[index]
            try:
                temperature = self._optional(
                    nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU
                )
                power_mw = self._optional(nvml.nvmlDeviceGetPowerUsage, handle)
                rates = self._optional(nvml.nvmlDeviceGetUtilizationRates, handle)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            except nvml.NVMLError as exc:
                raise NvmlError(
                    f"reading {device_id} through NVML failed: {_nvml_message(exc)}",
                    hint="the device is held (no new jobs) until NVML answers again; "
                    "check `nvidia-smi` and the kernel log",
                ) from exc
        return Telemetry(
            temperature_c=None if temperature is None else float(temperature),
            power_w=None if power_mw is None else power_mw / 1000.0,
            utilization=None if rates is None else rates.gpu / 100.0,
            memory_used=int(memory.used),
        )

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError as exc:  # already gone: nothing left to release
                log.debug("nvmlShutdown failed: %s", _nvml_message(exc))


def _index_of(device_id: str, prefix: str, count: int) -> int:
    if device_id.startswith(prefix) and device_id[len(prefix) :].isdigit():
        index = int(device_id[len(prefix) :])
        if index < count:
            return index
    known = ", ".join(f"{prefix}{i}" for i in range(count))
    raise UnknownDevice(f"no device `{device_id}` here", hint=f"devices: {known}")


# --- CPU ----------------------------------------------------------------------------------------


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _meminfo(proc: Path) -> dict[str, int]:
    """/proc/meminfo as bytes per field."""
    values: dict[str, int] = {}
    for line in (_read_text(proc / "meminfo") or "").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            unit = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
            values[key.strip()] = int(parts[0]) * unit
    return values


class CpuBackend(DeviceBackend):
    """The machine's CPU as one device, `cpu0` (kind `"cpu"`).

    Temperature comes from `/sys/class/thermal` (a CPU package zone if one is named, else the
    hottest zone) or `/sys/class/hwmon` (coretemp/k10temp/zenpower first); `None` when neither
    exists, as in most VMs. Power is `None`: no portable source, and none is invented.

    Args:
        proc: the procfs mount (tests point it elsewhere only to read a captured tree).
        sys: the sysfs mount.
        reason: why the CPU backend is used instead of NVML (shown in `describe()`).
    """

    name = "cpu"

    def __init__(
        self, *, proc: Path = Path("/proc"), sys: Path = Path("/sys"), reason: str | None = None
    ) -> None:
        self._proc = proc
        self._sys = sys
        self.reason = reason
        self._lock = threading.Lock()
        self._last_stat: tuple[int, int] | None = None
        self._device = Device(
            id="cpu0",
            kind="cpu",
            name=self._cpu_name(),
            total_memory=self._total_memory(),
            power_limit_w=None,
        )

    def _cpu_name(self) -> str:
        for line in (_read_text(self._proc / "cpuinfo") or "").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "Processor", "cpu model") and value:
                return value.strip()
        return platform.processor() or platform.machine() or "CPU"

    def _total_memory(self) -> int:
        total = _meminfo(self._proc).get("MemTotal")
        if total:
            return total
        try:
            return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError) as exc:
            raise DeviceError(
                "cannot read the machine's memory size (/proc/meminfo, sysconf)",
                hint="mount /proc, or run on a system that reports physical pages",
            ) from exc

    def devices(self) -> list[Device]:
        return [self._device]

    def telemetry(self, device_id: str) -> Telemetry:
        _index_of(device_id, "cpu", 1)
        info = _meminfo(self._proc)
        used = None
        if "MemTotal" in info and "MemAvailable" in info:
            used = info["MemTotal"] - info["MemAvailable"]
        return Telemetry(
            temperature_c=self._temperature(),
            power_w=None,
            utilization=self._utilization(),
            memory_used=used,
        )

    def _utilization(self) -> float | None:
        """Busy share of all CPUs since the previous call (since boot on the first)."""
        text = _read_text(self._proc / "stat")
        if not text or not text.startswith("cpu "):
            return None
        fields = [int(x) for x in text.splitlines()[0].split()[1:] if x.isdigit()]
        if len(fields) < 4:
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        total = sum(fields[:8])  # guest time is already counted in user
        with self._lock:
            last, self._last_stat = self._last_stat, (total, idle)
        if last is not None:
            total, idle = total - last[0], idle - last[1]
        if total <= 0:
            return None
        return max(0.0, min(1.0, 1.0 - idle / total))

    def _temperature(self) -> float | None:
        zones: list[tuple[str, float]] = []
        thermal = self._sys / "class" / "thermal"
        for zone in sorted(thermal.glob("thermal_zone*")) if thermal.is_dir() else []:
            millis = _read_text(zone / "temp")
            if millis and millis.strip().lstrip("-").isdigit():
                kind = (_read_text(zone / "type") or "").strip().lower()
                zones.append((kind, int(millis) / 1000.0))
        package = [t for kind, t in zones if "pkg" in kind or "cpu" in kind or "soc" in kind]
        if package:
            return max(package)
        if zones:
            return max(t for _, t in zones)
        hwmon = self._sys / "class" / "hwmon"
        readings: list[tuple[bool, float]] = []
        for chip in sorted(hwmon.glob("hwmon*")) if hwmon.is_dir() else []:
            chip_name = (_read_text(chip / "name") or "").strip().lower()
            preferred = chip_name in ("coretemp", "k10temp", "zenpower", "cpu_thermal")
            for sensor in sorted(chip.glob("temp*_input")):
                millis = _read_text(sensor)
                if millis and millis.strip().lstrip("-").isdigit():
                    readings.append((preferred, int(millis) / 1000.0))
        best = [t for preferred, t in readings if preferred] or [t for _, t in readings]
        return max(best) if best else None

    def describe(self) -> dict[str, Any]:
        description: dict[str, Any] = {"backend": self.name}
        if self.reason:
            description["fallback_reason"] = self.reason
        return description


def detect_devices(prefer: Literal["auto", "nvml", "cpu"] = "auto") -> DeviceBackend:
    """The device backend to use: NVML when a GPU answers, else the CPU (logged, with why).

    Args:
        prefer: `"auto"` (NVML, else CPU), `"nvml"` (raise `NvmlUnavailable` instead of falling
            back), or `"cpu"` (the CPU device even when a GPU exists).
    """
    if prefer not in ("auto", "nvml", "cpu"):
        raise ValueError(f"unknown device backend `{prefer}`: use auto, nvml or cpu")
    if prefer == "cpu":
        return CpuBackend(reason="the CPU backend was asked for")
    try:
        return NvmlBackend()
    except DeviceError as exc:
        if prefer == "nvml":
            raise
        log.warning("no GPU through NVML (%s); lending the CPU device cpu0 instead", exc.message)
        return CpuBackend(reason=exc.message)
