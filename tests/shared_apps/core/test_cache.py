from django.core.cache import cache
from django_tenants.utils import schema_context


def test_cache_keys_are_namespaced_per_organization(org, other_org):
    with schema_context(org.schema_name):
        cache.set("pipeline", "acme's numbers")
    with schema_context(other_org.schema_name):
        assert cache.get("pipeline") is None
        cache.set("pipeline", "globex's numbers")
    with schema_context(org.schema_name):
        assert cache.get("pipeline") == "acme's numbers"
