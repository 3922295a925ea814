"""The launcher's one error: a layer could not be set up for a reason the operator can fix."""


class LaunchError(Exception):
    """Why the project was not started; the agent reports it as START_FAILED."""
