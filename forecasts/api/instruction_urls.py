"""SolarUser instruction API, under ``/solaruser/api/v1/sec/instr/``."""

from django.urls import path

from .instructions import InstructionAddTopicView, InstructionAddView, InstructionDetailView

urlpatterns = [
    path("add", InstructionAddView.as_view(), name="instruction-add"),
    path("add/<str:topic>", InstructionAddTopicView.as_view(), name="instruction-add-topic"),
    path("view", InstructionDetailView.as_view(), name="instruction-view"),
]
