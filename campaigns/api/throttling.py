"""Per-key throttles: a sustained rate and a burst cap (DRF throttling).

Rates come from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] ("partner",
"partner_burst") and are read per request, so ``override_settings`` and
environment changes apply without re-importing. Counters live in the default
cache: use a shared cache (Redis) when several web processes serve the API.
"""
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from campaigns.models import ApiKey


class _PerKeyThrottle(SimpleRateThrottle):
    def __init__(self):  # the base reads the rate at import time; read it per request instead
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return None  # unauthenticated requests never reach a view
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class PartnerSustainedThrottle(_PerKeyThrottle):
    scope = "partner"


class PartnerBurstThrottle(_PerKeyThrottle):
    scope = "partner_burst"
