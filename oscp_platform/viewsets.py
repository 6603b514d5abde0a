"""The management API's viewset (create / list / view / full update / delete in the SolarUser
shape, writes through services) and its router."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status, viewsets
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from .api import ResponseEnvelopeMixin, response_envelope


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The entity is in use."
    default_code = "conflict"


def validation_error(exc: DjangoValidationError, names: dict[str, str]) -> exceptions.ValidationError:
    """A service's validation error, with model field names turned into the API's names."""
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError({names.get(k, k): v for k, v in exc.message_dict.items()})
    return exceptions.ValidationError(exc.messages)


class ResponseEnvelopeViewSet(ResponseEnvelopeMixin, viewsets.GenericViewSet):
    """List / create / retrieve / full update / delete in the SolarUser shape. Subclasses give
    ``get_queryset`` (scoped to the request user) and ``perform_create/update/destroy`` calling
    services."""

    lookup_value_regex = r"\d+"
    field_names: dict[str, str] = {}  # model field name -> API name, for service errors

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            data = self.perform_create(serializer)
        except DjangoValidationError as exc:
            raise validation_error(exc, self.field_names) from exc
        location = f"{request.path.rstrip('/')}/{data['configId']}"
        return response_envelope(data, status=status.HTTP_201_CREATED, headers={"Location": location})

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            instance = self.perform_update(serializer)
        except DjangoValidationError as exc:
            raise validation_error(exc, self.field_names) from exc
        return response_envelope(self.get_serializer(instance).data)

    def destroy(self, request, *args, **kwargs):
        self.perform_destroy(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def perform_create(self, serializer) -> dict:
        raise NotImplementedError

    def perform_update(self, serializer):
        raise NotImplementedError

    def perform_destroy(self, instance) -> None:
        raise NotImplementedError


class SlashOptionalRouter(SimpleRouter):
    """Routes without a trailing slash (as the SolarUser paths), and the same routes with one. Only
    the slash-less form appears in the schema."""

    def __init__(self):
        super().__init__(trailing_slash="")
        self._slashed = SimpleRouter(trailing_slash="/")

    def register(self, prefix, viewset, basename=None):
        super().register(prefix, viewset, basename)
        hidden = type(f"{viewset.__name__}Slashed", (viewset,), {"schema": None})
        self._slashed.register(prefix, hidden, f"{basename}-slashed")

    def get_urls(self):
        return super().get_urls() + self._slashed.get_urls()
