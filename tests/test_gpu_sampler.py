"""The NVML sampler's error paths on a stand-in library, and its spool on real files and a real store."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest
from fake_nvml import FakeNvml

from finops.connectors.nvml import NvmlSampler
from finops.gpu_watch import WatchOptions, watch


def test_refused_metrics_are_null_not_zero_and_not_asked_again() -> None:
    fake = FakeNvml()
    with NvmlSampler(fake) as sampler:
        rounds = [sampler.sample(15.0) for _ in range(3)]
    first_samples, first_processes = rounds[0]
    assert len(first_samples) == 2
    row = first_samples[0]
    assert row["power_w"] is None and row["sm_active_pct"] is None  # refused: NULL, never 0
    assert row["util_gpu_pct"] == 0.0 and row["mem_used_bytes"] == 20 * 2**30 and row["gpu_model"] == "NVIDIA A10G"
    assert row["process_count"] == 1 and first_processes[0]["pid"] == 1 and first_processes[0]["sm_util_pct"] is None
    assert first_processes[0]["process_name"] is not None  # pid 1 exists on every Linux host
    assert fake.calls == {"power": 2, "process_util": 2, "gpm": 2}  # once per GPU, then remembered
    energy = [samples[0]["energy_j"] for samples, _ in rounds]
    assert energy == sorted(energy) and energy[0] < energy[-1]  # the cumulative counter, in joules


def test_memory_in_use_leaves_out_the_drivers_reserved_memory_where_the_driver_can() -> None:
    from fake_nvml import NVMLError_NotSupported

    class OlderDriver(FakeNvml):
        def nvmlDeviceGetMemoryInfo(self, handle: int, version: int | None = None) -> object:
            if version is not None:
                self._count("memory_v2")
                raise NVMLError_NotSupported()
            return super().nvmlDeviceGetMemoryInfo(handle)

    with NvmlSampler(FakeNvml()) as sampler:
        assert sampler.sample(15.0)[0][0]["mem_used_bytes"] == 20 * 2**30  # v2: as nvidia-smi shows it
    older = OlderDriver()
    with NvmlSampler(older) as sampler:
        rounds = [sampler.sample(15.0) for _ in range(3)]
    assert rounds[-1][0][0]["mem_used_bytes"] == 20 * 2**30 + 616 * 2**20  # v1, reserved included
    assert older.calls["memory_v2"] == 2  # refused once per GPU, then not asked again


def test_mig_instances_are_rows_under_their_gpu_with_profile_and_mig_uuid() -> None:
    with NvmlSampler(FakeNvml(mig=True)) as sampler:
        samples, processes = sampler.sample(15.0)
    rows = {(r["gpu_uuid"], r["mig_instance_id"]): r for r in samples}
    parent = "GPU-00000000-aaaa-bbbb-cccc-dddddddddddd"
    assert set(rows) == {(parent, None), (parent, "1"), (parent, "2"), ("GPU-00000001-aaaa-bbbb-cccc-dddddddddddd",
                                                                         None)}  # fmt: skip
    assert rows[(parent, "1")]["mig_profile"] == "1g.5gb"  # from the MIG device's name
    assert rows[(parent, "2")]["mig_profile"] == "3g.20gb"  # from its attributes: 3 slices, 19,968 MiB
    assert rows[(parent, "2")]["labels"] == {"mig_uuid": "MIG-00000002-aaaa-bbbb-cccc-dddddddddddd"}
    assert {p["gpu_uuid"] for p in processes} <= {parent, "GPU-00000001-aaaa-bbbb-cccc-dddddddddddd"}


def test_a_lost_gpu_stops_reporting_instead_of_reading_idle(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeNvml(lose_gpu_1_after=1)
    with caplog.at_level(logging.WARNING), NvmlSampler(fake) as sampler:
        first, _ = sampler.sample(15.0)
        second, _ = sampler.sample(15.0)
        third, _ = sampler.sample(15.0)
    assert [len(first), len(second), len(third)] == [2, 1, 1]
    assert {r["gpu_uuid"] for r in second + third} == {first[0]["gpu_uuid"]}
    assert "is lost (NVMLError_GpuIsLost)" in caplog.text


def test_watch_spools_then_load_fills_the_store(tmp_path: Path, cli) -> None:
    spool = tmp_path / "spool"
    summary = watch(WatchOptions(interval_s=0.01, flush_s=3600, spool=spool, count=3, instance_type="g5.12xlarge"),
                    nvml=FakeNvml())  # fmt: skip
    assert summary.samples == 3 and summary.gpus == 2
    files = sorted(p.name.split("--")[0] for p in spool.glob("*.parquet"))
    assert files == ["gpu_processes", "gpu_samples"]
    db = tmp_path / "store.duckdb"
    first = cli("gpu", "load", spool, "--db", db)
    assert first.code == 0, first.err
    again = cli("gpu", "load", spool, "--db", db)
    assert "0 file(s) loaded, 2 unchanged" in again.err
    with duckdb.connect(str(db), read_only=True) as con:
        samples = con.execute(
            "SELECT count(*), count(power_w), min(energy_j), max(energy_j), any_value(instance_type), "
            "count(DISTINCT x_Source) FROM gpu_samples"
        ).fetchall()[0]
        processes = con.execute("SELECT count(*), any_value(pid) FROM gpu_processes").fetchall()[0]
    assert samples[0] == 6 and samples[1] == 0  # 3 samples x 2 GPUs; power refused everywhere: NULL
    assert samples[2] < samples[3] and samples[4] == "g5.12xlarge" and samples[5] == 1
    assert processes == (3, 1)


def test_watch_writes_the_store_directly(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    watch(WatchOptions(interval_s=0.01, flush_s=0, db=db, count=2), nvml=FakeNvml())
    watch(WatchOptions(interval_s=0.01, flush_s=0, db=db, count=2), nvml=FakeNvml())  # a restart: its own source
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT x_Source) FROM gpu_samples").fetchall() == [(8, 2)]


def test_a_day_without_processes_spools_samples_only(tmp_path: Path) -> None:
    watch(WatchOptions(interval_s=0.01, flush_s=3600, spool=tmp_path, count=2), nvml=FakeNvml(with_processes=False))
    assert [p.name.split("--")[0] for p in tmp_path.glob("*.parquet")] == ["gpu_samples"]


def test_sigterm_stops_cleanly_and_writes_what_was_sampled(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    import pyarrow.parquet as pq

    script = (
        "import sys; sys.path.insert(0, sys.argv[2])\n"
        "from pathlib import Path\nfrom fake_nvml import FakeNvml\nfrom finops.gpu_watch import WatchOptions, watch\n"
        "options = WatchOptions(interval_s=0.05, flush_s=3600, spool=Path(sys.argv[1]), duration_s=60)\n"
        "s = watch(options, nvml=FakeNvml())\n"
        "print('stopped after', s.samples, flush=True)\n"
    )
    agent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(Path(__file__).parent)],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(1.5)
    agent.send_signal(signal.SIGTERM)
    out, _ = agent.communicate(timeout=30)
    assert agent.returncode == 0 and out.startswith("stopped after")
    taken = int(out.split()[-1])
    table = pq.read_table(next(tmp_path.glob("gpu_samples--*.parquet")))
    assert table.num_rows == 2 * taken  # every sample taken is written, whole: two GPUs each


def test_finops_sync_loads_the_spool_and_skips_what_it_has(tmp_path: Path, cli) -> None:
    spool = tmp_path / "spool"
    watch(WatchOptions(interval_s=0.01, flush_s=3600, spool=spool, count=3), nvml=FakeNvml())
    config = tmp_path / "finops.toml"
    config.write_text(
        f'[store]\ndb = "{tmp_path / "s.duckdb"}"\n\n[sources.gpus]\ntype = "gpu-spool"\npath = "{spool}"\n'
    )
    first = cli("--config", config, "sync", "gpus")
    assert first.code == 0, first.err
    again = cli("--config", config, "sync", "gpus")
    assert "nothing new" in again.err
    watch(WatchOptions(interval_s=0.01, flush_s=3600, spool=spool, count=2), nvml=FakeNvml())  # a second run
    assert cli("--config", config, "sync", "gpus").code == 0
    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT x_Source) FROM gpu_samples").fetchall() == [(10, 2)]
        assert con.execute("SELECT count(*) FROM gpu_processes").fetchall() == [(5,)]
