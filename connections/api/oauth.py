"""Management API: the OAuth2 client credentials a partner uses to call us
(``capacity-providers/{id}/oauth-client``, same for optimizers). POST issues them (replacing and
revoking any earlier ones) and is the only response that carries the client secret; GET shows the
client id and token URL; DELETE revokes them and every access token issued with them."""

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from oscp_platform.api import response_envelope

from ..models import InboundOAuthClient, Partner
from ..oauth import partner_oauth_client_issue, partner_oauth_client_revoke
from ..selectors import partner_list
from .outbound import Timestamp


class OAuthClientSerializer(serializers.Serializer):
    clientId = serializers.CharField(source="client_id")  # noqa: N815 - SolarUser names
    tokenUrl = serializers.CharField(source="token_url")  # noqa: N815
    grantType = serializers.CharField(default="client_credentials")  # noqa: N815
    accessTokenSeconds = serializers.IntegerField(source="access_token_seconds")  # noqa: N815
    created = Timestamp()


class OAuthClientIssuedSerializer(OAuthClientSerializer):
    clientSecret = serializers.CharField(source="client_secret")  # noqa: N815


def _shown(link: InboundOAuthClient) -> dict:
    return {
        "client_id": link.application.client_id,
        "token_url": settings.OSCP_OAUTH_TOKEN_URL,
        "access_token_seconds": settings.OSCP_OAUTH_ACCESS_TOKEN_SECONDS,
        "created": link.created,
    }


_NONE = "This partner has no OAuth client credentials."


# One view for both partner roles, ``role`` set per URL (no docstring: it would become the schema's
# description).
class PartnerOAuthClientView(APIView):
    role: str = ""

    def _partner(self, request, pk: int) -> Partner:
        return get_object_or_404(partner_list(user=request.user, role=self.role), pk=pk)

    @extend_schema(
        summary="Issue OAuth client credentials for the partner to call us",
        description="Creates the client id and secret the partner uses at `tokenUrl` (client credentials "
        "grant) to get access tokens for the OSCP endpoints. Any earlier credentials and their access "
        "tokens stop working. `clientSecret` is shown only in this response.",
        request=None,
        responses={201: OAuthClientIssuedSerializer},
        tags=["oauth"],
    )
    def post(self, request, pk: int):
        issued = partner_oauth_client_issue(partner=self._partner(request, pk), actor=request.user)
        return response_envelope(OAuthClientIssuedSerializer(issued).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="View the partner's OAuth client (never the secret)",
        request=None,
        responses={200: OAuthClientSerializer, 404: OpenApiResponse(description=_NONE)},
        tags=["oauth"],
    )
    def get(self, request, pk: int):
        partner = self._partner(request, pk)
        link = InboundOAuthClient.objects.select_related("application").filter(partner=partner).first()
        if link is None:
            raise NotFound(_NONE)
        return response_envelope(OAuthClientSerializer(_shown(link)).data)

    @extend_schema(
        summary="Revoke the partner's OAuth client credentials and its access tokens",
        request=None,
        responses={204: OpenApiResponse(description="Revoked; empty body."), 404: OpenApiResponse(description=_NONE)},
        tags=["oauth"],
    )
    def delete(self, request, pk: int):
        if not partner_oauth_client_revoke(partner=self._partner(request, pk), actor=request.user):
            raise NotFound(_NONE)
        return Response(status=status.HTTP_204_NO_CONTENT)
