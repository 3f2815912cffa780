from shared_apps.core.errors import Conflict, Forbidden, NotFound


class SegmentNotFound(NotFound):
    code = "segment_not_found"
    message = "No such segment."


class PresetNotFound(NotFound):
    code = "preset_not_found"
    message = "No such preset segment."


class SegmentNotEditable(Forbidden):
    code = "segment_not_editable"
    message = "Only the segment's owner or an admin may change or delete it."


class SegmentOutdated(Conflict):
    """A saved definition the current field whitelist no longer accepts: it must be edited to run again."""

    code = "segment_outdated"
