import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


def platform_commands(*, port: str = "8000", python: str = sys.executable) -> dict[str, list[str]]:
    """The command lines of the web server, the Celery worker and Celery beat, run from the
    repository root. Defined once: ``run_platform`` starts all three, ``bench/heartbeats.py`` starts
    the same worker and beat."""
    return {
        "web": [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": [python, "-m", "celery", "-A", "oscp_platform", "worker", "--loglevel=INFO", "--concurrency=2"],
        "beat": [python, "-m", "celery", "-A", "oscp_platform", "beat", "--loglevel=INFO"],
    }


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat together; Ctrl-C stops all three."

    def add_arguments(self, parser):
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))

    def handle(self, *args, port, **options):
        # The children read PORT: the URLs we advertise to partners (register, token URL) follow it.
        env = {**os.environ, "PORT": str(port)}
        processes = {name: subprocess.Popen(cmd, env=env) for name, cmd in platform_commands(port=port).items()}
        self.stdout.write(self.style.SUCCESS(f"Serving on http://127.0.0.1:{port}/admin/ (Ctrl-C stops everything)"))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in processes.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for proc in processes.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in processes.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
