"""The HTTP shell: aiohttp application factory, Marathon v2 routes, marshmallow schemas."""
