"""The virtualenv Moonshot runs in, made by the harness in bench/.moonshot: never a dependency."""

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

REQUIREMENT = "aiverify-moonshot[web-api]==0.7.6"
HOME = Path(__file__).resolve().parents[1] / ".moonshot"
INSTALL_TIMEOUT_S = 1800.0
MODULES = Path(__file__).resolve().parent / "modules"
# Where Moonshot looks for each data module we provide, as (folder, file name in that folder).
DATA_MODULES = {
    "sqlite.py": ("databases-modules", "sqlite.py"),
    "jsonio.py": ("io-modules", "jsonio.py"),
    "echo.py": ("connectors", "echo.py"),
    "redteaming.py": ("runners-modules", "redteaming.py"),
}
# Every folder Moonshot's `api_set_environment_variables` takes (it ignores missing paths).
DATA_FOLDERS = (
    "attack-modules", "bookmarks", "connectors", "connectors-endpoints", "context-strategy",
    "cookbooks", "databases", "databases-modules", "datasets", "io-modules", "metrics",
    "prompt-templates", "recipes", "results", "results-modules", "runners", "runners-modules",
)


class MoonshotSetupError(RuntimeError):
    """The Moonshot virtualenv could not be made."""


def venv_python(home: Path = HOME) -> Path:
    return home / "venv" / "bin" / "python"


def ensure_venv(home: Path = HOME, *, wheel_cache: Path | None = None) -> Path:
    """The Moonshot interpreter, after creating its virtualenv if it is missing or incomplete."""
    python = venv_python(home)
    marker = home / "venv" / ".sparring-bench-installed"
    if python.exists() and marker.exists() and marker.read_text() == REQUIREMENT:
        return python
    home.mkdir(parents=True, exist_ok=True)
    if (home / "venv").exists():
        shutil.rmtree(home / "venv")
    log.info("Creating Moonshot's virtualenv in %s (%s)", home / "venv", REQUIREMENT)
    _run([sys.executable, "-m", "venv", str(home / "venv")], home)
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if wheel_cache is not None:
        wheel_cache.mkdir(parents=True, exist_ok=True)
        _run(
            [*install[:3], "download", "--quiet", "--dest", str(wheel_cache),
             "--find-links", str(wheel_cache), REQUIREMENT],
            home,
        )
        install += ["--no-index", "--find-links", str(wheel_cache)]
    _run([*install, REQUIREMENT], home)
    marker.write_text(REQUIREMENT)
    return python


def _run(command: list[str], home: Path) -> None:
    with (home / "install.log").open("ab") as output:
        try:
            completed = subprocess.run(
                command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                timeout=INSTALL_TIMEOUT_S, check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise MoonshotSetupError(
                f"{' '.join(command[:4])} ... took over {INSTALL_TIMEOUT_S:.0f} s"
            ) from error
    if completed.returncode != 0:
        raise MoonshotSetupError(
            f"{' '.join(command[:4])} ... failed with code {completed.returncode}; "
            f"see {home / 'install.log'}"
        )


def prepare_data(root: Path, endpoints: list[str]) -> Path:
    """A fresh Moonshot data folder: our data modules plus one echo endpoint file per endpoint."""
    if root.exists():
        shutil.rmtree(root)
    for folder in DATA_FOLDERS:
        (root / folder).mkdir(parents=True)
    for source, (folder, name) in DATA_MODULES.items():
        shutil.copyfile(MODULES / source, root / folder / name)
    for endpoint in endpoints:
        (root / "connectors-endpoints" / f"{endpoint}.json").write_text(
            _endpoint_json(endpoint)
        )
    return root


def _endpoint_json(endpoint: str) -> str:
    # Moonshot rate-limits every connector; the limits are set high enough never to bind here.
    return json.dumps(
        {
            "name": endpoint,
            "connector_type": "echo",
            "uri": "",
            "token": "",
            "max_calls_per_second": 100_000,
            "max_concurrency": 1_000,
            "model": "echo",
            "params": {},
        },
        indent=2,
    )
