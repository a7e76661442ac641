"""Stored time zones become canonical IANA ids (campaigns.zones), as intake now requires.

An old alias becomes the zone it stands for (US/Eastern -> America/New_York). A
lead's zone that is no zone at all (posixrules, localtime) is cleared: its calling
window then comes from its number, as it already did (such a name never opened a
window). A campaign's is left for staff to correct: the form names the problem.
"""
from django.db import migrations


def canonical_time_zones(apps, schema_editor):
    from campaigns.zones import canonical_zone

    for name, clear in (("Lead", True), ("Campaign", False)):
        model = apps.get_model("campaigns", name)
        # one pass over the distinct names (a handful), one UPDATE per name that changes
        for zone in model.objects.exclude(timezone="").order_by().values_list("timezone", flat=True).distinct():
            canonical = canonical_zone(zone)
            if canonical != zone and (canonical or clear):
                model.objects.filter(timezone=zone).update(timezone=canonical or "")


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0006_leaner_lead_indexes")]
    operations = [migrations.RunPython(canonical_time_zones, migrations.RunPython.noop, elidable=True)]
