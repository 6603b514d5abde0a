from .base import SlashOptionalRouter
from .views import CapacityOptimizerViewSet, CapacityProviderViewSet

router = SlashOptionalRouter()
router.register("capacity-providers", CapacityProviderViewSet, basename="capacity-provider")
router.register("capacity-optimizers", CapacityOptimizerViewSet, basename="capacity-optimizer")

urlpatterns = router.urls
