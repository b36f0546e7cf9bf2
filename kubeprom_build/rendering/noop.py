"""The answer of a no-op ``kpb build``: every environment is still what its stamp says.

``kpb build ENV`` with nothing changed is what editors, hooks and Makefiles run all day. This
module gives its answer through the pipeline's own steps (the same checks of the project's
directories and the same incremental stamp, :func:`pipeline._unchanged_since_stamp`) but
stops before anything would be evaluated or written, so no engine runs, no YAML is emitted
and no worker process starts. It answers None whenever it cannot prove the no-op (a stamp
out of date, a warning to show, another kpb building the environment, an error): the caller
then runs the real build, which reports all of that.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence

from kubeprom_build import fsutil
from kubeprom_build.errors import KpbError
from kubeprom_build.rendering import pipeline
from kubeprom_build.rendering.engine import SLOW_ENGINES, Engine, get_engine
from kubeprom_build.rendering.manifests import TreeDiff
from kubeprom_build.rendering.pipeline import BuildRequest, EnvResult


def unchanged_environments(
    request: BuildRequest, envs: Sequence[str]
) -> tuple[EnvResult, ...] | None:
    """The results :func:`pipeline.build` would report if every one of ``envs`` is skipped as
    up to date (as ``up to date (skipped)``), else None. Writes nothing, creates nothing."""
    try:
        engine = get_engine(request.engine)
        if engine.name in SLOW_ENGINES:
            return None  # the build prints a warning about it first
        request = dataclasses.replace(request, engine=engine.name)
        pipeline.check_project_dirs(request)
        for env in envs:
            pipeline.environment_file(request.project, env)
        results = []
        for env in envs:
            started = time.perf_counter()
            diff = _unchanged(request, env, engine)
            if diff is None:
                return None
            seconds = time.perf_counter() - started
            results.append(EnvResult(env, engine.name, seconds, diff=diff, skipped=True))
    except (KpbError, OSError):
        return None
    return tuple(results)


def _unchanged(request: BuildRequest, env: str, engine: Engine) -> TreeDiff | None:
    """:func:`pipeline._build_locked` up to its stamp check, under the environment's lock."""
    pipeline.environment_file(request.project, env)
    pipeline.check_project_dirs(request)
    target = pipeline._output_dir(request, env, create=False)
    state = fsutil.state_dir(request.project, create=False)
    if request.check:  # reads only, like the real check
        return pipeline._unchanged_since_stamp(request, env, engine, state, target)
    if not os.path.lexists(state / ".gitignore"):
        return None  # the real build would create .kpb/ first
    with fsutil.lock_if_free(state / "locks" / f"manifests-{env}.lock") as held:
        if not held:
            return None
        return pipeline._unchanged_since_stamp(request, env, engine, state, target)
