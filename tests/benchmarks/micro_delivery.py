"""CPU per delivered item: the claim/process loop in one thread against a sandbox without latency.

Not part of `make bench` (no ``bench_`` prefix): a tool for measuring a pipeline change side by side
when the machine is shared, since CPU seconds per item move far less with load than items/s do.
Prints CPU ms per item of this process, of its PostgreSQL backend and of the sandbox, and statements
per item; with ``p`` a cProfile listing (SORT=tottime to change the order, NOQ=1 to skip query
counting, SHOWQ=1 to print the first statements). It empties the delivery and lead tables of the
database it is given: use a database of your own.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mine .venv/bin/python tests/benchmarks/micro_delivery.py aktify 3000 [p]
"""
import os, sys, time, socket, subprocess, cProfile, pstats, datetime as dt
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
os.environ.setdefault("DEBUG", "true")
import django; django.setup()
from django.core.management import call_command
from django.db import connection, reset_queries
kind, N = sys.argv[1], int(sys.argv[2])
prof = len(sys.argv) > 3
call_command("migrate", verbosity=0)
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
sb = subprocess.Popen([sys.executable, "manage.py", "vendor_sandbox", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1.5)
base = f"http://127.0.0.1:{port}"
try:
    from campaigns import intake
    from campaigns.models import WEEKDAYS, Campaign, Lead
    from vendors.models import Delivery, Destination, VendorAccount, DeliveryAttempt, VendorExchange
    from vendors import services
    Delivery.objects.all().delete(); VendorExchange.objects.all().delete(); Lead.objects.all().delete()
    url = {"aimylogic": base + "/aimylogic", "aktify": base + "/aktify", "eightbyeight": base + "/eightbyeight/api/tstats/campaigns",
           "platform": base + "/platform/platform-api"}[kind]
    acc, _ = VendorAccount.objects.update_or_create(name="m-" + kind, defaults=dict(kind=kind, base_url=url,
        credentials={"tenant_id": "bench", "token": "t", "api_key": "k"}, max_requests_per_second=5000, timeout_seconds=5))
    c, _ = Campaign.objects.update_or_create(slug="m-" + kind, defaults=dict(name="m", status="active", default_region="US",
        timezone="America/Los_Angeles", calling_days=",".join(WEEKDAYS), calling_start=dt.time(0), calling_end=dt.time(23, 59, 59)))
    Destination.objects.update_or_create(campaign=c, account=acc, defaults=dict(remote_ref={"eightbyeight": "101", "platform": "100"}.get(kind, ""),
        settings={"bulk_poll_seconds": 0} if kind == "platform" else {}, secret="" if kind in ("eightbyeight", "platform") else "sec"))
    rows = [{"phone": f"+1415{2_000_000+i:07d}", "first_name": "A", "last_name": "B", "region": "CA", "postal_code": "94103",
             "email": f"a{i}@example.com"} for i in range(N)]
    for i in range(0, N, 1000):
        intake.submit(rows[i:i+1000], campaign=c)
    from django.conf import settings; settings.DEBUG = not os.environ.get("NOQ")
    reset_queries()
    pr = cProfile.Profile()
    def ticks(pid):
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()"); bpid = cur.fetchone()[0]
    pg0, sb0 = ticks(bpid), ticks(sb.pid)
    t = time.process_time(); w = time.perf_counter()
    if prof: pr.enable()
    n = 0
    while True:
        cl = services.claim()
        if cl is None: break
        services.process(cl); n += len(cl.deliveries)
    if prof: pr.disable()
    cpu = time.process_time() - t; wall = time.perf_counter() - w
    q = len(connection.queries)
    pgc, sbc = ticks(bpid) - pg0, ticks(sb.pid) - sb0
    st = dict(Delivery.objects.values_list("status").annotate(n=django.db.models.Count("id")))
    print(f"{kind}: {n} items, CPU {cpu/n*1000:.3f} ms/item, wall {wall/n*1000:.3f} ms/item, queries/item {q/n:.2f}, PG {pgc/n*1000:.3f} ms/item, sandbox {sbc/n*1000:.3f} ms/item, {st}")
    if os.environ.get("SHOWQ"):
        for qq in connection.queries[:40]: print("Q", qq["sql"][:160])
    if prof: pstats.Stats(pr).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(60)
finally:
    sb.terminate()
