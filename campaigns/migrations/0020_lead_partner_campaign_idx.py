from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0019_lead_partner_idx'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='lead',
            index=models.Index(condition=models.Q(('partner__isnull', False)), fields=['partner', 'campaign', '-id'], name='lead_partner_campaign_idx'),
        ),
    ]
