"""The ONNX Runtime provider options the harness sets itself exist in onnxruntime's documented
lists (issue 19): a misspelt option is ignored silently by ONNX Runtime, so only this check
catches it. The lists are written out from the documentation pages named beside them."""

from __future__ import annotations

import itertools

import pytest

from harness.backends.ort import PROVIDERS, OrtBackend, provider_chain

# https://onnxruntime.ai/docs/execution-providers/TensorRT-ExecutionProvider.html#execution-provider-options
# (and OrtTensorRTProviderOptionsV2, https://onnxruntime.ai/docs/api/c/struct_ort_tensor_r_t_provider_options.html)
TENSORRT_EP_OPTIONS = frozenset({
    "device_id", "user_compute_stream", "has_user_compute_stream",
    "trt_max_workspace_size", "trt_max_partition_iterations", "trt_min_subgraph_size",
    "trt_fp16_enable", "trt_bf16_enable", "trt_int8_enable", "trt_int8_calibration_table_name", "trt_int8_use_native_calibration_table",
    "trt_dla_enable", "trt_dla_core",
    "trt_engine_cache_enable", "trt_engine_cache_path", "trt_engine_cache_prefix", "trt_dump_subgraphs",
    "trt_force_sequential_engine_build", "trt_context_memory_sharing_enable", "trt_layer_norm_fp32_fallback",
    "trt_timing_cache_enable", "trt_timing_cache_path", "trt_force_timing_cache", "trt_detailed_build_log",
    "trt_build_heuristics_enable", "trt_sparsity_enable", "trt_builder_optimization_level", "trt_auxiliary_streams",
    "trt_tactic_sources", "trt_extra_plugin_lib_paths", "trt_profile_min_shapes", "trt_profile_max_shapes", "trt_profile_opt_shapes",
    "trt_cuda_graph_enable", "trt_dump_ep_context_model", "trt_ep_context_file_path", "trt_ep_context_embed_mode",
    "trt_engine_decryption_enable", "trt_engine_decryption_lib_path", "trt_weight_stripped_engine_enable",
    "trt_onnx_model_folder_path", "trt_engine_hw_compatible", "trt_op_types_to_exclude",
})
# https://onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html#configuration-options
# (and OrtCUDAProviderOptions, https://onnxruntime.ai/docs/api/c/struct_ort_c_u_d_a_provider_options.html)
CUDA_EP_OPTIONS = frozenset({
    "device_id", "user_compute_stream", "has_user_compute_stream", "do_copy_in_default_stream", "use_ep_level_unified_stream",
    "gpu_mem_limit", "arena_extend_strategy", "cudnn_conv_algo_search", "cudnn_conv_use_max_workspace", "cudnn_conv1d_pad_to_nc1d",
    "enable_cuda_graph", "enable_skip_layer_norm_strict_mode", "use_tf32", "gpu_external_alloc", "gpu_external_free",
    "gpu_external_empty_cache", "prefer_nhwc", "tunable_op_enable", "tunable_op_tuning_enable", "tunable_op_max_tuning_duration_ms",
    "default_memory_arena_cfg", "fuse_conv_bias", "sdpa_kernel",
})
DOCUMENTED = {"TensorrtExecutionProvider": TENSORRT_EP_OPTIONS, "CUDAExecutionProvider": CUDA_EP_OPTIONS, "CPUExecutionProvider": frozenset()}


def test_the_provider_names_are_onnxruntimes():
    assert PROVIDERS == {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


@pytest.mark.parametrize(("device", "precision"), [("cpu", "fp32"), ("cuda", "fp32"), *itertools.product(["tensorrt"], ["fp32", "fp16", "int8"])])
def test_every_option_the_harness_sets_is_documented_for_its_provider(device, precision):
    options = {"precision": precision} if device == "tensorrt" else {}
    backend = OrtBackend.from_options("m.onnx", device, options)  # no user options: only what the harness sets
    providers, provider_options = provider_chain(backend, "1.22.0", "8.7", "10.9.0")
    assert len(providers) == len(provider_options) and providers[0] == PROVIDERS[device]
    for provider, chosen in zip(providers, provider_options):
        assert sorted(set(chosen) - DOCUMENTED[provider]) == [], f"{provider} has no such option"


def test_a_misspelt_option_would_be_caught():
    backend = OrtBackend.from_options("m.onnx", "tensorrt", {"trt_fp16_enabled": "True"})  # a user's typo, passed through
    _, (trt, _) = provider_chain(backend, "1.22.0", "8.7", "10.9.0")
    assert sorted(set(trt) - TENSORRT_EP_OPTIONS) == ["trt_fp16_enabled"]
