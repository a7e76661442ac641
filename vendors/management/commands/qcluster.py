"""django-q2's ``qcluster`` with a clean stop (see vendors/stopping.py).

It replaces django-q2's command of the same name (``vendors`` comes before
``django_q`` in INSTALLED_APPS): same options, same cluster; the only change is
that SIGTERM / SIGINT to the main process first tells delivery runs to stop.
"""
import os

from django.conf import settings
from django_q.cluster import Cluster
from django_q.management.commands.qcluster import Command as DjangoQCommand

from vendors import stopping


class CleanStopCluster(Cluster):
    def sig_handler(self, signum, frame):
        stopping.request()  # before django-q2 waits for its workers to finish their tasks
        super().sig_handler(signum, frame)


class Command(DjangoQCommand):
    help = ("Starts a Django Q cluster. SIGTERM or SIGINT to this process stops it cleanly: delivery runs "
            "record the batches they hold and take no more, so the cluster exits within Q_TIMEOUT.")

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018  (django-q2 signs tasks with it: fail early, as its command does)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        stopping.arm()
        cluster = CleanStopCluster()
        cluster.start()
        if options.get("run_once"):
            cluster.stop()
