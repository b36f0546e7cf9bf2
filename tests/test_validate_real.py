"""The stack's dev/stg/prd manifests and upstream kube-prometheus validate clean (``realworld``).

Builds each environment through kpb's own pipeline against the local kube-prometheus v0.18.0
(as tests/test_stack_real.py does) and runs the build gate over it; the upstream
``manifests/`` directory is read from disk. Skipped without ``KPB_MIRRORS``.
"""

from __future__ import annotations

import pytest

from kubeprom_build import validation
from kubeprom_build.rendering.buildstate import new_salt
from kubeprom_build.rendering.engine import get_engine
from kubeprom_build.rendering.pipeline import BuildRequest, render
from tests.helpers.realworld import SKIP_REASON, kube_prometheus_dir
from tests.test_stack_real import ENVS, ROOT, VENDOR

pytestmark = pytest.mark.realworld


@pytest.mark.skipif(VENDOR is None, reason=SKIP_REASON)
@pytest.mark.parametrize("env", ENVS)
def test_the_stack_validates_clean(env: str) -> None:
    assert VENDOR is not None
    request = BuildRequest(project=ROOT, vendor_dir=VENDOR, engine="rs")
    rendered = render(request, env, get_engine("rs"), new_salt())
    gate = validation.Gate(((env, validation.Options(strict=True)),))
    result = gate(env, rendered.files, rendered.values)
    assert result.findings == (), [f.line(env) for f in result.findings]
    assert result.objects > 90
    # the files on disk would say the same as the values they were rendered from
    from_files = validation.validate_files(env, rendered.files, validation.Options(strict=True))
    assert from_files.findings == () and from_files.objects == result.objects


@pytest.mark.skipif(kube_prometheus_dir() is None, reason=SKIP_REASON)
@pytest.mark.parametrize("version", validation.kube_versions()[-5:])
def test_upstream_kube_prometheus_validates_clean(version: str) -> None:
    folder = kube_prometheus_dir()
    assert folder is not None
    options = validation.Options(kube_version=version, strict=True)
    result = validation.validate_directory("kp", folder / "src" / "manifests", options)
    assert result.findings == (), [f.line("kp") for f in result.findings]
    assert result.objects == 131
