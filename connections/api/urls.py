from django.urls import path

from connections.api import messages

urlpatterns: list = []

# --- Message log (inbound area) ---------------------------------------------------------------
urlpatterns += [
    path("messages", messages.MessageListView.as_view(), name="oscp-messages"),
    path("messages/<int:pk>", messages.MessageDetailView.as_view(), name="oscp-message"),
]
