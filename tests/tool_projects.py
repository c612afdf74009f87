"""Small Alembic and Django projects of our own, written into a test's folder: a table, a
column with a data step that fills it, and an index built outside a transaction."""

from __future__ import annotations

from pathlib import Path

ALEMBIC_INI = """\
[alembic]
script_location = %(here)s/migrations
sqlalchemy.url = postgresql+psycopg://nobody@localhost/placeholder

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic

[formatter_generic]
format = %(levelname)s %(message)s
"""

ALEMBIC_ENV = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
engine = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
"""

ALEMBIC_REVISIONS = [
    (
        "a1",
        None,
        "create members",
        """\
    op.create_table(
        "members",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
    )
""",
        '    op.drop_table("members")\n',
    ),
    (
        "b2",
        "a1",
        "add nickname",
        """\
    op.add_column("members", sa.Column("nickname", sa.Text))
    op.execute("UPDATE members SET nickname = split_part(email, '@', 1)")
    # the lock lives long enough to be sampled whatever the machine's load
    op.execute("SELECT pg_sleep(0.2)")
""",
        '    op.drop_column("members", "nickname")\n',
    ),
    (
        "c3",
        "b2",
        "index nickname",
        """\
    with op.get_context().autocommit_block():
        op.create_index("members_nickname", "members", ["nickname"], postgresql_concurrently=True)
""",
        """\
    with op.get_context().autocommit_block():
        op.drop_index("members_nickname", table_name="members", postgresql_concurrently=True)
""",
    ),
]


def write_alembic_project(folder: Path) -> Path:
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    (folder / "alembic.ini").write_text(ALEMBIC_INI)
    (folder / "migrations" / "env.py").write_text(ALEMBIC_ENV)
    for revision, down, message, upgrade, downgrade in ALEMBIC_REVISIONS:
        (versions / f"{revision}_{message.replace(' ', '_')}.py").write_text(
            f'"""{message}"""\n'
            "import sqlalchemy as sa\nfrom alembic import op\n\n"
            f"revision = {revision!r}\ndown_revision = {down!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade():\n{upgrade}\n\ndef downgrade():\n{downgrade}"
        )
    return folder


DJANGO_SETTINGS = """\
SECRET_KEY = "rehearsal only"
INSTALLED_APPS = [{apps}]
DATABASES = {{}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""

DJANGO_MIGRATIONS = {
    "0001_initial.py": """\
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Member",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                ("email", models.TextField()),
            ],
            options={"db_table": "members"},
        ),
    ]
""",
    "0002_nickname.py": """\
from django.db import migrations, models


def fill(apps, schema_editor):
    Member = apps.get_model("library", "Member")
    Member.objects.update(nickname=models.functions.Substr("email", 1, 3))


class Migration(migrations.Migration):
    dependencies = [("library", "0001_initial")]
    operations = [
        migrations.AddField("member", "nickname", models.TextField(null=True)),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
""",
    "0003_nickname_index.py": """\
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("library", "0002_nickname")]
    operations = [
        AddIndexConcurrently(
            "member", models.Index(fields=["nickname"], name="members_nickname")
        ),
    ]
""",
}


def write_django_project(folder: Path, *, with_library: bool = True) -> Path:
    """A Django project (`mysite.settings`): Django's contrib apps, and our `library` app."""
    apps = [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "django.contrib.sessions",
        "django.contrib.admin",
        "django.contrib.messages",
    ]
    (folder / "mysite").mkdir(parents=True)
    (folder / "mysite" / "__init__.py").write_text("")
    if with_library:
        apps = ["django.contrib.postgres", "library"]
        migrations = folder / "library" / "migrations"
        migrations.mkdir(parents=True)
        (folder / "library" / "__init__.py").write_text("")
        (migrations / "__init__.py").write_text("")
        for name, text in DJANGO_MIGRATIONS.items():
            (migrations / name).write_text(text)
    (folder / "mysite" / "settings.py").write_text(
        DJANGO_SETTINGS.format(apps=", ".join(repr(app) for app in apps))
    )
    (folder / "manage.py").write_text(
        "import os, sys\n"
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n'
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(sys.argv)\n"
    )
    return folder
