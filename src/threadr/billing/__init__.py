"""Payments through Stripe: Checkout Sessions, and the webhook that turns payments into premium
(issue #11). Pure of Starlette: the web layer decodes and encodes, this package decides."""
