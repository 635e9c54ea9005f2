"""Fetch the JavaScript the book serves itself, so that built pages need no CDN.

MathJax 3 (typesets the math), RequireJS and the Jupyter widgets HTML manager (renders the
ipywidgets saved in executed chapters) come from the npm registry as pinned tarballs, checked
against the SHA-256 digests below, and are unpacked into ``book/_vendor/static/`` (ignored by
git). The book's ``_config.yml`` serves that folder as static files. Run once per checkout
(``make`` does it); afterwards building and viewing the book needs no network.

Uses ``npm pack`` when npm is installed (it honours the user's npm configuration), otherwise
downloads the same tarballs from the registry with the standard library.

The files are unpacked into a temporary folder beside ``static/`` that replaces it in one rename. Every
folder gets the mode ``mkdir`` gives (0755 under the usual umask 022) and every file the mode ``open``
gives (0644): ``mkdtemp`` alone would leave the folder 0700, and the book could then be built only by the
user who vendored it (the staging refuses an unreadable folder rather than building a site without MathJax).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
STATIC = HERE / "static"
REGISTRY = os.environ.get("npm_config_registry", "https://registry.npmjs.org").rstrip("/")

# name, version, sha256 of the tarball, {folder or file inside "package/" -> destination in static/}
PACKAGES = [
    ("mathjax", "3.2.2", "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09",
     {"es5/tex-chtml.js": "mathjax/tex-chtml.js",
      "es5/input/tex/extensions": "mathjax/input/tex/extensions",
      "es5/output/chtml/fonts/woff-v2": "mathjax/output/chtml/fonts/woff-v2",
      "es5/ui": "mathjax/ui",
      "es5/a11y": "mathjax/a11y",
      "LICENSE": "mathjax/LICENSE"}),
    ("requirejs", "2.3.8", "777158e89275e16bd51aec3ef714fbcb5dc45789e7078659933bc814916d7dec",
     {"require.js": "require.js"}),
    ("@jupyter-widgets/html-manager", "1.0.15",
     "2b9d65cb7913e1c7d671757a10008b32c9c2448d4429513371e55c07d6107638",
     {"dist": "widgets"}),
]
# bundles the book does not load (the widget manager is loaded as embed-amd.js via RequireJS)
SKIP = {"embed.js", "libembed-amd.js"}


def tarball_name(name: str, version: str) -> str:
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def fetch(name: str, version: str, sha256: str) -> bytes:
    """The package tarball, from the cache or the registry, verified against ``sha256``."""
    path = CACHE / tarball_name(name, version)
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        if shutil.which("npm"):
            subprocess.run(["npm", "pack", "--silent", f"{name}@{version}", "--pack-destination", str(CACHE)],
                           check=True, stdout=subprocess.DEVNULL)
        else:
            url = f"{REGISTRY}/{name}/-/{name.split('/')[-1]}-{version}.tgz"
            with urllib.request.urlopen(url, timeout=120) as r:
                path.write_bytes(r.read())
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        path.unlink()
        raise SystemExit(f"{path.name}: sha256 {digest} does not match the pinned {sha256}")
    return data


def unpack(data: bytes, mapping: dict[str, str], dest: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or member.name.endswith(".map") or Path(member.name).name in SKIP:
                continue
            inner = member.name.removeprefix("package/")
            for src, dst in mapping.items():
                if inner == src or inner.startswith(src + "/"):
                    target = dest / dst / inner[len(src):].lstrip("/") if inner != src else dest / dst
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish_modes(folder: Path) -> None:
    """Give ``folder`` and everything under it the modes ``mkdir`` and ``open`` give (0755 and 0644 under umask 022)."""
    mask = _umask()
    for top, dirs, files in os.walk(folder):
        os.chmod(top, 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(top, name), 0o666 & ~mask)


def main() -> int:
    for left in HERE.glob(".static.*"):  # temporary folders of an interrupted run
        shutil.rmtree(left, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=HERE, prefix=".static."))
    try:
        for name, version, sha256, mapping in PACKAGES:
            unpack(fetch(name, version, sha256), mapping, tmp)
        publish_modes(tmp)  # mkdtemp made it 0700: readable by its owner only
        old = HERE / ".static.replaced"
        if STATIC.exists():
            os.replace(STATIC, old)
        os.replace(tmp, STATIC)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"vendored {', '.join(f'{n}@{v}' for n, v, _, _ in PACKAGES)} into {STATIC.relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
