"""Runs one Pulumi Python program for :mod:`tests.engine.language_host`, inside the project's venv.

Behaviour assumed (the real ``pulumi-language-python-exec`` of pulumi/pulumi, commit 1b5949891b):
the config arrives as JSON in ``PULUMI_CONFIG`` with the secret keys in
``PULUMI_CONFIG_SECRET_KEYS`` and is set with ``pulumi.runtime.set_all_config``; the runtime is
configured from the command line (monitor, engine, project, root directory, stack, organization,
parallel, dry run); the working directory becomes ``--pwd``; the program runs as ``__main__``
inside ``pulumi.runtime.run_in_stack`` on an event loop whose default executor has
``4 * parallel`` threads; a ``RunError`` is logged as an error and exits 1; any other exception is
logged with its traceback and exits 32, which tells the host the user has seen the error.

This file is run by path with the program's interpreter, so it imports nothing from the project.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import runpy
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor

import pulumi
import pulumi.runtime

SHOWN_TO_USER_EXIT_CODE = 32


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run a Pulumi Python program")
    for flag in (
        "project",
        "root_directory",
        "stack",
        "parallel",
        "dry_run",
        "pwd",
        "monitor",
        "engine",
        "tracing",
        "organization",
    ):
        parser.add_argument(f"--{flag}")
    parser.add_argument("program")
    parser.add_argument("args", nargs="*")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    pulumi.runtime.set_all_config(
        pulumi.runtime.get_config_env(), pulumi.runtime.get_config_secret_keys_env()
    )
    parallel = int(args.parallel) if args.parallel else 0
    settings = pulumi.runtime.Settings(
        monitor=args.monitor,
        engine=args.engine,
        project=args.project,
        stack=args.stack,
        parallel=parallel,
        dry_run=args.dry_run == "true",
        organization=args.organization,
        root_directory=args.root_directory,
    )
    pulumi.runtime.configure(settings)
    sys.argv = [args.program, *args.args]
    if args.pwd:
        os.chdir(args.pwd)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    executor = ThreadPoolExecutor(max_workers=max(parallel, 1) * 4)
    loop.set_default_executor(executor)
    # The SDK leaves futures unobserved when a program fails; asyncio's complaints about them
    # would bury the real error.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    exit_code = 1
    try:

        def run() -> None:
            runpy.run_path(args.program, run_name="__main__")

        loop.run_until_complete(pulumi.runtime.run_in_stack(run))
        exit_code = 0
    except pulumi.RunError as error:
        pulumi.log.error(str(error))
    except Exception:  # the program's own error, whatever it is, goes to the engine's log
        pulumi.log.error("Program failed with an unhandled exception:\n" + traceback.format_exc())
        exit_code = SHOWN_TO_USER_EXIT_CODE
    finally:
        executor.shutdown(wait=True)
        loop.close()
        sys.stdout.flush()
        sys.stderr.flush()
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
