import time

from django.core.management.base import BaseCommand
from tqdm import tqdm

from vendors import services
from vendors.models import Delivery


class Command(BaseCommand):
    help = ("Deliver what is due to the vendors in the foreground, with a progress bar and a summary. "
            "Without --drain one pass is made; with --drain it keeps going until nothing is pending, "
            "waiting for retries and calling windows up to --max-wait seconds.")

    def add_arguments(self, parser):
        parser.add_argument("--drain", action="store_true", help="Keep going until no delivery is pending.")
        parser.add_argument("--max-wait", type=float, default=120,
                            help="With --drain: longest wait for the next due delivery (seconds).")
        parser.add_argument("--threads", type=int, default=None, help="Parallel senders (default DELIVERY_THREADS).")

    def handle(self, drain, max_wait, threads, **options):
        totals: dict[str, int] = {}
        started = time.monotonic()
        with tqdm(total=None, unit="item", desc="delivering", disable=options["verbosity"] < 1) as bar:
            while True:
                counts = services.deliver_due(threads=threads, progress=bar.update)
                for key, value in counts.items():
                    totals[key] = totals.get(key, 0) + value
                if not drain:
                    break
                wait = services.seconds_until_next_due(max_wait)
                if wait is None:
                    if Delivery.objects.filter(status__in=Delivery.OPEN).exists():
                        self.stdout.write(f"Nothing more is due within {max_wait:.0f}s (--max-wait); stopping.")
                    break
                time.sleep(max(0.2, min(wait, 5)))
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(totals.items())) or "nothing was due"
        self.stdout.write(self.style.SUCCESS(f"Done in {elapsed:.1f}s. {summary}."))
        left = services.pending_summary()
        self.stdout.write("Still pending: " + ", ".join(f"{k} {v}" for k, v in left.items()))
