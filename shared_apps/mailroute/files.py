"""An organization's mail files (raw messages, attachments) live under its id in the "mail" storage; the
purge removes them with its other leftovers (shared_apps.organizations.namespace.leftovers_remove)."""

from __future__ import annotations

from django.core.files.storage import Storage, storages


def _remove_tree(storage: Storage, directory: str) -> int:
    try:
        directories, files = storage.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = 0
    for name in files:
        storage.delete(f"{directory}/{name}")
        removed += 1
    for name in directories:
        removed += _remove_tree(storage, f"{directory}/{name}")
    return removed


def mail_files_remove(organization_id: int) -> int:
    """Delete every mail file of the organization (any storage backend); returns how many."""
    return _remove_tree(storages["mail"], str(int(organization_id)))
