"""Recorded sessions: data model, on-disk store, importers and validation."""
from shop_env.actions import ACTION_TYPES, Action
from shop_env.data.model import Session, Step
from shop_env.data.store import SessionStore, StoreWriter, open_store, write_store

__all__ = [
    "ACTION_TYPES", "Action", "Session", "Step",
    "SessionStore", "StoreWriter", "open_store", "write_store",
    "import_opera", "ImportReport", "validate_store",
]


def __getattr__(name: str):
    # Importers and validation pull in pyarrow; load them on first use.
    if name in ("import_opera", "ImportReport"):
        from shop_env.data.importers import opera
        return getattr(opera, name)
    if name == "validate_store":
        from shop_env.data.validate import validate_store
        return validate_store
    raise AttributeError(name)
