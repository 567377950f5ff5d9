"""The shipped synthetic zoo: manifests validate, graphs run on ort:cpu, and the zoo shows the effect it exists for.

Figures are recomputed here from the committed ONNX files, with scikit-learn as the mIoU
oracle, so the MODEL_CARDs cannot drift from what ships.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from harness.backends.select import backend_for, parse_backend
from harness.data.synthetic import CLASSES, SyntheticDataset
from harness.manifest import load_manifest, validate_against_graph

ROOT = Path(__file__).resolve().parents[2]
ZOO = ("mmss-synth-rgbcentric", "mmss-synth-robust")


def miou_oracle(pred: np.ndarray, label: np.ndarray) -> float:
    """DELIVER/Liao mIoU via scikit-learn's confusion matrix; absent classes count 0."""
    cm = confusion_matrix(label.ravel(), pred.ravel(), labels=list(range(len(CLASSES))))
    tp = np.diag(cm).astype(float)
    union = cm.sum(0) + cm.sum(1) - tp
    return float(np.where(union > 0, tp / np.maximum(union, 1), 0.0).mean() * 100)


@pytest.fixture(scope="module")
def val() -> SyntheticDataset:
    return SyntheticDataset("val")


@pytest.fixture(scope="module")
def emm(val) -> dict[str, dict[tuple[str, ...], float]]:
    """mIoU per missing set, per zoo model, on ort:cpu through the harness backend."""
    labels = np.stack([s.label for s in val])
    tables = {}
    for name in ZOO:
        manifest = load_manifest(str(ROOT / "models" / name))
        names = manifest.modality_names
        clean = {m: manifest.modality(m).preprocess_array(np.stack([s.modalities[m] for s in val])) for m in names}
        table = {}
        with backend_for(manifest, parse_backend("ort:cpu")).open() as session:
            for k in range(len(names)):
                for missing in itertools.combinations(names, k):
                    feed = {m: np.zeros_like(x) if m in missing else x for m, x in clean.items()}
                    logits = np.concatenate([session.run({m: x[i : i + 16] for m, x in feed.items()})["logits"]
                                             for i in range(0, len(labels), 16)])
                    table[missing] = miou_oracle(logits.argmax(1), labels)
        tables[name] = table
    return tables


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_validates_against_its_manifest(name):
    folder = ROOT / "models" / name
    manifest = load_manifest(str(folder))
    contract = validate_against_graph(manifest)
    assert contract is not None
    assert manifest.modality_names == ("rgb", "depth", "event", "lidar")
    assert tuple(manifest.classes) == CLASSES
    onnx_file = folder / "model.onnx"
    assert onnx_file.stat().st_size < 10_000_000
    assert manifest.provenance["opset"] == 18 and "dynamo" in manifest.provenance["exporter"]
    assert manifest.checksums["model.onnx"] == hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    assert manifest.parity["passed"] is True and set(manifest.parity["cases"]) >= {"random", "missing=rgb"}
    assert (folder / "MODEL_CARD.md").read_text().count("mIoU") >= 3


def test_zoo_shows_the_robustness_effect(emm):
    for name in ZOO:
        assert emm[name][()] >= 70.0, f"{name} clean mIoU {emm[name][()]:.2f} < 70"
    avg = {name: np.mean(list(table.values())) for name, table in emm.items()}
    assert avg["mmss-synth-robust"] > avg["mmss-synth-rgbcentric"] + 5.0, avg
    # every modality costs the RGB-centric model something when it goes missing
    rgbc = emm["mmss-synth-rgbcentric"]
    for modality in ("rgb", "depth", "event", "lidar"):
        assert rgbc[(modality,)] < rgbc[()] - 1.0, modality


@pytest.mark.parametrize("name", ZOO)
def test_model_card_figures_match_the_shipped_graph(name, emm):
    """Every mIoU a card prints (clean, the EMM table, mIoU^Avg_EMM) is what scikit-learn gets from model.onnx.

    The 15 sets are the non-empty subsets of present modalities (clean included), as in Liao et al.
    """
    import re

    card = (ROOT / "models" / name / "MODEL_CARD.md").read_text()
    table = emm[name]
    rows = dict(re.findall(r"^\| ([a-z+]+) \| ([0-9.]+) \| [+-][0-9.]+ \|$", card, re.MULTILINE))
    assert len(rows) == 15, rows
    for missing, printed in rows.items():
        key = () if missing == "clean" else tuple(missing.split("+"))
        assert float(printed) == pytest.approx(table[key], abs=0.0051), (missing, printed, table[key])
    clean = float(re.search(r"clean mIoU: \*\*([0-9.]+)\*\*", card).group(1))
    average = float(re.search(r"mIoU\^Avg_EMM over all 15 EMM cells [^*]*\*\*([0-9.]+)\*\*", card).group(1))
    assert clean == pytest.approx(table[()], abs=0.0051)
    assert average == pytest.approx(np.mean(list(table.values())), abs=0.0051)


