"""Moonshot's web API under uvicorn on 127.0.0.1, inside its own virtualenv.

Started as Moonshot's own `python -m moonshot web-api` starts it (its default configuration:
DEV environment, DEBUG logging to a file and to stdout), with its files kept under `--data`.

Usage (from the repository root, with Moonshot's interpreter):
    python -m bench.moonshot.server --data DIR --port PORT
"""

import argparse
import sys
from pathlib import Path

from bench.moonshot.child import activate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.moonshot.server")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args(argv)
    activate(arguments.data)
    # Imported after `activate`: Moonshot reads its data folders when its modules load.
    import uvicorn
    from moonshot.integrations.web_api.app import create_app
    from moonshot.integrations.web_api.container import Container
    from moonshot.integrations.web_api.logging_conf import (
        configure_app_logging,
        create_uvicorn_log_config,
    )
    from moonshot.integrations.web_api.services.utils.file_manager import create_temp_dir

    container = Container()
    container.config.from_dict(
        {
            "log": {"log_file_path": str(arguments.data / "web-api-log")},
            "temp_folder": str(arguments.data / "web-api-temp"),
        }
    )
    create_temp_dir(container.config.temp_folder())
    configure_app_logging(container.config)
    uvicorn.run(
        create_app(container.config),
        host="127.0.0.1",
        port=arguments.port,
        log_config=create_uvicorn_log_config(container.config),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
