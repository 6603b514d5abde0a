from django.urls import path

from .views import DatumView, ReportSendView

urlpatterns = [
    path("datum", DatumView.as_view(), name="measurements-datum"),
    path(
        "capacity-groups/<int:group_id>/measurements/send",
        ReportSendView.as_view(),
        name="measurements-report-send",
    ),
]
