"""The one compiled part: the fp16 top-k search kernel (models/retrieval/_fp16_topk.c); everything else is pyproject."""

from setuptools import Extension, setup

# optional: where it cannot be compiled (no C compiler, MSVC), the install goes on and search takes its torch path.
setup(
    ext_modules=[
        Extension(
            "models.retrieval._fp16_topk",
            ["models/retrieval/_fp16_topk.c"],
            extra_compile_args=["-O3", "-pthread"],
            extra_link_args=["-pthread"],
            optional=True,
        )
    ]
)
