"""`mmharness validate` on vqa manifests: every input of the three graphs is claimed by the
contract (docs/vlm-contract.md), and the claimed tensors have the declared dtype/rank/dims."""

from __future__ import annotations

import json
import shutil

import pytest

from harness.cli import main
from harness.errors import ExitCode


@pytest.fixture()
def model_copy(tmp_path, llava_export):  # type: ignore[no-untyped-def]
    _, export = llava_export
    target = tmp_path / "m"
    shutil.copytree(export, target)
    return target


def _edit_manifest(model_dir, edit):  # type: ignore[no-untyped-def]
    manifest = json.loads((model_dir / "manifest.json").read_text())
    edit(manifest["vqa"])
    (model_dir / "manifest.json").write_text(json.dumps(manifest))


def _save_graph(graph, model_dir, name):  # type: ignore[no-untyped-def]
    """Save an edited graph and update its checksum, as an intended change would (else validate
    stops at the checksum before the contract check these tests are about)."""
    import hashlib

    import onnx

    onnx.save(graph, str(model_dir / name))
    manifest = json.loads((model_dir / "manifest.json").read_text())
    manifest["checksums"][name] = hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
    (model_dir / "manifest.json").write_text(json.dumps(manifest))


def _validate(model_dir, capsys):  # type: ignore[no-untyped-def]
    capsys.readouterr()
    code = main(["validate", str(model_dir)])
    captured = capsys.readouterr()
    return code, captured.err.strip()


def test_exported_model_claims_every_input(model_copy, capsys):  # type: ignore[no-untyped-def]
    import onnx

    assert main(["validate", "--json", str(model_copy)]) == ExitCode.OK
    claimed = {(i["graph"], i["name"]) for i in json.loads(capsys.readouterr().out)["inputs"]}
    for role in ("vision", "embedding", "decoder"):  # an independent read of the graphs' inputs
        names = {i.name for i in onnx.load(str(model_copy / f"{role}.onnx"), load_external_data=False).graph.input}
        assert {(role, name) for name in names} <= claimed


def test_an_unclaimed_decoder_input_is_refused(model_copy, capsys):  # type: ignore[no-untyped-def]
    import onnx

    path = model_copy / "decoder.onnx"
    graph = onnx.load(str(path))
    graph.graph.input.append(onnx.helper.make_tensor_value_info("use_cache_branch", onnx.TensorProto.BOOL, [1]))
    _save_graph(graph, model_copy, path.name)
    code, err = _validate(model_copy, capsys)
    assert code == ExitCode.BAD_INPUT
    assert "graphs.decoder: decoder.onnx input 'use_cache_branch' is not claimed" in err and len(err.splitlines()) == 1
    # the runtime checks the opened sessions the same way before anything runs
    assert main(["bias", str(model_copy), "--limit", "4", "--out", str(model_copy / "out")]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "decoder.onnx input 'use_cache_branch' is not claimed" in err and "[ 1/" not in err


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda v: v["kv_cache"].update(num_layers=3), "vqa.kv_cache: decoder.onnx has no input 'past_key_values.2.key'"),
        (lambda v: v["kv_cache"].update(num_layers=1), "graphs.decoder: decoder.onnx input 'past_key_values.1.key' is not claimed"),
        (lambda v: v["kv_cache"].update(head_dim=4), "vqa.kv_cache: decoder.onnx input 'past_key_values.0.key' has shape"),
        (lambda v: v.update(hidden_size=48), "vqa.hidden_size: vision.onnx output 'image_features' has shape"),
        (lambda v: v["image"].update(size=[24, 24]), "vqa.image: vision.onnx input 'pixel_values' has shape"),
        (lambda v: v["image"].update(pixel_attention_mask="pixel_attention_mask"),
         "vqa.image.pixel_attention_mask: vision.onnx has no input 'pixel_attention_mask'"),
        (lambda v: v["kv_cache"].update(dtype="float16"), "input 'pixel_values' has dtype float32, expected float16"),
    ],
)
def test_manifest_graph_mismatch_names_the_field(model_copy, capsys, edit, expected):  # type: ignore[no-untyped-def]
    _edit_manifest(model_copy, edit)
    code, err = _validate(model_copy, capsys)
    assert code == ExitCode.BAD_INPUT
    assert expected in err and str(model_copy / "manifest.json") in err and len(err.splitlines()) == 1


def test_idefics3_export_with_mask_input_validates(idefics3_export, capsys):  # type: ignore[no-untyped-def]
    _, export = idefics3_export
    assert main(["validate", "--json", str(export)]) == ExitCode.OK
    claimed = {(i["graph"], i["name"]) for i in json.loads(capsys.readouterr().out)["inputs"]}
    assert {("vision", "pixel_values"), ("vision", "pixel_attention_mask")} <= claimed


def _output_shape(path, name):  # type: ignore[no-untyped-def]
    import onnx

    value = next(v for v in onnx.load(str(path), load_external_data=False).graph.output if v.name == name)
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]


@pytest.mark.parametrize("fixture", ["llava_export", "idefics3_export"])
def test_vision_output_is_rank_2_with_a_static_hidden_size(fixture, request):  # type: ignore[no-untyped-def]
    model, export = request.getfixturevalue(fixture)
    shape = _output_shape(export / "vision.onnx", "image_features")
    assert shape == ["num_image_tokens", model.config.text_config.hidden_size]


