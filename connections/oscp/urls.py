"""OSCP 2.0 protocol endpoints, mounted at /oscp/fp/2.0/ (all POST, JSON, 204 on success)."""

from django.urls import path

from . import views

app_name = "oscp"

urlpatterns = [
    path("register", views.RegisterView.as_view(), name="register"),
    path("handshake", views.HandshakeView.as_view(), name="handshake"),
    path("handshake_acknowledge", views.HandshakeAcknowledgeView.as_view(), name="handshake_acknowledge"),
    # Spellings seen in the field (pyoscp and others); the log records which one was used.
    path(
        "handshake_acknowledgment",
        views.HandshakeAcknowledgeView.as_view(alias="handshake_acknowledgment"),
        name="handshake_acknowledgment",
    ),
    path(
        "handshake_acknowledgement",
        views.HandshakeAcknowledgeView.as_view(alias="handshake_acknowledgement"),
        name="handshake_acknowledgement",
    ),
    path("heartbeat", views.HeartbeatView.as_view(), name="heartbeat"),
    path("update_group_capacity_forecast", views.ForecastView.as_view(), name="update_group_capacity_forecast"),
    path("adjust_group_capacity_forecast", views.AdjustForecastView.as_view(), name="adjust_group_capacity_forecast"),
    path(
        "group_capacity_compliance_error", views.ComplianceErrorView.as_view(), name="group_capacity_compliance_error"
    ),
    path("update_group_measurements", views.GroupMeasurementsView.as_view(), name="update_group_measurements"),
    path("update_asset_measurements", views.AssetMeasurementsView.as_view(), name="update_asset_measurements"),
]
