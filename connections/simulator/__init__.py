"""A simulated OSCP 2.0 partner (``manage.py oscp_simulate``): a Capacity Provider, optionally a
Capacity Optimizer too, in any partner dialect, talking to a running platform over HTTP only.

- ``wire``: the dialects (from ``connections/presets.py``), the messages it sends, the checks of
  what it receives (the registry's wire serializers).
- ``server``: its OSCP endpoints and a small control endpoint, ``http.server`` in a thread.
- ``peer``: registration, handshake, heartbeats, forecasts and what it received; the scheduler.
- ``faults``: what can be switched on to make it misbehave.
"""