def test_one_training_step_of_the_recipe():
    import torch

    spec = importlib.util.spec_from_file_location("train_mmss_under_test", ROOT / "models/recipes/train_mmss.py")
    recipe = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = recipe  # dataclasses look their module up there
    spec.loader.exec_module(recipe)
    config = recipe.TrainConfig(variant="robust", batch=4, steps=1, train_size=4)
    model = recipe.make_model(config)
    before = [p.detach().clone() for p in model.parameters()]
    xs, labels = recipe.to_tensors(recipe.generate(range(4), "train", 0, recipe.SIZE))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = recipe.train_step(model, optimizer, xs, labels, np.random.default_rng(0), config)
    assert np.isfinite(loss) and 0.5 < loss < 5.0  # ~ln(7) at initialisation
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # modality dropout zeroes whole modalities of some samples, never all of one sample
    dropped = recipe.drop_modalities([torch.ones(64, 1, 2, 2) for _ in range(4)], np.random.default_rng(1), 0.3)
    present = torch.stack([d[:, 0, 0, 0] for d in dropped], 1)
    assert (present.sum(1) >= 1).all() and (present.sum(1) < 4).any()


# sha256 of each shipped graph's initializers (see initializer_digest), recorded from the graphs
# that the recipes' seeded weights reproduce; produced by:
#   python -c "import sys; sys.path.insert(0, 'tests/models'); import test_mmss_zoo as z; \
#              print({n: z.initializer_digest(z.ROOT / 'models' / n / 'model.onnx') for n in z.ZOO})"
INITIALIZERS_SHA256 = {
    "mmss-synth-rgbcentric": "a02e94e1e17df5be8bb5142329bf76e51813210485ac1ee2c1d53d104a46e2f0",
    "mmss-synth-robust": "8586f29cfd03c734129fffb850b923cb28f5ba8c9b98bdf6809d3788d23e17d9",
}


def initializer_digest(path: Path) -> str:
    """sha256 over the graph's initializers sorted by name: ``name:dtype:shape;`` then the raw bytes."""
    import onnx
    from onnx import numpy_helper

    digest = hashlib.sha256()
    for init in sorted(onnx.load(str(path)).graph.initializer, key=lambda t: t.name):
        array = numpy_helper.to_array(init)
        digest.update(f"{init.name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("name", ZOO)
def test_the_shipped_graph_holds_the_recipe_weights(name, request):
    """The graph's weights are the recorded ones on any clone; where ``weights.safetensors`` has been
    regenerated (``python models/recipes/train_mmss.py --variant V --out models/NAME --weights-only``;
    untracked), it must also be the network inside ``model.onnx``."""
    assert initializer_digest(ROOT / "models" / name / "model.onnx") == INITIALIZERS_SHA256[name]
    weights = ROOT / "models" / name / "weights.safetensors"
    if not weights.exists():
        return  # a fresh clone: the digest above is the check
    import torch

    val = request.getfixturevalue("val")

    from exporters.mmss import load_weights
    from exporters.verify import ort_session

    spec = importlib.util.spec_from_file_location("mmss_net_under_test", ROOT / "models/recipes/mmss_net.py")
    net = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(net)
    model = net.build(num_classes=len(CLASSES))
    load_weights(model, weights)
    manifest = load_manifest(str(ROOT / "models" / name))
    feed = {m: manifest.modality(m).preprocess_array(np.stack([val[i].modalities[m] for i in range(4)]))
            for m in manifest.modality_names}
    with torch.no_grad():
        expected = model.eval()([torch.from_numpy(feed[m]) for m in manifest.modality_names]).numpy()
    got = ort_session(ROOT / "models" / name / "model.onnx")(feed)["logits"]
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
