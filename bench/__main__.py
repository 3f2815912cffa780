"""Run a benchmark: `make bench BENCH=provisioning` (or `python -m bench <name>` under config.devenv)."""

import importlib
import pkgutil
import sys
from pathlib import Path

NAMES = sorted(
    m.name
    for m in pkgutil.iter_modules([str(Path(__file__).parent)])
    if m.name not in {"common", "bypass", "settings_bypass", "settings_console", "generate"}
    and not m.name.startswith("zz_")
)


def main() -> int:
    names = sys.argv[1:] or NAMES
    unknown = set(names) - set(NAMES)
    if unknown:
        print(f"unknown bench {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}", file=sys.stderr)
        return 2
    for name in names:
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
