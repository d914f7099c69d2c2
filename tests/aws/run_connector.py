"""The connector process of the AWS-mode test: `python -m connector`, unchanged, with the call recorder."""

from __future__ import annotations

import runpy

from tests.aws import recorder

if __name__ == "__main__":
    recorder.install()
    runpy.run_module("connector", run_name="__main__", alter_sys=True)
