"""The package's build hook: compiles the serving kernels (``KERNELS``: ``.pyx`` files)
with Cython next to its source, so editable installs (``uv sync``: ``make setup``) import it
from the source tree and wheels carry it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

KERNELS = {
    "dimrec.publish.id_table": "src/dimrec/publish/id_table.pyx",
    "dimrec.serve.summing": "src/dimrec/serve/summing.pyx",
}


class KernelBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:  # noqa: ARG002 (wheel and editable alike)
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension

        root = Path(self.root)
        os.chdir(root)  # build_ext places in-place builds relative to the working directory
        extensions = cythonize(
            [Extension(name, [str(root / source)]) for name, source in KERNELS.items()],
            compiler_directives={"language_level": "3"},
            quiet=True,
        )
        distribution = Distribution({"ext_modules": extensions, "package_dir": {"": "src"}})
        command = distribution.get_command_obj("build_ext")
        command.inplace = True  # type: ignore[attr-defined]
        command.build_temp = str(root / "build" / "kernels")  # type: ignore[attr-defined]
        command.ensure_finalized()
        command.run()
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        for source in KERNELS.values():
            built = sorted(root.glob(source.removesuffix(".pyx") + ".*.so"))
            build_data["artifacts"] += [str(path.relative_to(root)) for path in built]
