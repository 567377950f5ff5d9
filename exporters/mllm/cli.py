"""``mmharness export mllm``: a saved transformers VLM folder -> three graphs + manifest (+ parity).

Torch and transformers are imported inside the command, so listing the exporters stays light.
"""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import ConfigError, ExitCode


def load_pretrained(folder: Path) -> object:
    """The model saved in ``folder`` (``save_pretrained``), by its config's architecture, offline."""
    import transformers

    if not (folder / "config.json").is_file():
        raise ConfigError(f"--model {folder}: no config.json; pass a folder written by save_pretrained")
    try:
        config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:  # an unknown model_type, a field transformers refuses
        raise ConfigError(f"{folder / 'config.json'}: transformers cannot read it ({str(error).splitlines()[0]}); save the model again") from None
    architectures = getattr(config, "architectures", None) or []
    if not architectures:
        raise ConfigError(f"{folder / 'config.json'}: architectures: empty; set it to the model class name")
    from types import SimpleNamespace

    from exporters.mllm.families import family_for_architecture, supported_architectures

    if architectures[0] not in supported_architectures():
        raise ConfigError(
            f"{folder / 'config.json'}: architecture {architectures[0]!r} is not supported by the MLLM exporter "
            f"(supported: {', '.join(supported_architectures())})"
        )
    try:  # a variant the family refuses (e.g. Llava with a Pixtral tower) is refused before the weights load
        family_for_architecture(architectures[0]).check(SimpleNamespace(config=config))
    except ConfigError as error:
        raise ConfigError(f"{folder / 'config.json'}: {error}") from None
    try:
        return getattr(transformers, architectures[0]).from_pretrained(folder, local_files_only=True).eval()
    except (OSError, ValueError) as error:  # truncated or foreign weights
        raise ConfigError(f"--model {folder}: the weights do not load ({str(error).splitlines()[0]}); save the model again") from None


def _processor_config(model_dir: Path) -> Path | None:
    """The model's own ``preprocessor_config.json`` when the folder has one (``processor.save_pretrained``)."""
    path = model_dir / "preprocessor_config.json"
    return path if path.is_file() else None


@click.command("mllm")
@click.option("--model", "model_dir", required=True, type=click.Path(path_type=Path), help="Folder from save_pretrained.")
@click.option("--tokenizer", required=True, type=click.Path(path_type=Path), help="HF tokenizers JSON (tokenizer.json).")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="Model directory to write.")
@click.option("--prompt-template", default="{image} {question}", show_default=True,
              help="Prompt with {image} (image tokens) and {question} placeholders.")
@click.option("--answer-mode", type=click.Choice(["choices", "generate"]), default="generate", show_default=True)
@click.option("--max-new-tokens", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--layout", "layouts", multiple=True, type=click.Choice(["og", "transformersjs"]), default=("og",),
              show_default=True, help="og is always written; transformersjs adds <out>/tjs (renamed graphs).")
@click.option("--parity/--no-parity", default=True, show_default=True,
              help="Compare greedy tokens and logits with transformers' generate; recorded in manifest.json.")
@click.option("--parity-question", multiple=True, default=("what is in the image ?",), show_default=True)
@click.option("--image-processor", type=click.Path(path_type=Path), default=None,
              help="preprocessor_config.json to use (default: the model folder's, else the family's default processor).")
@click.option("--image-block", type=click.Choice(["plain", "family"]), default=None,
              help="{image} becomes image tokens only (plain), or each image's whole block with the family's markers "
                   "(family: Idefics3 tiles, Qwen2-VL vision start/end, Gemma 3 crops; needed for several images per "
                   "prompt). Default: family where the processor splits or crops, else plain.")
def command(model_dir: Path, tokenizer: Path, out: Path, prompt_template: str, answer_mode: str,
            max_new_tokens: int, layouts: tuple[str, ...], parity: bool, parity_question: tuple[str, ...],
            image_processor: Path | None, image_block: str | None = None) -> int:
    """Export a vision-language model (a family of exporters/mllm/families/) to vision/embedding/decoder ONNX."""
    from exporters.mllm.preflight import check_export_inputs

    check_export_inputs(model_dir, tokenizer, out, image_processor)  # before torch loads: every input parses, the output can be written
    try:
        from exporters.mllm.export import ExportOptions, export_mllm
    except ImportError as error:
        raise ConfigError(f"exporting needs torch and transformers ({error}); pip install 'mmharness[export]'") from None
    model = load_pretrained(model_dir)
    options = ExportOptions(tokenizer=tokenizer, prompt_template=prompt_template, answer_mode=answer_mode,
                            max_new_tokens=max_new_tokens, transformersjs="transformersjs" in layouts,
                            source=str(model_dir), parity_questions=tuple(parity_question) if parity else (),
                            image_processor=image_processor or _processor_config(model_dir), image_block=image_block)
    manifest = export_mllm(model, out, options)  # a parity mismatch raises: nothing is written
    if parity:
        result = manifest["parity"]
        click.echo(f"parity: greedy tokens equal: {result['greedy_tokens_equal']}, "
                   f"max |logit diff| {result['max_abs_logit_diff']:.3g}", err=True)
    click.echo(str(out / "manifest.json"))
    return int(ExitCode.OK)
