# Created with `tortoise -c storeplane.db.config.TORTOISE_ORM makemigrations --empty storeplane
# --name live_unique_indexes`, then filled in by hand: Tortoise's SQLite schema editor refuses
# conditional unique constraints, so these partial indexes are raw SQL. The statements are identical on
# SQLite (3.8+) and PostgreSQL.
from tortoise import migrations
from tortoise.migrations import operations as ops

# A live (non-Deleted) store's name and namespace are unique. A Deleted store keeps its row and history, and
# its name and namespace become free again once the namespace is gone (the store only reaches Deleted then).
LIVE_STORE_INDEXES = [
    ("uniq_store_live_name", "name"),
    ("uniq_store_live_namespace", "namespace"),
]


class Migration(migrations.Migration):
    dependencies = [("storeplane", "0001_initial")]

    initial = False

    operations = [
        ops.RunSQL(
            sql=[
                f"CREATE UNIQUE INDEX {index} ON store ({column}) WHERE status <> 'Deleted'"
                for index, column in LIVE_STORE_INDEXES
            ],
            reverse_sql=[f"DROP INDEX {index}" for index, _ in LIVE_STORE_INDEXES],
        ),
    ]
