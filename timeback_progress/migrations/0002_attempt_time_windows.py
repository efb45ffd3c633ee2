# Time windows for open attempts and numbered XP corrections (issue 10).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('timeback_progress', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='attempt',
            name='xp_corrections_sent',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddIndex(
            model_name='attempt',
            index=models.Index(condition=models.Q(('completed_at__isnull', True), models.Q(('active_seconds__gt', models.F('reported_active_seconds')), ('inactive_seconds__gt', models.F('reported_inactive_seconds')), _connector='OR')), fields=['updated_at'], name='tbp_attempt_unsent_time'),
        ),
    ]
