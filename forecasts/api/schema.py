"""OpenAPI description of the shared timestamp field (string in the SolarUser format)."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension


class TimestampFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "oscp_platform.api.TimestampField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "example": "2022-09-08 22:54:31.746647Z"}
