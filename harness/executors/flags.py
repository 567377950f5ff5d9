"""``--executor``, ``--ray-address``, ``--ray-resources``: shared by ``mmharness run`` and ``bias``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from harness.executors.interface import EXECUTORS, ExecutorSpec

F = TypeVar("F", bound=Callable[..., Any])


def executor_options(command: F) -> F:
    """Add the three flags; the command receives them as ``executor``, ``ray_address``, ``ray_resources``."""
    command = click.option("--ray-resources", "ray_resources", default=None, metavar="JSON",
                           help="--executor ray: what each worker asks of the cluster, e.g. '{\"num_gpus\": 0.5}' "
                                "(default: num_gpus=1 for ort:cuda, ort:tensorrt and trt, else num_cpus=1)")(command)
    command = click.option("--ray-address", "ray_address", default=None, metavar="HOST:PORT",
                           help="--executor ray: the cluster's head (HOST:PORT, ray://HOST:PORT or auto); default: an embedded local Ray")(command)
    return click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
                        help="where the work units run: local (this process) or ray (actors on a Ray cluster; "
                             "pip install 'mmharness[ray]'); results are identical (docs/ray.md)")(command)  # type: ignore[return-value]


def executor_spec(executor: str = "local", ray_address: str | None = None, ray_resources: str | None = None) -> ExecutorSpec:
    """The flags as an ``ExecutorSpec`` (checked: ray-only flags need ``--executor ray``)."""
    from harness.executors import executor_for, parse_resources

    spec = ExecutorSpec(executor, ray_address, parse_resources(ray_resources))
    if spec.name == "local":
        executor_for(spec)  # refuses --ray-* flags without --executor ray
    return spec