def test_shipped_model_graphs_match_their_manifest():  # type: ignore[no-untyped-def]
    import hashlib

    from .conftest import SHIPPED

    if not (SHIPPED / "manifest.json").is_file():
        pytest.skip("models/vlm-synth-tiny not trained yet")
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    for role, file in manifest["graphs"].items():
        assert hashlib.sha256((SHIPPED / file).read_bytes()).hexdigest() == manifest["provenance"]["sha256"][role], role
        assert (SHIPPED / file).stat().st_size < 10 * 2**20, role  # issue 8: each graph < 10 MB
    assert _output_shape(SHIPPED / "vision.onnx", "image_features") == ["num_image_tokens", manifest["vqa"]["hidden_size"]]


# the genai_config.json template of docs/vlm-contract.md (the template measured to load in onnxruntime-genai 0.18.0)
GENAI_TEMPLATE = json.loads("""
{"model": {"type": "gemma3", "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "vocab_size": 300, "context_length": 256,
  "image_token_id": 299,
  "decoder": {"filename": "decoder.onnx", "hidden_size": 64, "head_size": 16, "num_attention_heads": 4,
              "num_key_value_heads": 2, "num_hidden_layers": 2,
              "inputs": {"inputs_embeds": "inputs_embeds", "attention_mask": "attention_mask", "position_ids": "position_ids",
                         "past_key_names": "past_key_values.%d.key", "past_value_names": "past_key_values.%d.value"},
              "outputs": {"logits": "logits", "present_key_names": "present.%d.key", "present_value_names": "present.%d.value"},
              "session_options": {"provider_options": []}},
  "embedding": {"filename": "embedding.onnx", "inputs": {"input_ids": "input_ids", "image_features": "image_features"},
                "outputs": {"inputs_embeds": "inputs_embeds"}},
  "vision": {"filename": "vision.onnx", "inputs": {"pixel_values": "pixel_values"}, "outputs": {"image_features": "image_features"}}},
 "search": {"do_sample": false, "max_length": 256, "num_beams": 1, "past_present_share_buffer": false, "top_k": 1}}
""")
# values that are names or fixed settings, not model sizes: they must equal the template's
FIXED = ("model/type", "model/decoder/filename", "model/decoder/inputs", "model/decoder/outputs", "model/embedding",
         "model/vision/filename", "model/vision/outputs", "search/do_sample", "search/num_beams",
         "search/past_present_share_buffer", "search/top_k")


def _paths(tree, prefix=""):  # type: ignore[no-untyped-def]
    if isinstance(tree, dict):
        return {p for key, value in tree.items() for p in _paths(value, f"{prefix}/{key}" if prefix else key)}
    return {prefix}


def _at(tree, path):  # type: ignore[no-untyped-def]
    for key in path.split("/"):
        tree = tree[key]
    return tree


@pytest.mark.parametrize("fixture", ["llava_export", "idefics3_export", "shipped"])
def test_genai_config_has_the_template_keys(fixture, request):  # type: ignore[no-untyped-def]
    from harness.mllm.manifest import load_vqa_spec

    from .conftest import SHIPPED

    if fixture == "shipped":
        if not (SHIPPED / "manifest.json").is_file():
            pytest.skip("models/vlm-synth-tiny not trained yet")
        export = SHIPPED
    else:
        export = request.getfixturevalue(fixture)[1]
    genai = json.loads((export / "genai_config.json").read_text())
    spec = load_vqa_spec(export)
    extra = {"model/vision/inputs/attention_mask"} if spec.image.pixel_attention_mask else set()
    assert _paths(genai) == _paths(GENAI_TEMPLATE) | extra  # og's parser rejects unknown keys
    for path in FIXED:
        assert _at(genai, path) == _at(GENAI_TEMPLATE, path), path
    decoder = genai["model"]["decoder"]
    assert (decoder["num_hidden_layers"], decoder["num_key_value_heads"], decoder["head_size"], decoder["hidden_size"]) == (
        spec.kv.num_layers, spec.kv.num_kv_heads, spec.kv.head_dim, spec.hidden_size)
    assert genai["model"]["image_token_id"] == spec.image_token_id and genai["model"]["eos_token_id"] == spec.eos_token_id
    for name in ("decoder", "embedding", "vision"):
        assert (export / genai["model"][name]["filename"]).is_file()


def test_a_non_standard_operator_domain_is_refused(model_copy, capsys):  # type: ignore[no-untyped-def]
    import onnx

    path = model_copy / "embedding.onnx"
    graph = onnx.load(str(path))
    graph.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    _save_graph(graph, model_copy, path.name)
    code, err = _validate(model_copy, capsys)
    assert code == ExitCode.BAD_INPUT
    assert "graphs.embedding: embedding.onnx imports operator domain 'com.microsoft'" in err


def test_wrong_tokens_per_image_is_named_when_the_vision_graph_runs(model_copy, capsys):  # type: ignore[no-untyped-def]
    _edit_manifest(model_copy, lambda v: v.update(tokens_per_image=5))  # the graph makes 4 per image
    assert main(["bias", str(model_copy), "--limit", "4", "--out", str(model_copy / "out")]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "manifest.json: vqa.tokens_per_image: the vision graph returned (4, 32) for 1 image(s), expected (5, 32)" in err
