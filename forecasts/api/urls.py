from django.urls import path

from . import views

# SolarUser style: no trailing slash.
urlpatterns = [
    path("envelopes", views.EnvelopeView.as_view(), name="envelopes"),
    path("envelope-subscriptions", views.SubscriptionListView.as_view(), name="envelope-subscriptions"),
    path(
        "envelope-subscriptions/<int:subscription_id>",
        views.SubscriptionDetailView.as_view(),
        name="envelope-subscription",
    ),
    path("capacity-groups/<int:group_id>/adjust", views.AdjustView.as_view(), name="group-adjust"),
    path("capacity-groups/<int:group_id>/power-series", views.PowerSeriesView.as_view(), name="group-power-series"),
    path(
        "capacity-groups/<int:group_id>/compliance-errors",
        views.ComplianceErrorView.as_view(),
        name="group-compliance-errors",
    ),
]
