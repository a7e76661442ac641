from django.db import migrations


def install(apps, schema_editor):
    from vendors.schedules import install_schedules

    install_schedules(apps.get_model("django_q", "Schedule"))


def remove(apps, schema_editor):
    from vendors.schedules import SCHEDULES

    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s["name"] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("vendors", "0002_delivery_pipeline"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(install, remove)]
