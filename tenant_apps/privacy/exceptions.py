from shared_apps.core.errors import Conflict, NotFound


class DoNotContactNotFound(NotFound):
    code = "do_not_contact_not_found"
    message = "No such do-not-contact entry."


class DoNotContactKept(Conflict):
    code = "do_not_contact_kept"
    message = "Only manual entries can be removed: this address is listed because of what the person did."


class AlreadySuppressed(Conflict):
    code = "already_on_do_not_contact_list"
    message = "This address is already on the do-not-contact list."
