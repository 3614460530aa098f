"""Builds the Lambda package `make deploy` ships: `chalice package` with infra/template.yaml and
infra/app.yaml merged in (one stack), then the layer slimmed and everything compiled to bytecode.

    python -m infra.build --stage dev [--out build/dev] [--no-slim] [--no-compile]

Slimming drops what Lambda's Python runtime already ships (boto3, botocore and their own deps) and
what Holdfast never imports (twilio's asyncio stack, phonenumbers' geocoding and carrier data, the
Powertools utilities other than logging, metrics, parameters and data masking), and strips the native
libraries' symbol tables (`strip --strip-unneeded`: their exported symbols stay; libsodium's shrinks
from 5.3 to 0.6 MB). Issue 24: at most 25 MB unzipped (tests/packaging/test_lambda_package.py).
Bytecode: the task root and /opt are read-only in Lambda, so an uncompiled package is compiled from
source on every cold start; .pyc files use unchecked hashes (zip timestamps do not matter)."""
from __future__ import annotations

import argparse
import compileall
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
# What Lambda's python3.11 runtime already has (and a copy in the layer would shadow with a second
# botocore: 30 MB and a slower cold start).
RUNTIME_SHIPS = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py")
# What Holdfast never imports: twilio's asyncio client (aiohttp and its dependencies) and
# phonenumbers' geocoder/carrier data (Holdfast uses parsing, validity, type, region and time zone).
NEVER_IMPORTED = ("aiohttp", "aiohttp_retry", "aiosignal", "aiohappyeyeballs", "yarl", "multidict",
                  "frozenlist", "propcache", "attr", "attrs", "phonenumbers/geodata", "phonenumbers/carrierdata")
# twilio.rest.Client imports each product's package on first use; Holdfast uses the core API only
# (calls, messages), so the other products' REST packages (about 30 MB with bytecode) are never imported.
TWILIO_REST_KEPT = {"__init__.py", "api"}
# Powertools: Holdfast imports its Logger, Metrics, Parameters and DataMasking (and what they import);
# the event handler (Chalice routes instead) and the other utilities are never imported.
POWERTOOLS_UNUSED = ("event_handler",)
POWERTOOLS_UTILITIES_KEPT = {"__init__.py", "parameters", "data_masking", "jmespath_utils", "typing",
                             "serialization.py", "__pycache__"}
SITE = "python/lib/python3.11/site-packages"
LAYER_LIMIT = 25_000_000  # bytes unzipped (issue 24)
# Product code no Lambda function imports: the in-memory world (tests, the simulator, the benchmarks).
LOCAL_ONLY = ("chalicelib/adapters/memory",)


@dataclass
class Package:
    out: Path
    template: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # bytes unzipped: layer/app, before/after

    @property
    def layer_zip(self) -> Path:
        return self.out / "layer-deployment.zip"

    @property
    def app_zip(self) -> Path:
        return self.out / "deployment.zip"


def merge_template() -> dict[str, Any]:
    """infra/template.yaml with infra/app.yaml over it (app.yaml wins), Chalice's deep-merge rules."""
    from chalice.package import TemplateDeepMerger

    base = yaml.safe_load((INFRA / "template.yaml").read_text(encoding="utf-8"))
    overlay = yaml.safe_load((INFRA / "app.yaml").read_text(encoding="utf-8"))
    return TemplateDeepMerger().merge(overlay, base)


def chalice_package(stage: str, out: Path) -> dict[str, Any]:
    """Runs `chalice package` (no AWS calls; pip fetches Linux wheels) and returns the SAM template."""
    out.mkdir(parents=True, exist_ok=True)
    merge = out.parent / f"{out.name}-merge.json"
    merge.write_text(json.dumps(merge_template()), encoding="utf-8")
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
           # secrets are in Parameter Store in AWS: importing the app here must not warn about them
           "HOLDFAST_PARAMETERS_PATH": f"/holdfast/{stage}"}
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run([str(chalice), "package", "--stage", stage, "--merge-template", str(merge), str(out)],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return json.loads((out / "sam.json").read_text(encoding="utf-8"))


def strip_native(site: Path) -> None:
    """Drop the symbol tables of the native libraries (what `strip --strip-unneeded` keeps is what the
    dynamic loader needs). Without binutils the layer is built unstripped, and says so."""
    tool = shutil.which("strip")
    if tool is None:
        print("warning: no `strip` (binutils): native libraries left with their symbols; the layer is larger")
        return
    for library in site.rglob("*.so*"):
        if library.is_file():
            subprocess.run([tool, "--strip-unneeded", str(library)], check=True)


def unzipped_size(path: Path) -> int:
    with zipfile.ZipFile(path) as zf:
        return sum(i.file_size for i in zf.infolist())


def _rewrite_zip(path: Path, slim: bool, compile_: bool, drop: tuple[str, ...] = ()) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(path) as zf:
            zf.extractall(root)
        for name in drop:
            shutil.rmtree(root / name, ignore_errors=True)
        if slim:
            site = root / SITE
            for product in (site / "twilio" / "rest").iterdir():
                if product.name not in TWILIO_REST_KEPT:
                    shutil.rmtree(product) if product.is_dir() else product.unlink()
            powertools = site / "aws_lambda_powertools"
            unused = [powertools / name for name in POWERTOOLS_UNUSED] + \
                [u for u in (powertools / "utilities").iterdir() if u.name not in POWERTOOLS_UTILITIES_KEPT]
            for name in (*RUNTIME_SHIPS, *NEVER_IMPORTED):
                unused += [site / name, *site.glob(f"{name.split('/')[-1]}-*.dist-info")] \
                    if "/" not in name else [site / name]
            for target in unused:
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
            strip_native(site)
        if compile_:
            compileall.compile_dir(str(root), quiet=1, workers=1, ddir="",
                                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        path.unlink()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(p for p in root.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(str(file.relative_to(root)), date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, file.read_bytes())


def build(stage: str = "dev", out: Path | None = None, slim: bool = True, compile_: bool = True) -> Package:
    pkg = Package(out or ROOT / "build" / stage)
    if pkg.out.exists():
        shutil.rmtree(pkg.out)
    pkg.template = chalice_package(stage, pkg.out)
    pkg.sizes = {"layer_before": unzipped_size(pkg.layer_zip), "app_before": unzipped_size(pkg.app_zip)}
    _rewrite_zip(pkg.layer_zip, slim, compile_)
    _rewrite_zip(pkg.app_zip, False, compile_, drop=LOCAL_ONLY)
    pkg.sizes.update(layer_after=unzipped_size(pkg.layer_zip), app_after=unzipped_size(pkg.app_zip))
    return pkg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-slim", action="store_true")
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args(argv)
    pkg = build(args.stage, args.out, slim=not args.no_slim, compile_=not args.no_compile)
    mb = {k: round(v / 1e6, 1) for k, v in pkg.sizes.items()}
    print(f"package in {pkg.out}: layer {mb['layer_before']} MB -> {mb['layer_after']} MB unzipped, "
          f"app {mb['app_before']} MB -> {mb['app_after']} MB (with bytecode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
