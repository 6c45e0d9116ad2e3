"""Alert channels: deliver one decided alert by email or signed webhook.

Which alerts to send is decided by ``service.policies.alerting.route``; this package only
delivers, and raises ``DeliveryError`` (``transient`` or not) when it could not.
"""

from service.alerts._delivery import deliver
from service.alerts._errors import DeliveryError
from service.alerts._signing import sign_payload, verify_signature

__all__ = ["DeliveryError", "deliver", "sign_payload", "verify_signature"]
