from oscp_platform.viewsets import SlashOptionalRouter

from .views import LocationViewSet, TariffViewSet

router = SlashOptionalRouter()
router.register("roaming/locations", LocationViewSet, basename="roaming-location")
router.register("roaming/tariffs", TariffViewSet, basename="roaming-tariff")

urlpatterns = router.urls
