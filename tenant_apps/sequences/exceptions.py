from shared_apps.core.errors import AppError, Conflict, NotFound


class SequenceNotFound(NotFound):
    code = "sequence_not_found"
    message = "No such sequence."


class EnrollmentNotFound(NotFound):
    code = "enrollment_not_found"
    message = "No such enrollment."


class SequenceEmpty(Conflict):
    code = "sequence_empty"
    message = "The sequence has no steps yet: add one before enrolling leads."


class AlreadyEnrolled(Conflict):
    code = "already_enrolled"
    message = "The lead is already going through this sequence."


class LeadClosed(Conflict):
    code = "lead_closed"
    message = "A won or lost lead cannot be enrolled."


class EnrollmentNotActive(Conflict):
    code = "enrollment_not_active"
    message = "The enrollment has already finished."


class SequenceSendFailed(AppError):
    status_code = 503
    code = "sequence_send_failed"
    message = "The mail server could not take the email now; it will be retried."
