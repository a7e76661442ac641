from django.db import migrations


def install(apps, schema_editor):
    from vendors.schedules import install_schedules

    install_schedules(apps.get_model("django_q", "Schedule"))


class Migration(migrations.Migration):
    dependencies = [("vendors", "0003_install_schedules")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
