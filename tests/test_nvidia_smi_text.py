"""nvidia-smi's text outputs (-L, the default table, -q) on the real captures in tests/data/gpu-captures. Expected
values come from expected.json, worked out there without this project's code, or literally from the capture text."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from finops.connectors.nvidia_smi_text import is_nvidia_smi_text, parse_nvidia_smi_list, parse_nvidia_smi_text
from finops.errors import InputError
from finops.schema import GPU_SAMPLES

CAPTURES = Path(__file__).parent / "data" / "gpu-captures"
EXPECTED = {entry["file"]: entry for entry in json.loads((CAPTURES / "expected.json").read_text())}
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
H100_TABLE = "nvidia-smi-table-h100-mig-load.txt"
H200_TABLE = "nvidia-smi-table-h200-mig-2ci-load.txt"
H100_QUERY = "nvidia-smi-q-h100-mig-load.txt"
H100_LIST = "nvidia-smi-L-h100-mig-mixed.txt"
H200_LIST = "nvidia-smi-L-h200-mig.txt"
LEGACY_LIST = "nvidia-smi-L-a100-40gb-mig-mixed-legacy-uuid.txt"
MEASURED = [H100_TABLE, H200_TABLE, "nvidia-smi-table-8xh100-mig-mixed-driver535.txt",
            "nvidia-smi-table-a100-40gb-mig-enabled-no-devices.txt", H100_QUERY]  # fmt: skip
LISTS = sorted(path.name for path in CAPTURES.glob("nvidia-smi-L-*.txt"))
KEYS = {"ts", "host", "gpu_uuid", "gpu_index", "gpu_model", "mig_instance_id", "mig_profile", "util_gpu_pct",
        "mem_used_bytes", "mem_total_bytes", "power_w", "process_count", "labels", "x_Day",
        "sm_clock_mhz", "mem_clock_mhz"}  # fmt: skip


def read(name: str) -> str:
    return (CAPTURES / name).read_bytes().decode()  # bytes: read_text would turn the CRLF files' endings into \n


def parse(text: str, **options: Any) -> list[dict[str, Any]]:
    return parse_nvidia_smi_text(text, scraped_at=NOW, **options)


def expected(name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """expected.json's GPUs and GPU instances. It lists a GI once per compute instance (the H200's GI 2, on two
    adjacent rows); the parser gives one row per GI, so adjacent repeats collapse."""
    devices = EXPECTED[name]["devices"]
    gpus = [d for d in devices if d["mig_instance_id"] is None]
    migs = [d for d in devices if d["mig_instance_id"] is not None]
    return gpus, [d for i, d in enumerate(migs) if i == 0 or d["mig_instance_id"] != migs[i - 1]["mig_instance_id"]]


@pytest.mark.parametrize("name", MEASURED)
def test_each_capture_reads_as_expected_json_says(name: str) -> None:
    rows = parse(read(name), host="lab")
    gpus, instances = expected(name)
    got_gpus = [row for row in rows if row["mig_instance_id"] is None]
    got_instances = [row for row in rows if row["mig_instance_id"] is not None]
    assert (len(got_gpus), len(got_instances)) == (len(gpus), len(instances))
    assert all(set(row) == KEYS for row in rows) and set(GPU_SAMPLES.column_names) >= KEYS
    for got, want in zip(got_gpus + got_instances, gpus + instances, strict=True):
        assert got["mig_instance_id"] == want["mig_instance_id"] and got["gpu_model"] == want["gpu_model"]
        # what the text does not give stays None (the 535 parent's memory, every GPU-Util here): never 0
        assert (got["mem_used_bytes"], got["mem_total_bytes"]) == (want["mem_used_bytes"], want["mem_total_bytes"])
        assert got["power_w"] == want["power_w"] and got["util_gpu_pct"] == want["gpu_util_pct"]
        assert got["gpu_uuid"] == want["gpu_uuid"] or (
            want["gpu_uuid"] is None and got["gpu_uuid"].startswith("lab/gpu")
        )
        assert got["process_count"] > 0 if want["verdict_hint"] == "busy" else got["process_count"] == 0
    assert all(isinstance(row["mem_used_bytes"], int) for row in rows if row["mem_used_bytes"] is not None)


def test_a_gpu_instance_with_two_compute_instances_is_one_row() -> None:
    text = read(H200_TABLE)
    listed_twice = [d for d in EXPECTED[H200_TABLE]["devices"] if d["mig_instance_id"] == "2"]
    assert len(listed_twice) == 2 and listed_twice[0]["mem_used_bytes"] == listed_twice[1]["mem_used_bytes"]
    [gi2] = [row for row in parse(text, host="lab") if row["mig_instance_id"] == "2"]
    assert gi2["mem_used_bytes"] == listed_twice[0]["mem_used_bytes"]  # the shared memory, counted once
    # every process row of the table runs on GPU 0, GI 2, CI 1: the GI counts them all
    assert gi2["process_count"] == text.count("|    0    2    1 ") == 3


@pytest.mark.parametrize("list_first", [True, False])
def test_the_h200_list_names_the_rows_of_its_table(list_first: bool) -> None:
    listing, table = read(H200_LIST), read(H200_TABLE)
    rows = parse(listing + table if list_first else table + listing)  # no host needed: -L gives the UUID
    parent, *devices = EXPECTED[H200_LIST]["devices"]  # -L's Device 0..4, in order
    assert {row["gpu_uuid"] for row in rows} == {parent["gpu_uuid"]}  # MIG rows carry the parent's UUID
    by_gi = {row["mig_instance_id"]: row for row in rows if row["mig_instance_id"]}
    # the table's MIG Dev column: devices 0 and 1 (CI 0 and CI 1) are GI 2, then 2, 3, 4 are GIs 3, 9, 10
    assert by_gi["2"]["mig_profile"] == "3g.71gb"  # -L prints 1c.3g.71gb and 2c.3g.71gb: the GI's profile is kept
    assert by_gi["2"]["labels"] == {"mig_uuid": f"{devices[0]['mig_uuid']},{devices[1]['mig_uuid']}"}
    for gi, device in (("3", 2), ("9", 3), ("10", 4)):
        assert by_gi[gi]["mig_profile"] == devices[device]["mig_profile"]
        assert by_gi[gi]["labels"] == {"mig_uuid": devices[device]["mig_uuid"]}
    assert [by_gi[gi]["mig_profile"] for gi in ("3", "9", "10")] == ["2g.35gb", "1g.18gb", "1g.18gb"]
    assert rows[0]["mig_profile"] is None and rows[0]["labels"] is None


def test_a_crlf_list_names_a_table_of_the_same_layout() -> None:
    listing = read(H100_LIST)
    assert "\r\n" in listing
    rows = parse(listing + read(H100_TABLE))
    parent, *devices = EXPECTED[H100_LIST]["devices"]
    assert {row["gpu_uuid"] for row in rows} == {parent["gpu_uuid"]}
    instances = [d["mig_instance_id"] for d in expected(H100_TABLE)[1]]  # MIG Dev 0..3 in the table
    assert [(r["mig_instance_id"], r["mig_profile"], r["labels"]) for r in rows if r["mig_instance_id"]] == [
        (gi, d["mig_profile"], {"mig_uuid": d["mig_uuid"]}) for gi, d in zip(instances, devices, strict=True)
    ]


@pytest.mark.parametrize(
    ("listing", "table"),
    [("nvidia-smi-L-h100-mig-all-1g10gb.txt", H100_TABLE),  # 7 MIG devices listed, 4 measured
     (LEGACY_LIST, "nvidia-smi-table-a100-40gb-mig-enabled-no-devices.txt")],  # 3 listed, "No MIG devices found"
)  # fmt: skip
def test_a_list_of_another_moment_is_refused(listing: str, table: str) -> None:
    with pytest.raises(InputError, match="not the same moment") as error:
        parse(read(listing) + read(table), origin="smi.txt")
    assert error.value.message.startswith("smi.txt:")


def test_legacy_mig_uuids_are_checked_against_the_measured_gpu_instances() -> None:
    # The legacy A100 list, given a fourth device so its devices 0-3 line up with the H100 table's MIG Dev 0-3 (GIs
    # 2, 3, 9, 10): the GI ids in the UUIDs must agree with the table's.
    uuid = EXPECTED[LEGACY_LIST]["devices"][0]["gpu_uuid"]
    listing = read(LEGACY_LIST).rstrip("\n") + "\n  MIG 1g.5gb Device 3: (UUID: MIG-{}/{}/0)\n"
    rows = parse(listing.format(uuid, 10) + read(H100_TABLE))
    assert [r["mig_profile"] for r in rows[1:]] == ["3g.20gb", "2g.10gb", "1g.5gb", "1g.5gb"]
    with pytest.raises(InputError, match="other GPU instances"):
        parse(listing.format(uuid, 11) + read(H100_TABLE))


@pytest.mark.parametrize("name", LISTS)
def test_a_list_alone_measures_nothing(name: str) -> None:
    text = read(name)
    # -L names devices but has no reading: rows with no metric would be useless, so none; the caller says so
    assert is_nvidia_smi_text(text) and parse(text) == []
    [gpu] = parse_nvidia_smi_list(text)
    parent, *devices = EXPECTED[name]["devices"]
    assert (gpu.index, gpu.uuid, gpu.model) == (0, parent["gpu_uuid"], parent["gpu_model"])
    assert [(m.device, m.profile, m.uuid, m.gi) for m in gpu.migs] == [
        (i, d["mig_profile"], d["mig_uuid"], d["mig_instance_id"]) for i, d in enumerate(devices)
    ]


def test_legacy_mig_uuids_carry_the_gpu_instance_id() -> None:
    [gpu] = parse_nvidia_smi_list(read(LEGACY_LIST))
    assert [m.gi for m in gpu.migs] == [d["mig_instance_id"] for d in EXPECTED[LEGACY_LIST]["devices"][1:]]
    assert [m.gi for m in gpu.migs] == ["2", "3", "9"]  # not the Device numbers 0, 1, 2


def test_q_prefers_the_average_power_and_reads_its_own_time() -> None:
    gpu, *instances = parse(read(H100_QUERY))
    want = EXPECTED[H100_QUERY]["devices"][0]
    assert gpu["power_w"] == want["power_w"] != want["power_instant_w"]  # not GPU Memory Power Readings' 93.98 W
    assert gpu["util_gpu_pct"] is None  # "GPU : N/A" in MIG mode: unknown, not 0
    assert {row["ts"] for row in [gpu, *instances]} == {datetime(2026, 7, 14, 9, 0, 44, tzinfo=UTC)}
    assert [row["process_count"] for row in [gpu, *instances]] == [3, 3, 0, 0, 0]  # three processes, all on GI 2


def test_a_table_is_stamped_by_its_first_line_else_by_the_scrape() -> None:
    rows = parse(read(H100_TABLE), host="lab")
    assert {row["ts"] for row in rows} == {datetime(2026, 7, 14, 9, 0, 43, tzinfo=UTC)}  # "Tue Jul 14 09:00:43 2026"
    assert {row["x_Day"] for row in rows} == {date(2026, 7, 14)}
    assert {row["ts"] for row in parse(read("nvidia-smi-table-8xh100-mig-mixed-driver535.txt"), host="lab")} == {NOW}


@pytest.mark.parametrize("query_first", [True, False])
def test_a_table_and_a_q_of_one_host_share_their_gpu_by_bus_id(query_first: bool) -> None:
    table, query = read(H100_TABLE), read(H100_QUERY)
    assert "00000000:00:09.0" in table and "GPU 00000000:00:09.0" in query
    rows = parse(query + table if query_first else table + query)  # no host: -q's UUID names the table's GPU
    assert len(rows) == 10 and {row["gpu_index"] for row in rows} == {0}
    assert {row["gpu_uuid"] for row in rows} == {EXPECTED[H100_QUERY]["devices"][0]["gpu_uuid"]}
    assert {row["ts"].second for row in rows} == {43, 44}


def test_all_three_outputs_in_one_file() -> None:
    # The -q capture's UUID is masked upstream; given the -L's, the three outputs describe one host.
    parent = EXPECTED[H100_LIST]["devices"][0]["gpu_uuid"]
    query = read(H100_QUERY).replace(EXPECTED[H100_QUERY]["devices"][0]["gpu_uuid"], parent)
    text = read(H100_TABLE) + query + read(H100_LIST)
    assert is_nvidia_smi_text(text)
    rows = parse(text)
    assert len(rows) == 10 and {row["gpu_uuid"] for row in rows} == {parent}
    profiles = [row["mig_profile"] for row in rows if row["mig_instance_id"]]
    assert profiles == 2 * [d["mig_profile"] for d in EXPECTED[H100_LIST]["devices"][1:]]
    with pytest.raises(InputError, match="in -L but"):  # unmasked, the -q is another GPU than the -L's GPU 0
        parse(read(H100_TABLE) + read(H100_QUERY) + read(H100_LIST))


def test_without_a_process_list_the_count_is_unknown() -> None:
    lines = read(H100_TABLE).splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if "Processes:" in line) - 1  # the border above the section
    assert all(row["process_count"] is None for row in parse("".join(lines[:cut]), host="lab"))
    # old GeForce drivers print one "Not Supported" row in place of the GPU's processes
    rows = [line for line in lines if "      C   " not in line]
    rows.insert(-1, "|    0                    Not Supported" + " " * 48 + "|\n")
    assert all(row["process_count"] is None for row in parse("".join(rows), host="lab"))


def test_a_table_without_uuids_needs_a_list_or_a_host() -> None:
    with pytest.raises(InputError) as error:
        parse(read(H100_TABLE), origin="smi.txt")
    assert error.value.message.startswith("smi.txt:")
    assert error.value.hint and "nvidia-smi -L" in error.value.hint and "--host" in error.value.hint


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [(H100_TABLE, "432W /  700W", "abcW /  700W"),
     (H100_TABLE, "11091MiB / 40448MiB", "11091MB / 40448MiB"),
     (H100_TABLE, "21181      C", "21181"),
     (H100_QUERY, "432.21 W", "432,21 W"),
     (H100_QUERY, "Tue Jul 14 09:00:44 2026", "Tue Jul 44 09:00:44 2026"),
     (H100_LIST, "Device  1:", "Devices 1:")],
)  # fmt: skip
def test_an_unreadable_line_is_named(name: str, good: str, bad: str) -> None:
    text = read(name)
    assert text.count(good) == 1
    text = text.replace(good, bad)
    number = next(i for i, line in enumerate(text.splitlines(), start=1) if bad in line)
    with pytest.raises(InputError) as error:
        parse(text, host="lab", origin="smi.txt")
    assert error.value.message.startswith(f"smi.txt, line {number}:") and bad.split()[0] in error.value.message


def test_what_counts_as_nvidia_smi_text() -> None:
    for path in CAPTURES.iterdir():
        text = path.read_bytes().decode()
        assert is_nvidia_smi_text(text) is (path.name.startswith("nvidia-smi-") and path.suffix == ".txt"), path.name
    assert not is_nvidia_smi_text("")
    with pytest.raises(InputError, match="not nvidia-smi output"):
        parse(read("dcgm-exporter-l4-idle.txt"), origin="dcgm.txt")


def test_rows_load_into_gpu_samples(tmp_path: Path) -> None:
    from finops.gpu_watch import rows_to_frame
    from finops.store import open_store

    rows = parse(read(H200_LIST) + read(H200_TABLE), host="lab")
    with open_store(tmp_path / "store.duckdb") as store:
        store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, rows, "smi.txt")], checksum="x", inputs=["x"])
        stored = store.fetch(
            "SELECT mig_instance_id, mig_profile, mem_used_bytes, process_count, labels['mig_uuid'] FROM gpu_samples"
            " WHERE mig_instance_id = '2'"
        )
    assert stored == [("2", "3g.71gb", 17747148800, 3, rows[1]["labels"]["mig_uuid"])]
