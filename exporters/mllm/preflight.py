"""What ``export mllm`` reads, checked before torch and transformers load: a half-written
saved model (invalid ``config.json``, no weights file) or a tokenizer that does not parse used
to surface as an OSError traceback, or worse, as a manifest naming a broken tokenizer."""

from __future__ import annotations

from pathlib import Path

from harness.errors import ConfigError
from harness.paths import input_dir, input_file, output_dir
from harness.safeload import json_loads

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def check_export_inputs(model_dir: Path, tokenizer: Path, out: Path, image_processor: Path | None = None) -> None:
    """One-line ``ConfigError`` for the first unusable input or output path."""
    output_dir(out, "--out", files=("manifest.json", "tokenizer.json", "tokenizer_config.json", "genai_config.json",
                                    "vision.onnx", "embedding.onnx", "decoder.onnx"))
    input_dir(model_dir, "--model")
    config = model_dir / "config.json"
    if not config.is_file():
        raise ConfigError(f"--model {model_dir}: no config.json; pass a folder written by save_pretrained")
    try:
        doc = json_loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"{config}: not a valid config.json ({str(error).splitlines()[0]}); save the model again with save_pretrained") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{config}: expected a JSON object, got {type(doc).__name__}; save the model again with save_pretrained")
    if not any((model_dir / name).is_file() for name in WEIGHT_FILES):
        raise ConfigError(f"--model {model_dir}: no weights file ({', '.join(WEIGHT_FILES)}); the folder is incomplete, "
                          "save the model again with save_pretrained")
    input_file(tokenizer, "--tokenizer")
    from tokenizers import Tokenizer

    try:
        Tokenizer.from_file(str(tokenizer))
    except Exception as error:  # noqa: BLE001  (tokenizers raises a bare Exception on malformed JSON)
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"--tokenizer {tokenizer}: not a Hugging Face tokenizers JSON ({first}); pass the model's tokenizer.json") from None
    processor = image_processor or model_dir / "preprocessor_config.json"
    if image_processor is not None or processor.exists():
        _check_processor_file(processor, "--image-processor" if image_processor is not None else f"--model {model_dir}:")


def _check_processor_file(path: Path, flag: str) -> None:
    """A preprocessor_config.json that is a readable JSON object (the hardened loader)."""
    input_file(path, flag)
    try:
        doc = json_loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"{flag} {path}: not a valid preprocessor_config.json ({str(error).splitlines()[0]}); "
                          "save the image processor with save_pretrained") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{flag} {path}: expected a JSON object, got {type(doc).__name__}; "
                          "save the image processor with save_pretrained")
