from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0019_lead_partner_idx'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='lead',
            name='lead_partner_idx',
        ),
        migrations.AddIndex(
            model_name='lead',
            index=models.Index(condition=models.Q(('partner__isnull', False)), fields=['partner', '-id', 'campaign'], name='lead_partner_list_idx'),
        ),
    ]
