"""Our OAuth2 token endpoint (``POST /oscp/oauth/token``): partners with client credentials issued
by staff (``connections.oauth``) fetch access tokens for the OSCP endpoints here.

django-oauth-toolkit's TokenView, limited to the client credentials grant: any other grant type is
refused before it reaches the toolkit (400 ``unsupported_grant_type``); a wrong client id or secret
is 401 ``invalid_client``. Client authentication by HTTP Basic or ``client_id``/``client_secret``
in the form body. The toolkit's other endpoints (authorize, revoke, introspect, applications, ...)
are not mounted."""

from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider import views as oauth2_views

GRANT_TYPE = "client_credentials"


@method_decorator(sensitive_post_parameters("client_secret"), name="dispatch")
class TokenView(oauth2_views.TokenView):
    def post(self, request, *args, **kwargs):
        grant_type = request.POST.get("grant_type", "")
        if grant_type != GRANT_TYPE:
            problem = f"grant_type {grant_type!r} is not supported" if grant_type else "grant_type is required"
            return JsonResponse(
                {"error": "unsupported_grant_type", "error_description": f"{problem}: use {GRANT_TYPE}."},
                status=400,
                headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
            )
        return super().post(request, *args, **kwargs)
