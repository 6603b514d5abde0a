"""What the management API viewsets share: the SolarUser envelope on every response (and in the
schema), owner-scoped querysets, paging with ``?offset=&max=``, and writes through services."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from oscp_platform.api import success

_envelopes: dict[tuple[type, bool], type] = {}


def envelope(serializer_class: type[serializers.Serializer], many: bool = False) -> type[serializers.Serializer]:
    """The schema of ``{"success": true, "data": <serializer>}`` (a list when ``many``)."""
    key = (serializer_class, many)
    if key not in _envelopes:
        base = serializer_class.__name__.removesuffix("Serializer")
        name = f"{base}ListEnvelope" if many else f"{base}Envelope"
        attrs = {
            "success": serializers.BooleanField(),
            "data": serializer_class(many=many),
            "Meta": type("Meta", (), {"ref_name": name}),
        }
        _envelopes[key] = extend_schema_serializer(many=False)(type(name, (serializers.Serializer,), attrs))
    return _envelopes[key]


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The entity is in use."
    default_code = "conflict"


def validation_error(exc: DjangoValidationError, names: dict[str, str]) -> exceptions.ValidationError:
    """A service's validation error, with model field names turned into the API's names."""
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError({names.get(k, k): v for k, v in exc.message_dict.items()})
    return exceptions.ValidationError(exc.messages)


class EnvelopeViewSet(viewsets.GenericViewSet):
    """List / create / retrieve / full update / delete in the SolarUser shape. Subclasses give
    ``get_queryset`` (scoped to the request user) and ``perform_create/update/destroy`` calling
    services."""

    lookup_value_regex = r"\d+"
    field_names: dict[str, str] = {}  # model field name -> API name, for service errors

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        if page is None:
            return success(self.get_serializer(queryset, many=True).data)
        data = self.get_serializer(page, many=True).data
        return success(data, headers={"X-Total-Count": str(self.paginator.count)})

    def retrieve(self, request, *args, **kwargs):
        return success(self.get_serializer(self.get_object()).data)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            data = self.perform_create(serializer)
        except DjangoValidationError as exc:
            raise validation_error(exc, self.field_names) from exc
        location = f"{request.path.rstrip('/')}/{data['configId']}"
        return success(data, status=status.HTTP_201_CREATED, headers={"Location": location})

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            instance = self.perform_update(serializer)
        except DjangoValidationError as exc:
            raise validation_error(exc, self.field_names) from exc
        return success(self.get_serializer(instance).data)

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
