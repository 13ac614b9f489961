"""Notifications of incidents in progress to configured webhooks and Slack channels.

Deliveries go through a persistent outbox in the response database and a worker
thread that retries with exponential back-off and jitter, then keeps a dead letter.
"""
