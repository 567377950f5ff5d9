"""``mmharness corruptions``: the listing, its JSON, the preview grid and bad flags."""

from __future__ import annotations

import json

import numpy as np

from harness.cli import main
from harness.corruptions import names
from harness.errors import ExitCode

from .corruption_images import scene


def test_listing_names_every_corruption(capsys):
    assert main(["corruptions"]) == ExitCode.OK
    out = capsys.readouterr().out
    for name in names():
        assert name in out
    assert "severity 1..5" in out.splitlines()[0]


def test_json_and_kind_filter(capsys):
    assert main(["corruptions", "--kind", "lidar", "--json"]) == ExitCode.OK
    payload = json.loads(capsys.readouterr().out)
    assert {item["name"] for item in payload} == set(names("lidar"))
    assert all(
        len(item["severities"]) == 5 and item["space"] == "raw" for item in payload
    )


def test_unknown_kind_is_bad_input(capsys):
    assert main(["corruptions", "--kind", "sonar"]) == ExitCode.BAD_INPUT
    assert "unknown modality kind 'sonar'" in capsys.readouterr().err


def test_preview_writes_grid(tmp_path, capsys):
    import cv2

    image = tmp_path / "in.png"
    cv2.imwrite(str(image), scene(40)[:, :, ::-1])
    code = main(
        [
            "corruptions",
            "preview",
            "--modality",
            "rgb",
            "--input",
            str(image),
            "--out",
            str(tmp_path / "out"),
            "--names",
            "snow,fog",
            "--severities",
            "1,5",
            "--height",
            "40",
        ]
    )
    assert code == ExitCode.OK
    written = capsys.readouterr().out.strip()
    grid = cv2.imread(written)
    # 2 rows (corruptions) x 3 tiles (clean + 2 severities), each tile 40 px + an 18 px label band
    assert grid.shape == (2 * (40 + 18), 3 * 40, 3)
    clean_tile = grid[18:58, :40, ::-1]
    assert np.abs(clean_tile.astype(int) - scene(40)).mean() < 1.0


def test_preview_depth_16bit(tmp_path, capsys):
    import cv2

    depth = (np.linspace(500, 20000, 48 * 48).reshape(48, 48)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), depth)
    assert (
        main(
            [
                "corruptions",
                "preview",
                "--modality",
                "depth",
                "--input",
                str(tmp_path / "d.png"),
                "--out",
                str(tmp_path),
                "--severities",
                "3",
                "--height",
                "32",
            ]
        )
        == ExitCode.OK
    )
    assert cv2.imread(capsys.readouterr().out.strip()).shape[0] == len(
        names("depth")
    ) * (32 + 18)


def test_preview_bad_flags(tmp_path, capsys):
    missing = [
        "corruptions",
        "preview",
        "--modality",
        "rgb",
        "--input",
        str(tmp_path / "nope.png"),
        "--out",
        str(tmp_path),
    ]
    assert main(missing) == ExitCode.BAD_INPUT
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "x.png").write_bytes(b"not an image")
    args = [
        "corruptions",
        "preview",
        "--input",
        str(tmp_path / "x.png"),
        "--out",
        str(tmp_path),
    ]
    assert main(args + ["--modality", "rgb"]) == ExitCode.BAD_INPUT
    assert "not an image" in capsys.readouterr().err
    assert main(args + ["--modality", "sonar"]) == ExitCode.BAD_INPUT
    assert (
        main(args + ["--modality", "rgb", "--severities", "0,9"]) == ExitCode.BAD_INPUT
    )
    assert main(args + ["--modality", "depth", "--names", "snow"]) == ExitCode.BAD_INPUT
    assert "does not apply" in capsys.readouterr().err


def _preview(tmp_path, modality: str, image: np.ndarray, *extra: str) -> list[str]:
    import cv2

    path = tmp_path / f"{modality}.png"
    assert cv2.imwrite(str(path), image)
    return [
        "corruptions",
        "preview",
        "--modality",
        modality,
        "--input",
        str(path),
        "--out",
        str(tmp_path / "out"),
        "--severities",
        "1,5",
        "--height",
        "24",
        *extra,
    ]


def _sparse_frame(seed: int, density: float) -> np.ndarray:
    """A DELIVER-style 3-channel 8-bit frame that is 0 except at a few sites."""
    rng = np.random.default_rng(seed)
    values = (rng.random((40, 56, 1)) * 255).astype(np.uint8)
    values[rng.random((40, 56)) >= density] = 0
    return np.repeat(values, 3, axis=2)


def test_preview_sparse_and_thermal_pngs(tmp_path, capsys):
    """LiDAR and event frames (3-channel sparse PNGs) and 8-bit thermal: one row per corruption."""
    import cv2

    cases = {
        "lidar": _sparse_frame(0, 0.1),
        "event": _sparse_frame(1, 0.05),
        "thermal": scene(40)[:, :, 1],
    }
    for modality, image in cases.items():
        assert main(_preview(tmp_path, modality, image)) == ExitCode.OK, modality
        grid = cv2.imread(capsys.readouterr().out.strip())
        assert grid.shape[0] == len(names(modality)) * (24 + 18), modality
        # the first tile shows the clean input: area resizing keeps its mean level
        width = round(image.shape[1] * 24 / image.shape[0])
        clean = grid[18 : 18 + 24, :width].astype(float)
        assert abs(clean.mean() - image.mean()) < 2.0, modality


def test_preview_input_errors_name_the_file(tmp_path, capsys):
    tiny = np.zeros((5, 5), np.uint8)
    assert main(_preview(tmp_path, "rgb", tiny)) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert "rgb.png" in err and "too small" in err and "\n" not in err


def test_preview_unwritable_out_is_bad_input(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    args = _preview(tmp_path, "rgb", scene(24)[:, :, ::-1], "--names", "contrast")
    args[args.index("--out") + 1] = str(tmp_path / "file" / "sub")
    assert main(args) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert "--out" in err and "is a file, so no folder can be made under it" in err and "\n" not in err  # harness/paths.py, before any work
