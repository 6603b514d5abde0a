from oscp_platform.viewsets import SlashOptionalRouter

from .views import LocationViewSet, TariffViewSet, TokenViewSet

router = SlashOptionalRouter()
router.register("roaming/locations", LocationViewSet, basename="roaming-location")
router.register("roaming/tariffs", TariffViewSet, basename="roaming-tariff")
router.register("roaming/tokens", TokenViewSet, basename="roaming-token")

urlpatterns = router.urls
