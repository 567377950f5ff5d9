"""The ``*.engine.json`` sidecar: exact round trip, strict reading, and refusal of engines built
for another TensorRT version, GPU architecture or ONNX file."""

from __future__ import annotations

import json

import pytest

from harness.backends.engine_sidecar import (
    EngineSidecar,
    check_sidecar,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)
from harness.errors import ExitCode, ManifestError

SIDE = EngineSidecar(
    engine="model.int8.engine", precision="int8", strategy="builder-flags", trt_version="10.3.0",
    device_name="Orin", sm="8.7", source_onnx="model.onnx", source_sha256="ab" * 32,
    profiles=({"rgb": {"min": [1, 3, 16, 16], "opt": [4, 3, 16, 16], "max": [8, 3, 16, 16]}},),
    build={"seconds": 1.5, "workspace_mib": 1024},
)


def test_round_trip_is_exact(tmp_path):
    engine = tmp_path / "model.int8.engine"
    path = write_sidecar(engine, SIDE)
    assert path == sidecar_path(engine) and path.name == "model.int8.engine.json"
    back = read_sidecar(engine)
    assert back.to_dict() == SIDE.to_dict()
    assert back.trt_major == 10
    doc = json.loads(path.read_text())
    assert doc["tensorrt"] == {"version": "10.3.0", "major": 10} and doc["device"]["sm"] == "8.7"


def test_matching_machine_passes_and_every_mismatch_is_named(tmp_path):
    check_sidecar(SIDE, trt_version="10.3.0", sm="8.7", where="e", onnx_sha256="ab" * 32)
    with pytest.raises(ManifestError, match=r"built with TensorRT 10\.3\.0, this machine has TensorRT 10\.8\.0") as err:
        check_sidecar(SIDE, trt_version="10.8.0", sm="8.7", where="model.int8.engine.json")
    assert err.value.exit_code == ExitCode.BAD_INPUT
    assert "--precision int8" in str(err.value)
    with pytest.raises(ManifestError, match=r"built for SM 8\.7 \(Orin\), this GPU is SM 8\.6"):
        check_sidecar(SIDE, trt_version="10.3.0", sm="8.6", where="e")
    with pytest.raises(ManifestError, match="built from model.onnx"):
        check_sidecar(SIDE, trt_version="10.3.0", sm="8.7", where="e", onnx_sha256="cd" * 32)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("precision"), "missing field 'precision'"),
        (lambda d: d.update(precision="int4"), "precision 'int4'"),
        (lambda d: d.update(colour="red"), r"unknown fields \['colour'\]"),
        (lambda d: d["device"].update(sm="sm87"), "device.sm 'sm87'"),
        (lambda d: d.update(schema_version=2), "schema_version 2 is not supported"),
        (lambda d: d["tensorrt"].pop("version"), "tensorrt: missing field 'version'"),
        (lambda d: d["profiles"][0]["rgb"].pop("opt"), "exactly the keys min, opt, max"),
    ],
)
def test_malformed_sidecars_are_refused_naming_the_field(tmp_path, mutate, message):
    engine = tmp_path / "m.engine"
    doc = SIDE.to_dict()
    mutate(doc)
    sidecar_path(engine).write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match=message):
        read_sidecar(engine)


def test_missing_or_broken_sidecar(tmp_path):
    engine = tmp_path / "m.engine"
    with pytest.raises(ManifestError, match="sidecar not found"):
        read_sidecar(engine)
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_sidecar(engine)
