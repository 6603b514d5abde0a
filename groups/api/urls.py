from django.urls import path

from oscp_platform.viewsets import SlashOptionalRouter

from .views import AssetViewSet, CapacityGroupViewSet, GroupAssetViewSet

router = SlashOptionalRouter()
router.register("capacity-groups", CapacityGroupViewSet, basename="capacity-group")
router.register("assets", AssetViewSet, basename="asset")

group_assets = GroupAssetViewSet.as_view({"get": "list"})
group_assets_slashed = type("GroupAssetViewSetSlashed", (GroupAssetViewSet,), {"schema": None}).as_view({"get": "list"})

urlpatterns = [
    path("capacity-groups/<int:groupId>/assets", group_assets, name="capacity-group-assets"),
    path("capacity-groups/<int:groupId>/assets/", group_assets_slashed, name="capacity-group-assets-slashed"),
    *router.urls,
]
