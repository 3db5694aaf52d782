"""Build hook for the small compiled kernels; all metadata lives in setup.cfg.

The extensions are optional: where no C compiler is available the install still succeeds and
mimic uses its numpy implementations of the same functions (slower; see mimic/envs/_kernels.c).
"""

from setuptools import Extension, setup

FLAGS = ["-O3"] if not __import__("sys").platform.startswith("win") else ["/O2"]

setup(
    ext_modules=[
        Extension("mimic.envs._kernels", ["mimic/envs/_kernels.c"], optional=True, extra_compile_args=FLAGS),
        Extension(
            "mimic.kinematics._reference", ["mimic/kinematics/_reference.c"], optional=True, extra_compile_args=FLAGS
        ),
        Extension("mimic.sim._linkstate", ["mimic/sim/_linkstate.c"], optional=True, extra_compile_args=FLAGS),
    ]
)
