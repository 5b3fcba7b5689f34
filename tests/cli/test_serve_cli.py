"""``restyle serve``: registered, documented, and one clear line when the web extra is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

import restyle.cli.serve as serve


def test_serve_help_lists_its_options(cli) -> None:
    result = cli("serve", "--help")
    assert result.exit_code == 0
    for option in ("--host", "--port", "--data-dir", "--workers"):
        assert option in result.stdout


def test_missing_web_extra_is_one_line_naming_the_install_command(
    cli, one_error_line, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve, "missing_web_modules", lambda: ["fastapi"])
    line = one_error_line(cli("serve"), "pip install -e '.[web]'", "fastapi")
    assert line.startswith("error: the web app needs the web extra")


def test_the_cli_imports_without_the_web_extra() -> None:
    code = (
        "import sys\n"
        "for m in ('fastapi', 'uvicorn', 'multipart', 'starlette'):\n"
        "    sys.modules[m] = None  # importing any of them now fails\n"
        "import restyle.cli.app\n"
        "print(restyle.cli.serve.missing_web_modules() is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
