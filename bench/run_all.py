"""Run every benchmark in turn (each needs PostgreSQL, heartbeats.py Redis too: DATABASE_URL and
CELERY_BROKER_URL; see each docstring) and print its figures."""

import subprocess
import sys
from pathlib import Path

BENCHES = ["forecasts.py", "measurements.py", "heartbeats.py"]


def main() -> int:
    failed = 0
    for name in BENCHES:
        print(f"=== {name}", flush=True)
        failed += subprocess.call([sys.executable, str(Path(__file__).parent / name)]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
