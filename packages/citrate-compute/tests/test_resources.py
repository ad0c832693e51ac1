"""The resource manager: allocation, admission by declared memory, the ledger, heat and power.

Both schedulers (the Rust core and the Python reference) run every case. After every bad input
the ledger is checked: reserved memory equals the sum of the running jobs' memory.

No GPU can exist on this machine, so the heat and power cases read telemetry from
`ThermalGpuTestDouble`; the CPU cases use the real CPU backend.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from citrate_compute.devices import CpuBackend, Device, DeviceBackend, Telemetry
from citrate_compute.errors import (
    ComputeValueError,
    DuplicateJob,
    JobTooLarge,
    NvmlError,
    UnknownDevice,
    UnknownJob,
)
from citrate_compute.executors import LocalExecutor
from citrate_compute.jobs import ComputeJob, JobStatus, JobType
from citrate_compute.resources import GPUResourceManager
from citrate_compute.sandbox import TaskSpec

GiB = 1 << 30


class ThermalGpuTestDouble(DeviceBackend):
    """TEST DOUBLE of NVIDIA GPUs (none can exist on this machine): each reading is what the
    test set, and `failure` makes every reading fail the way NVML fails mid-run."""

    name = "gpu-test-double"

    def __init__(self, count: int = 1, memory: int = 8 * GiB, power_limit_w: float = 300.0):
        self._devices = [
            Device(f"gpu{i}", "gpu", "Test Double GPU", memory, power_limit_w) for i in range(count)
        ]
        self.readings = {d.id: Telemetry(45.0, 120.0, 0.3, 0) for d in self._devices}
        self.failure: str | None = None
        self.closed = False

    def devices(self) -> list[Device]:
        return list(self._devices)

    def telemetry(self, device_id: str) -> Telemetry:
        if self.failure is not None:
            raise NvmlError(f"reading {device_id} through NVML failed: {self.failure}")
        return self.readings[device_id]

    def set(self, device_id: str = "gpu0", **values: Any) -> None:
        current = self.readings[device_id]
        self.readings[device_id] = Telemetry(
            values.get("temperature_c", current.temperature_c),
            values.get("power_w", current.power_w),
            current.utilization,
            current.memory_used,
        )

    def close(self) -> None:
        self.closed = True


@pytest.fixture(params=["native", "reference"])
def scheduler_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


def job(memory: int, job_type: JobType = JobType.INFERENCE, **fields: Any) -> ComputeJob:
    return ComputeJob(
        job_id=fields.pop("job_id", uuid.uuid4().hex[:10]),
        job_type=job_type,
        model="m",
        input_hash="0x" + "00" * 32,
        memory_bytes=memory,
        payment=fields.pop("payment", 10**15),
        **fields,
    )


def snapshot(manager: GPUResourceManager) -> Any:
    """The whole observable state, to show a refused call changed nothing."""
    manager.check()
    status = manager.status()
    status.pop("events")
    return status


# --- allocation and admission -------------------------------------------------------------------


def test_the_cpu_device_is_lent_by_its_allocation(scheduler_kind: str) -> None:
    manager = GPUResourceManager(CpuBackend(), allocations=40, scheduler=scheduler_kind)
    total = CpuBackend().devices()[0].total_memory
    ledger = manager.ledger("cpu0")
    assert ledger["share"] == total * 40 // 100
    assert ledger["reserved"] == 0 and ledger["free"] == ledger["share"]
    (device,) = manager.status()["devices"]
    assert device["kind"] == "cpu" and device["id"] == "cpu0"
    assert device["power_limit_w"] is None
    assert manager.largest_share(JobType.INFERENCE) == ledger["share"]
    assert manager.largest_share(JobType.TRAINING) == 0


def test_a_job_larger_than_the_share_is_refused_and_refunded(scheduler_kind: str) -> None:
    gpus = ThermalGpuTestDouble()
    manager = GPUResourceManager(gpus, allocations=50, scheduler=scheduler_kind)
    before = snapshot(manager)
    too_big = job(4 * GiB + 1)
    admission = manager.submit(too_big)
    assert not admission.admitted
    assert admission.refund
    assert admission.error is not None
    assert "needs `4294967297` bytes but the largest share" in admission.error
    assert too_big.status == JobStatus.FAILED and too_big.error == admission.error
    assert manager.refusals() == [admission]
    after = snapshot(manager)
    assert after.pop("refused") == 1 and before.pop("refused") == 0
    assert after == before
    # The same through `admit` (the provider's call): recorded, then raised.
    with pytest.raises(JobTooLarge, match="needs `5368709120` bytes"):
        manager.admit(job(5 * GiB))
    assert len(manager.refusals()) == 2
    manager.check()
    assert manager.submit(job(4 * GiB)).admitted  # exactly the share fits


def test_a_job_type_no_device_serves_is_refused_and_refunded(scheduler_kind: str) -> None:
    manager = GPUResourceManager(ThermalGpuTestDouble(), scheduler=scheduler_kind)
    admission = manager.submit(job(GiB, JobType.TRAINING))
    assert (admission.admitted, admission.refund) == (False, True)
    assert manager.status()["active_jobs"] == 0
    manager.check()


def test_jobs_wait_for_free_memory_and_start_when_it_frees(scheduler_kind: str) -> None:
    manager = GPUResourceManager(
        ThermalGpuTestDouble(), allocations=50, max_jobs=4, scheduler=scheduler_kind
    )
    first, second = job(3 * GiB), job(3 * GiB)
    assert manager.submit(first).admitted and manager.submit(second).admitted
    started = manager.start_ready()
    assert started == [(first, "gpu0")]
    assert first.status == JobStatus.RUNNING and second.status == JobStatus.QUEUED
    assert manager.ledger("gpu0")["reserved"] == 3 * GiB
    assert manager.status()["queued"] == [second.job_id]
    assert manager.start_ready() == []  # each job is handed out once
    manager.check()
    manager.finish(first.job_id, ok=True)
    assert manager.start_ready() == [(second, "gpu0")]
    manager.finish(second.job_id, ok=False, error="the job process died (SIGKILL)")
    assert second.status == JobStatus.FAILED and second.error == "the job process died (SIGKILL)"
    (device,) = manager.status()["devices"]
    assert (device["jobs_completed"], device["jobs_failed"], device["reserved"]) == (1, 1, 0)
    manager.check()


def test_lowering_the_allocation_is_enforced_for_new_jobs(scheduler_kind: str) -> None:
    manager = GPUResourceManager(
        ThermalGpuTestDouble(memory=10 * GiB), allocations=50, max_jobs=4, scheduler=scheduler_kind
    )
    running = job(2 * GiB + GiB // 2)
    manager.submit(running)
    assert manager.start_ready() == [(running, "gpu0")]
    manager.set_allocation("gpu0", 30)  # share 3 GiB, 2.5 GiB reserved: 0.5 GiB free
    ledger = manager.ledger("gpu0")
    assert (ledger["share"], ledger["free"]) == (3 * GiB, GiB // 2)
    waiting = job(GiB)
    assert manager.submit(waiting).admitted
    assert manager.start_ready() == []
    manager.set_allocation("gpu0", 20)  # below what runs: allowed, free is 0
    assert manager.ledger("gpu0")["free"] == 0
    manager.check()
    manager.finish(running.job_id, ok=True)
    assert manager.start_ready() == [(waiting, "gpu0")]
    assert any(e.kind == "allocation" for e in manager.events())


def test_admit_places_or_says_wait_and_can_be_called_again(scheduler_kind: str) -> None:
    manager = GPUResourceManager(ThermalGpuTestDouble(), allocations=50, scheduler=scheduler_kind)
    first, second = job(3 * GiB), job(3 * GiB)
    assert manager.admit(first) == "gpu0"
    assert manager.admit(first) == "gpu0"  # idempotent
    assert manager.admit(second) is None
    assert manager.admit(second) is None  # still waiting, not submitted twice
    manager.finish(first.job_id, ok=True)
    assert manager.admit(second) == "gpu0"
    assert second.status == JobStatus.RUNNING
    manager.check()


def test_devices_not_named_in_the_allocations_are_not_lent(scheduler_kind: str) -> None:
    gpus = ThermalGpuTestDouble(count=2)
    manager = GPUResourceManager(gpus, allocations={"gpu0": 25}, scheduler=scheduler_kind)
    assert manager.ledger("gpu0")["share"] == 2 * GiB
    assert manager.ledger("gpu1")["share"] == 0
    with pytest.raises(UnknownDevice, match="gpu9"):
        GPUResourceManager(gpus, allocations={"gpu9": 10}, scheduler=scheduler_kind)


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("percent", [101, -1, True, 50.0, "50", None])
def test_bad_allocations_are_refused_and_change_nothing(scheduler_kind: str, percent: Any) -> None:
    manager = GPUResourceManager(ThermalGpuTestDouble(), allocations=50, scheduler=scheduler_kind)
    manager.submit(job(GiB))
    manager.start_ready()
    before = snapshot(manager)
    with pytest.raises(ComputeValueError, match="whole percentage from 0 to 100"):
        manager.set_allocation("gpu0", percent)
    assert snapshot(manager) == before
    with pytest.raises(ComputeValueError, match="whole percentage"):
        GPUResourceManager(ThermalGpuTestDouble(), allocations=percent, scheduler=scheduler_kind)


def test_bad_jobs_and_calls_change_nothing(scheduler_kind: str) -> None:
    manager = GPUResourceManager(
        ThermalGpuTestDouble(), allocations=50, max_jobs=2, scheduler=scheduler_kind
    )
    running = job(GiB, job_id="running")
    manager.submit(running)
    manager.start_ready()
    queued = job(4 * GiB, job_id="queued")
    manager.submit(queued)
    before = snapshot(manager)

    with pytest.raises(DuplicateJob, match="`running` is already queued or running"):
        manager.submit(job(GiB, job_id="running"))
    with pytest.raises(DuplicateJob):
        manager.submit(job(GiB, job_id="queued"))
    for memory in (0, -1, True, 1.5):
        with pytest.raises(ComputeValueError, match="memory"):
            manager.submit(job(memory))
    with pytest.raises(UnknownJob, match="`nope` is not queued or running"):
        manager.finish("nope", ok=True)
    with pytest.raises(ComputeValueError, match="not an end state"):
        manager.finish("running", ok=False, status=JobStatus.RUNNING)
    with pytest.raises(UnknownDevice, match="no device `gpu7`"):
        manager.set_allocation("gpu7", 10)
    with pytest.raises(UnknownDevice):
        manager.ledger("gpu7")
    for amount in (-1, 1.5, True, "10"):
        with pytest.raises(ComputeValueError, match="non-negative whole number of wei"):
            manager.record_earnings(amount)  # type: ignore[arg-type]
    assert snapshot(manager) == before

    # A queued job dropped, then a running one finished twice: the second is refused.
    manager.cancel("queued")
    assert queued.status == JobStatus.CANCELLED
    manager.finish("running", ok=True)
    with pytest.raises(UnknownJob):
        manager.finish("running", ok=True)
    ledger = manager.ledger("gpu0")
    assert (ledger["reserved"], ledger["running"]) == (0, 0)
    manager.check()


def test_manager_arguments_are_checked() -> None:
    with pytest.raises(ComputeValueError, match="max_temperature_c must be positive"):
        GPUResourceManager(ThermalGpuTestDouble(), max_temperature_c=0)
    with pytest.raises(ComputeValueError, match="max_power_w must be positive"):
        GPUResourceManager(ThermalGpuTestDouble(), max_power_w=-5)
    with pytest.raises(ComputeValueError, match="unknown scheduler kind"):
        GPUResourceManager(ThermalGpuTestDouble(), scheduler="fast")  # type: ignore[arg-type]


# --- earnings -----------------------------------------------------------------------------------


def test_earnings_come_from_the_chain_and_are_attributed(scheduler_kind: str) -> None:
    manager = GPUResourceManager(
        ThermalGpuTestDouble(count=2), allocations=50, scheduler=scheduler_kind
    )
    done = job(GiB, job_id="paid")
    manager.submit(done)
    manager.start_ready()
    manager.finish("paid", ok=True)
    assert manager.status()["earned_wei"] == "0"  # nothing is estimated from the job's payment
    manager.record_earnings(95 * 10**16, job_id="paid")
    manager.record_earnings(5)  # a payment not tied to a job this manager knows
    status = manager.status()
    assert status["earned_wei"] == str(95 * 10**16 + 5)
    by_device = {d["id"]: d["earned_wei"] for d in status["devices"]}
    assert by_device == {"gpu0": str(95 * 10**16), "gpu1": "0"}


# --- heat, power, telemetry failures ------------------------------------------------------------


def test_over_temperature_holds_new_jobs_until_cool(
    scheduler_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    gpus = ThermalGpuTestDouble()
    manager = GPUResourceManager(gpus, allocations=50, max_jobs=2, scheduler=scheduler_kind)
    assert manager.poll() == []
    gpus.set(temperature_c=85.0)
    with caplog.at_level(logging.WARNING, logger="citrate_compute.resources"):
        events = manager.poll()
    assert [e.kind for e in events] == ["held"]
    assert "temperature 85.0 °C is over the 80 °C limit" in caplog.text
    assert manager.ledger("gpu0")["paused"] is True
    device = manager.status()["devices"][0]
    assert device["held"] and "85.0 °C" in device["hold_reason"]
    assert device["temperature_c"] == 85.0
    waiting = job(GiB)
    assert manager.submit(waiting).admitted
    assert manager.start_ready() == []  # new jobs wait
    gpus.set(temperature_c=77.0)  # under the limit but within the 5 °C margin: still held
    assert manager.poll() == []
    assert manager.start_ready() == []
    gpus.set(temperature_c=70.0)
    assert [e.kind for e in manager.poll()] == ["resumed"]
    assert manager.start_ready() == [(waiting, "gpu0")]
    assert not manager.status()["devices"][0]["held"]
    manager.check()


def test_over_the_board_power_limit_holds_the_device(scheduler_kind: str) -> None:
    gpus = ThermalGpuTestDouble(power_limit_w=300.0)
    manager = GPUResourceManager(gpus, scheduler=scheduler_kind)
    gpus.set(power_w=310.0)
    (event,) = manager.poll()
    assert event.message == "holding new jobs: power 310.0 W is over the 300 W limit"
    gpus.set(power_w=290.0)  # under the limit, above 95 % of it: still held
    assert manager.poll() == []
    gpus.set(power_w=200.0)
    assert [e.kind for e in manager.poll()] == ["resumed"]
    custom = GPUResourceManager(gpus, max_power_w=150.0, scheduler=scheduler_kind)
    assert [e.kind for e in custom.poll()] == ["held"]
    assert custom.status()["devices"][0]["power_limit_w"] == 150.0


def test_telemetry_failing_mid_run_holds_the_device_and_recovers(
    scheduler_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    gpus = ThermalGpuTestDouble()
    manager = GPUResourceManager(gpus, allocations=50, max_jobs=2, scheduler=scheduler_kind)
    running = job(GiB)
    manager.submit(running)
    manager.start_ready()
    gpus.failure = "GPU is lost"
    with caplog.at_level(logging.ERROR, logger="citrate_compute.resources"):
        events = manager.poll()  # never raises: the provider keeps running
    assert [e.kind for e in events] == ["telemetry_failed", "telemetry_hold"]
    assert "GPU is lost" in caplog.text
    device = manager.status()["devices"][0]
    assert device["held"] and "GPU is lost" in device["telemetry_error"]
    assert manager.poll() == []  # reported once
    queued = job(GiB)
    manager.submit(queued)
    assert manager.start_ready() == []
    manager.finish(running.job_id, ok=False, error="device lost")
    manager.check()
    gpus.failure = None
    assert [e.kind for e in manager.poll()] == ["telemetry_ok", "resumed"]
    assert manager.start_ready() == [(queued, "gpu0")]
    assert manager.status()["devices"][0]["telemetry_error"] is None
    manager.check()


def test_the_monitor_polls_in_the_background(scheduler_kind: str) -> None:
    gpus = ThermalGpuTestDouble()
    manager = GPUResourceManager(gpus, scheduler=scheduler_kind)
    manager.start_monitor(0.02)
    try:
        gpus.set(temperature_c=95.0)
        deadline = time.monotonic() + 30
        while not manager.status()["devices"][0]["held"]:
            assert time.monotonic() < deadline, "the monitor never polled"
            time.sleep(0.02)
    finally:
        manager.close()
    assert gpus.closed
    with pytest.raises(ComputeValueError, match="interval_s must be positive"):
        manager.start_monitor(0)


def test_status_is_json(scheduler_kind: str) -> None:
    manager = GPUResourceManager(CpuBackend(), scheduler=scheduler_kind)
    manager.poll()
    refused = manager.submit(job(2**70))  # beyond the scheduler's u64: larger than any share
    assert refused.refund and "more than any device has" in (refused.error or "")
    text = json.dumps(manager.status())
    assert json.loads(text)["backend"]["backend"] == "cpu"


# --- with a real executor -----------------------------------------------------------------------


def _wait_for(path_glob: Any, deadline_s: float = 60) -> Path:
    deadline = time.monotonic() + deadline_s
    while True:
        found = list(path_glob())
        if found:
            return Path(found[0])
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.slow
def test_heat_pauses_running_job_processes_and_resumes_them(
    local_executor: LocalExecutor, make_task: Any
) -> None:
    gpus = ThermalGpuTestDouble()
    manager = GPUResourceManager(gpus, allocations=50, throttle=local_executor)
    record = job(GiB)
    assert manager.admit(record) == "gpu0"
    spec = make_task("hold", {"seconds": 60}, job_id=record.job_id)
    future = local_executor.submit(spec)
    jobs_dir = local_executor.sandbox.jobs_dir
    secret = _wait_for(lambda: jobs_dir.glob("*/secret.txt"))
    control = local_executor._jobs[record.job_id].control
    assert control._pgid is not None
    pid = control._pgid

    gpus.set(temperature_c=92.0)
    kinds = [e.kind for e in manager.poll()]
    assert kinds == ["held", "job_paused"]
    assert _state(pid) == "T"
    assert manager.status()["devices"][0]["paused_jobs"] == [record.job_id]

    gpus.set(temperature_c=60.0)
    assert [e.kind for e in manager.poll()] == ["resumed", "job_resumed"]
    assert _state(pid) != "T"
    (secret.parent / "release").touch()
    result = future.result(timeout=60)
    assert result.ok, result.error
    manager.finish(record.job_id, ok=result.ok)
    assert manager.status()["devices"][0]["jobs_completed"] == 1
    manager.check()


def test_a_job_whose_process_dies_is_released_and_counted(
    local_executor: LocalExecutor, make_task: Any, scheduler_kind: str
) -> None:
    manager = GPUResourceManager(ThermalGpuTestDouble(), allocations=50, scheduler=scheduler_kind)
    record = job(GiB)
    device = manager.admit(record)
    assert device == "gpu0"
    spec: TaskSpec = make_task("die", {"how": "kill"}, job_id=record.job_id)
    result = local_executor.submit(spec).result(timeout=60)
    assert not result.ok
    manager.finish(record.job_id, ok=False, error=result.error)
    assert record.status == JobStatus.FAILED
    assert manager.ledger("gpu0")["reserved"] == 0
    assert manager.status()["devices"][0]["jobs_failed"] == 1
    manager.check()
