"""``manage.py oscp_conformance URL``: check a partner's own OSCP 2.0 endpoints against the cases
in ``connections/conformance.py``; exits non-zero when any case fails."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from connections.choices import Profile
from connections.conformance import CO, CP, Context, Receiver, conformance_run
from connections.simulator.wire import dialect_of


class Command(BaseCommand):
    help = "Check a partner's OSCP 2.0 endpoints (its Capacity Provider or Optimizer) case by case."

    def add_arguments(self, parser):
        parser.add_argument("url", help="The partner's OSCP base URL, e.g. https://cp.example.com/oscp/cp/2.0")
        parser.add_argument("--role", choices=(CP, CO), default=CP, help="The partner's role (default cp).")
        parser.add_argument("--token", required=True, help="The token to present to the partner.")
        parser.add_argument("--profile", default=Profile.OSCP_20.value, choices=Profile.values)
        parser.add_argument("--group", default="group-1", help="A group id the partner knows.")
        parser.add_argument(
            "--our-token", default="", help="The token the partner calls us with (default: new, sent in register)."
        )
        parser.add_argument("--no-register", action="store_true", help="Leave out the register exchange.")
        parser.add_argument("--receiver-host", default="127.0.0.1")
        parser.add_argument("--receiver-port", type=int, default=0)
        parser.add_argument("--receiver-url", default="", help="How the partner reaches our receiver.")
        parser.add_argument("--timeout", type=float, default=5.0, help="Seconds to wait for an answer or a reply.")
        parser.add_argument("--heartbeat-seconds", type=float, default=1.0, help="The interval our handshake asks for.")
        parser.add_argument("--json", action="store_true", help="Print the results as JSON.")

    def handle(self, *args, **options):
        if options["timeout"] <= 0 or options["heartbeat_seconds"] < 1:
            raise CommandError("--timeout must be more than 0 and --heartbeat-seconds at least 1.")
        dialect = dialect_of(options["profile"])
        receiver = Receiver(
            host=options["receiver_host"],
            port=options["receiver_port"],
            public_url=options["receiver_url"],
            dialect=dialect,
        )
        ctx = Context(
            url=options["url"],
            role=options["role"],
            token=options["token"],
            dialect=dialect,
            receiver=receiver,
            group=options["group"],
            timeout=options["timeout"],
            heartbeat_seconds=options["heartbeat_seconds"],
        )
        if options["our_token"]:
            ctx.our_token = options["our_token"]
        try:
            results = conformance_run(ctx, register=not options["no_register"])
        finally:
            receiver.stop()
        failed = [result for result in results if not result.passed]
        if options["json"]:
            report = {
                "url": options["url"],
                "role": options["role"],
                "passed": not failed,
                "cases": [vars(result) | {"seconds": round(result.seconds, 3)} for result in results],
            }
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(f"OSCP 2.0 conformance of {options['url']} as {options['role']}:")
            for result in results:
                mark = "PASS" if result.passed else "FAIL"
                self.stdout.write(f"  {mark}  {result.name:<26} {result.rule}")
                if not result.passed:
                    self.stdout.write(f"        {result.detail}")
            self.stdout.write(f"{len(results) - len(failed)} passed, {len(failed)} failed")
        if failed:
            raise SystemExit(1)
