from shared_apps.core.errors import Conflict, NotFound


class AccountNotFound(NotFound):
    code = "account_not_found"
    message = "No such account."


class AccountNotDeleted(Conflict):
    code = "account_not_deleted"
    message = "Only a deleted account can be restored."


class StatusUnchanged(Conflict):
    code = "status_unchanged"

    def __init__(self, *, status: str) -> None:
        super().__init__(f"The account is already {status}.", status=status)


class AccountHasDeals(Conflict):
    code = "account_has_deals"
    message = "The account still has deals: move them to another account before purging it."
