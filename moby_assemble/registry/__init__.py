"""The OCI distribution client: references, authentication, pull and push over httpx."""

from ._reference import DOCKER_HUB, DOCKER_HUB_API, ImageReference

__all__ = ["DOCKER_HUB", "DOCKER_HUB_API", "ImageReference"]
