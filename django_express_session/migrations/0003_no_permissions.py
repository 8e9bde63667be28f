"""The ``session`` table's model gets no permissions: nothing checks them (the admin's
session pages go by the permissions on users). Permissions an earlier ``migrate`` made
stay until removed by hand."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("django_express_session", "0002_user_index")]

    operations = [
        migrations.AlterModelOptions(
            name="expresssession",
            options={"default_permissions": (), "verbose_name": "express session"},
        ),
    ]
