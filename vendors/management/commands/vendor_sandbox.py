from django.core.management.base import BaseCommand

from vendors.sandbox.server import SandboxServer, Sandbox


class Command(BaseCommand):
    help = (
        "Run the local simulators of every registered vendor (vendors/registry.py) on one port. Point an "
        "account's base URL at http://HOST:PORT/<kind> (the kinds are printed at start). See vendors/sandbox/server.py "
        "for the /_sandbox/ control endpoints (request log, reset, fault injection)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--latency-ms", type=float, default=0, help="Delay added to every vendor call.")
        parser.add_argument("--calls-after", type=float, default=None, metavar="SECONDS",
                            help="Simulated diallers record a call outcome on each lead this long after it "
                                 "arrived (the demo's outcomes); by default only when a test tells them.")

    def handle(self, host, port, latency_ms, calls_after, **options):
        server = SandboxServer((host, port), Sandbox(latency_ms=latency_ms, calls_after=calls_after))
        self.stdout.write(f"Vendor sandbox on {server.base_url} (simulators: {', '.join(server.sandbox.sims)})")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
