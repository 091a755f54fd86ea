"""Ruleset 2.5: each change of its changelog, tested on the rules themselves (the measured
effect on real runs is in tests/test_validation.py)."""

from __future__ import annotations

import pytest
from tuneprint import load_ruleset

from tests.conftest import RULES, est, value

V24, V25 = load_ruleset(RULES / "2.4"), load_ruleset(RULES / "2.5")


def test_every_rule_of_25_is_in_its_changelog() -> None:
    assert V25.extends == "2.4"
    logged = {r for entry in V25.changelog for r in entry.get("rules", [])}
    own = {r.id for rules in V25.rules.values() for r in rules if r.at.version == "2.5"}
    assert own and own <= logged, own - logged


DESKTOP = {"gpu_model": "NVIDIA GeForce RTX 3090", "gpu_count": 1, "reserved_hours": 3.5}


def test_a_one_gpu_machine_has_one_socket_and_its_slot_of_memory_and_chassis() -> None:
    """A desktop disclosed as one GPU per machine: 2.4 charged it the whole 8-GPU PCIe host
    proxy (two sockets, 825 GB, 2,500 kg); 2.5 one socket and an eighth of the rest."""
    old, new = est(V24, **DESKTOP, gpus_per_server=1), est(V25, **DESKTOP, gpus_per_server=1)
    assert value(new, "server_model") == value(old, "server_model") == "aws-g5-48xlarge"
    assert value(old, "server_share") == value(new, "server_share") == 1
    assert (value(old, "cpu_count"), value(new, "cpu_count")) == (2, 1)
    assert new.fields["cpus_per_server"].rule.id == "cpus_per_server.one_gpu_machine"
    assert value(new, "machine_slot_share") == 0.125  # 1 of the proxy host's 8 slots
    assert value(new, "memory_gb_per_server") == pytest.approx(
        value(old, "memory_gb_per_server") / 8
    )
    assert value(new, "server_embodied_kgco2e") == pytest.approx(
        value(old, "server_embodied_kgco2e") / 8
    )
    assert value(new, "it_energy_kwh") < value(old, "it_energy_kwh")


def test_a_disclosed_memory_wins_and_no_disclosed_slots_moves_nothing() -> None:
    mine = est(V25, **DESKTOP, gpus_per_server=1, memory_gb_per_server=32)
    assert value(mine, "memory_gb_per_server") == 32
    # without the machine's GPU slots the job is a share of the host, as in 2.4
    old, new = est(V24, **DESKTOP), est(V25, **DESKTOP)
    for name in ("cpu_count", "memory_gb_per_server", "server_share", "it_energy_kwh"):
        assert value(new, name) == value(old, name), name
    assert value(new, "server_share") == 0.125
    assert "machine_slot_share" not in new.fields


def test_a_four_gpu_machine_keeps_its_sockets_and_gets_half_the_memory() -> None:
    """Physical 4-GPU servers commonly have two sockets: only the memory and the chassis
    are taken per slot."""
    four = dict(DESKTOP, gpu_count=4)
    old, new = est(V24, **four, gpus_per_server=4), est(V25, **four, gpus_per_server=4)
    assert value(new, "cpu_count") == value(old, "cpu_count") == 2
    assert value(new, "machine_slot_share") == 0.5
    assert value(new, "memory_gb_per_server") == pytest.approx(
        value(old, "memory_gb_per_server") / 2
    )
    assert value(new, "server_embodied_kgco2e") == pytest.approx(
        value(old, "server_embodied_kgco2e") / 2
    )


def test_a_machine_as_large_as_its_server_is_unchanged() -> None:
    base = {"gpu_model": "A100 80GB", "gpu_count": 16, "reserved_hours": 10}
    old, new = est(V24, **base, gpus_per_server=8), est(V25, **base, gpus_per_server=8)
    for name in ("cpu_count", "memory_gb_per_server", "server_embodied_kgco2e", "it_energy_kwh"):
        assert value(new, name) == value(old, name), name


def test_a_disclosed_server_larger_than_the_machine_is_read_as_a_slice_with_a_warning() -> None:
    """A named 8-GPU instance with one GPU per server disclosed: the machine is a slice of
    it, and the estimate says so; without a disclosed server no warning is given."""
    named = est(V25, gpu_model="A100 80GB", server_model="p4d.24xlarge", gpu_count=1,
                gpus_per_server=1, reserved_hours=2)  # fmt: skip
    assert value(named, "cpus_per_server") == 1
    embodied = named.fields["server_embodied_kgco2e"]
    assert embodied.warning and "slice of that server" in embodied.warning
    assert not est(V25, **DESKTOP, gpus_per_server=1).fields["server_embodied_kgco2e"].warning
