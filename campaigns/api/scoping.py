"""What an API key may see: its partner's campaigns, narrowed to the key's own when it has any.

Everything the API reads goes through these querysets, so a foreign campaign or
lead is simply absent (404 / "unknown campaign"), never a 403.
"""
from __future__ import annotations

from django.db.models import QuerySet

from campaigns.models import ApiKey, Campaign, Lead


def campaigns_for(key: ApiKey) -> QuerySet[Campaign]:
    qs = Campaign.objects.filter(partners=key.partner_id)
    if key.campaigns.exists():
        qs = qs.filter(api_keys=key.pk)
    return qs


def campaign_ids_for(key: ApiKey) -> list[int]:
    cached = getattr(key, "_campaign_ids", None)
    if cached is None:
        cached = key._campaign_ids = list(campaigns_for(key).values_list("pk", flat=True))
    return cached


def leads_for(key: ApiKey) -> QuerySet[Lead]:
    """The key's partner's leads in the key's campaigns."""
    return Lead.objects.filter(partner_id=key.partner_id, campaign_id__in=campaign_ids_for(key))


def unknown_campaign_message(slug: str) -> str:
    # The same words whether the slug does not exist or belongs to someone else.
    return f"Unknown campaign {slug!r}. GET /api/v1/campaigns/ lists the campaigns this key can use."


_CAMPAIGN_BY_SLUG = None


def campaign_by_slug(key: ApiKey, slug: str) -> Campaign | None:
    """One query (it runs on every lead POST): the partner's campaign, if the key is not narrowed away from it.

    Written as SQL once: the ORM form (an OR of two EXISTS) costs far more to compile than
    to run, and this runs on every lead POST.
    """
    global _CAMPAIGN_BY_SLUG
    if _CAMPAIGN_BY_SLUG is None:
        campaign = Campaign._meta.db_table
        allowed = Campaign.partners.through._meta.db_table
        narrowed = ApiKey.campaigns.through._meta.db_table
        _CAMPAIGN_BY_SLUG = (
            f"SELECT c.* FROM {campaign} c JOIN {allowed} pc ON pc.campaign_id = c.id AND pc.partner_id = %s "
            f"WHERE c.slug = %s AND (NOT EXISTS (SELECT 1 FROM {narrowed} n WHERE n.apikey_id = %s) "
            f"OR EXISTS (SELECT 1 FROM {narrowed} n WHERE n.apikey_id = %s AND n.campaign_id = c.id))"
        )
    found = list(Campaign.objects.raw(_CAMPAIGN_BY_SLUG, [key.partner_id, slug, key.pk, key.pk]))
    return found[0] if found else None
