"""The websocket endpoint and the runner that drives training sessions off the event loop."""
