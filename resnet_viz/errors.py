"""Errors a person can act on. Pages show ``str(err)`` as is, so messages say what to do."""


class ResNetVizError(Exception):
    """Base class for errors the app reports to its user."""


class InputError(ResNetVizError, ValueError):
    """An input (image, path, setting) cannot be used."""


class ConfigError(ResNetVizError, ValueError):
    """A run configuration or override is invalid."""


class CheckpointError(ResNetVizError, ValueError):
    """A checkpoint file cannot be loaded as a model."""


class DataError(ResNetVizError, RuntimeError):
    """A dataset cannot be found, downloaded or read."""


class StoreError(ResNetVizError, RuntimeError):
    """The run store could not be written (read-only, disk full, damaged)."""


class ResourceError(ResNetVizError, RuntimeError):
    """The device ran out of memory (or another resource) for the work asked of it."""
