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
