from django.urls import path

from connections.api import messages

from .base import SlashOptionalRouter
from .views import CapacityOptimizerViewSet, CapacityProviderViewSet

router = SlashOptionalRouter()
router.register("capacity-providers", CapacityProviderViewSet, basename="capacity-provider")
router.register("capacity-optimizers", CapacityOptimizerViewSet, basename="capacity-optimizer")

urlpatterns = router.urls

# --- Message log ---------------------------------------------------------------------------------
urlpatterns += [
    path("messages", messages.MessageListView.as_view(), name="oscp-messages"),
    path("messages/<int:pk>", messages.MessageDetailView.as_view(), name="oscp-message"),
]
