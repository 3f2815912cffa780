from shared_apps.core.errors import AppError, Conflict


class InvalidCredentials(AppError):
    status_code = 401
    code = "invalid_credentials"
    message = "Email or password is wrong, or the account is inactive."


class EmailTaken(Conflict):
    code = "email_taken"
    message = "A user with this email already exists."
