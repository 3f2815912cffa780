"""Custom fields in the web app (issue 19): the admins' settings page, one input per field on the record
forms (the services' refusals under the input they name), the values in human form on the record pages,
the board's cards (the fields admins put on cards) and the lead list's columns."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role
from tenant_apps.accounts.models import Account
from tenant_apps.customfields import services, values
from tenant_apps.customfields.models import CustomField, FieldState
from tenant_apps.leads.models import Lead
from tenant_apps.web.services import list_columns_set
from tests.tenant_apps.customfields.conftest import make_field

__all__ = ["make_field"]


pytestmark = pytest.mark.usefixtures("fresh_definitions")
FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def field_error(response, field: str) -> str:
    found = re.search(rf'id="id_{re.escape(field)}-error"[^>]*>([^<]+)<', response.content.decode())
    assert found, (field, response.content.decode()[:3000])
    return found.group(1)


def option_id(field: CustomField, label: str) -> str:
    return next(option["id"] for option in field.options if option["label"] == label)


# ---- the settings page -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REP, Role.MANAGER])
def test_only_admins_open_and_change_custom_fields(web, role, make_field, org):
    field = make_field("tier", "text")
    client = web(role)
    assert client.get("/settings/custom-fields/").status_code == 403
    refused = client.post("/settings/custom-fields/add/", {"record_type": "lead", "key": "x", "label": "X"})
    assert refused.status_code == 403
    assert client.post(f"/settings/custom-fields/{field.pk}/", {"op": "delete"}).status_code == 403
    assert 'href="/settings/custom-fields/"' not in client.get("/settings/").content.decode()
    with schema_context(org.schema_name):
        assert list(CustomField.objects.values_list("key", "state")) == [("tier", FieldState.ACTIVE)]


def test_the_settings_index_links_custom_fields_and_pipelines_for_admins(web):
    page = web(Role.ADMIN).get("/settings/").content.decode()
    assert 'href="/settings/custom-fields/"' in page
    assert 'href="/settings/pipelines/"' in page


def test_an_admin_creates_edits_and_deletes_a_field(web, org):
    client = web(Role.ADMIN)
    created = client.post(
        "/settings/custom-fields/add/",
        {
            "record_type": "lead",
            "key": "tier",
            "label": "Tier",
            "type": "single_select",
            "options": "Gold\nSilver\n\n",
            "required": "on",
            "on_card": "on",
        },
    )
    assert created.status_code == 302
    with schema_context(org.schema_name):
        field = CustomField.objects.get(key="tier")
        assert [option["label"] for option in field.options] == ["Gold", "Silver"]
        assert (field.required, field.filterable, field.on_card) == (True, False, True)
        assert AuditEvent.objects.filter(action="custom_field.created").exists()
    page = client.get("/settings/custom-fields/").content.decode()
    assert "Tier" in page and "<code>tier</code>" in page and "Field Tier added" in page
    gold = option_id(field, "Gold")
    # a renamed option keeps its id (its values are relabelled); a new line is a new option
    saved = client.post(
        f"/settings/custom-fields/{field.pk}/",
        {"op": "save", "label": "Level", "options": "Platinum\nSilver\nBronze", "filterable": "on"},
    )
    assert saved.status_code == 302
    with schema_context(org.schema_name):
        field.refresh_from_db()
    assert (field.label, field.required, field.filterable, field.on_card) == ("Level", False, True, False)
    assert [option["label"] for option in field.options] == ["Platinum", "Silver", "Bronze"]
    assert option_id(field, "Platinum") == gold
    assert client.post(f"/settings/custom-fields/{field.pk}/", {"op": "delete"}).status_code == 302
    with schema_context(org.schema_name):
        field.refresh_from_db()
        assert field.state == FieldState.DELETING


def test_the_services_refusals_are_the_pages_messages(web, org, make_field, make_lead):
    field = make_field("tier", "single_select", options=["Gold", "Silver"])
    with schema_context(org.schema_name):
        lead = make_lead()
        Lead.objects.filter(pk=lead.pk).update(custom={"tier": option_id(field, "Silver")})
    client = web(Role.ADMIN)
    taken = client.post(
        "/settings/custom-fields/add/",
        {"record_type": "lead", "key": "tier", "label": "Again", "type": "text"},
        follow=True,
    )
    assert "A field with this key exists." in taken.content.decode()
    bad_key = client.post(
        "/settings/custom-fields/add/",
        {"record_type": "lead", "key": "Bad Key", "label": "Bad", "type": "text"},
        follow=True,
    )
    assert "lower-case letters" in bad_key.content.decode()
    in_use = client.post(
        f"/settings/custom-fields/{field.pk}/",
        {"op": "save", "label": "Tier", "options": "Gold"},
        follow=True,
    )
    assert "1 records hold the option &#x27;Silver&#x27;" in in_use.content.decode()
    with schema_context(org.schema_name):
        field.refresh_from_db()
        assert [option["label"] for option in field.options] == ["Gold", "Silver"]


def test_the_api_reads_and_writes_on_card(org, make_field, member):
    field = make_field("tier", "text", on_card=True)
    from django.test import Client

    from tests.conftest import host_of

    admin = member(role=Role.ADMIN)
    client = Client(HTTP_HOST=host_of(org))
    with schema_context(org.schema_name):
        client.force_login(admin)
    listed = client.get("/api/custom-fields/").json()
    assert listed[0]["on_card"] is True
    changed = client.patch(
        f"/api/custom-fields/{field.pk}/", {"on_card": False}, content_type="application/json"
    )
    assert changed.status_code == 200 and changed.json()["on_card"] is False
    bad = client.patch(
        f"/api/custom-fields/{field.pk}/", {"on_card": "maybe"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "on_card" in bad.json()["errors"]


# ---- forms -----------------------------------------------------------------------------------------------


def test_the_account_form_round_trips_custom_values(web, org, make_field, member):
    rep = member(role=Role.REP)
    make_field("size_band", "single_select", record_type="account", options=["Small", "Large"])
    make_field("founded", "date", record_type="account")
    make_field("budget", "money", record_type="account")
    make_field("regions", "multi_select", record_type="account", options=["EU", "US", "APAC"])
    make_field("partner", "boolean", record_type="account")
    make_field("champion", "member", record_type="account")
    client = web(Role.REP)
    form = client.get("/accounts/new/").content.decode()
    for name in ("custom.size_band", "custom.founded", "custom.budget_0", "custom.regions", "custom.partner"):
        assert f'name="{name}"' in form, name
    assert 'type="date"' in form
    with schema_context(org.schema_name):
        fields = {field.key: field for field in values.definitions("account")}
    posted = {
        "name": "Initech",
        "custom_inputs": "1",
        "custom.size_band": option_id(fields["size_band"], "Large"),
        "custom.founded": "1999-02-03",
        "custom.budget_0": "1250.5",
        "custom.budget_1": org.default_currency.upper(),
        "custom.regions": [option_id(fields["regions"], "US"), option_id(fields["regions"], "EU")],
        "custom.partner": "on",
        "custom.champion": str(rep.pk),
    }
    response = client.post("/accounts/new/", posted)
    assert response.status_code == 302, response.content.decode()[:3000]
    with schema_context(org.schema_name):
        account = Account.objects.get(name="Initech")
    assert account.custom == {
        "size_band": option_id(fields["size_band"], "Large"),
        "founded": "1999-02-03",
        "budget": {"amount": "1250.50", "currency": org.default_currency.upper()},
        "regions": [option_id(fields["regions"], "EU"), option_id(fields["regions"], "US")],
        "partner": True,
        "champion": rep.pk,
    }
    page = client.get(response["Location"]).content.decode()
    assert re.search(r'data-custom="size_band">Large<', page)
    assert re.search(r'data-custom="regions">EU, US<', page)
    assert re.search(r'data-custom="founded">Feb\. 3, 1999<', page)
    assert re.search(rf'data-custom="budget">1,250\.50 {org.default_currency.upper()}<', page)
    assert re.search(r'data-custom="partner">Yes<', page)
    assert re.search(rf'data-custom="champion">{re.escape(rep.full_name or rep.email)}<', page)
    # the edit form shows them, and clearing an input clears its value
    edit = client.get(f"/accounts/{account.pk}/edit/").content.decode()
    assert 'value="1999-02-03"' in edit
    saved = client.post(
        f"/accounts/{account.pk}/edit/",
        {"name": "Initech", "custom_inputs": "1", "custom.founded": "", "custom.budget_0": "7"},
    )
    assert saved.status_code == 302, saved.content.decode()[:3000]
    with schema_context(org.schema_name):
        account.refresh_from_db()
    # an unchecked box is "no"
    assert account.custom == {
        "budget": {"amount": "7.00", "currency": org.default_currency.upper()},
        "partner": False,
    }


def test_a_bad_custom_value_is_shown_under_its_input(web, org, make_field):
    make_field("seats", "number", record_type="contact")
    make_field("site", "url", record_type="contact", required=True)
    client = web(Role.REP)
    bad = client.post(
        "/contacts/new/",
        {"name": "Ann", "custom_inputs": "1", "custom.seats": "many", "custom.site": "https://ann.example"},
    )
    assert bad.status_code == 400
    assert "Expected a number." in field_error(bad, "custom.seats")
    assert 'value="many"' in bad.content.decode()
    missing = client.post("/contacts/new/", {"name": "Ann", "custom_inputs": "1", "custom.seats": "3"})
    assert missing.status_code == 400
    assert "Site is required." in field_error(missing, "custom.site")


def test_an_opportunity_edit_keeps_values_a_post_without_the_inputs_does_not_name(
    web, org, make_field, make_account, make_opportunity
):
    make_field("stage_note", "text", record_type="opportunity")
    with schema_context(org.schema_name):
        opportunity = make_opportunity(account=make_account(), custom={"stage_note": "keep"})
    client = web(Role.ADMIN)
    # an in-place edit of one field (a script's post) changes that field alone
    response = client.post(
        f"/opportunities/{opportunity.pk}/edit/", {"name": "Renamed"}, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert response.status_code == 200, response.content.decode()
    with schema_context(org.schema_name):
        opportunity.refresh_from_db()
    assert (opportunity.name, opportunity.custom) == ("Renamed", {"stage_note": "keep"})


def test_the_lead_form_round_trips_and_names_a_bad_value(web, org, make_field, make_lead):
    field = make_field("tier", "single_select", options=["Gold", "Silver"])
    make_field("renewal", "datetime")
    client = web(Role.REP)
    new_form = client.get("/leads/").content.decode()
    assert 'name="custom.tier"' in new_form and 'type="datetime-local"' in new_form
    created = client.post(
        "/leads/new/",
        {
            "name": "Zed",
            "custom_inputs": "1",
            "custom.tier": option_id(field, "Silver"),
            "custom.renewal": "2026-03-04T09:30",
        },
    )
    assert created.status_code == 302
    with schema_context(org.schema_name):
        lead = Lead.objects.get(name="Zed")
    assert lead.custom["tier"] == option_id(field, "Silver")
    assert lead.custom["renewal"].startswith("2026-03-04T")
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert re.search(r'data-custom="tier">Silver<', page)
    found = re.search(r'data-custom="renewal">([^<]+)<', page)
    assert found and found.group(1).startswith("March 4, 2026, 09:30"), found  # read and shown in one zone
    assert 'name="custom.tier"' in page  # the edit form
    bad = client.post(
        f"/leads/{lead.pk}/edit/",
        {"name": "Zed", "custom_inputs": "1", "custom.renewal": "soon"},
        follow=True,
    )
    assert "Renewal: Expected a date and time" in bad.content.decode()
    unknown_option = client.post(
        f"/leads/{lead.pk}/edit/",
        {"name": "Zed", "custom_inputs": "1", "custom.tier": "o_nope"},
        follow=True,
    )
    assert "Tier: Select a valid choice." in unknown_option.content.decode()
    with schema_context(org.schema_name):
        lead.refresh_from_db()
    assert lead.custom["tier"] == option_id(field, "Silver")
    # the board's quick add posts no custom inputs: nothing is cleared or required of it
    quick = client.post(f"/leads/{lead.pk}/edit/", {"name": "Zed 2"})
    assert quick.status_code == 302
    with schema_context(org.schema_name):
        lead.refresh_from_db()
    assert (lead.name, lead.custom["tier"]) == ("Zed 2", option_id(field, "Silver"))


# ---- the board's cards and the list's columns ------------------------------------------------------------


def test_cards_show_the_fields_admins_put_on_cards(web, org, make_field, make_lead):
    tier = make_field("tier", "single_select", options=["Gold"], on_card=True)
    make_field("secret_note", "text")  # not on cards
    for index in range(3):
        make_field(f"extra_{index}", "text", on_card=True)
    with schema_context(org.schema_name):
        lead = make_lead(
            custom={
                "tier": option_id(tier, "Gold"),
                "secret_note": "off-card-text",
                "extra_0": "e0",
                "extra_1": "e1",
                "extra_2": "e2",
            }
        )
    board = web(Role.ADMIN).get("/pipeline/").content.decode()
    card = board[board.index(f'id="lead-{lead.pk}"') :]
    card = card[: card.index("</li>")]
    assert re.search(r'data-custom="tier">Gold<', card)
    assert "e0" in card and "e1" in card
    assert "e2" not in card  # at most 3 on a card
    assert "off-card-text" not in card
    fragment = web(Role.ADMIN).get(f"/pipeline/cards/{lead.pk}/").content.decode()
    assert re.search(r'data-custom="tier">Gold<', fragment)


def test_the_lead_list_offers_and_shows_custom_columns(web, org, make_field, make_lead):
    field = make_field("tier", "multi_select", options=["Gold", "Silver"])
    with schema_context(org.schema_name):
        make_lead(name="Columned", custom={"tier": [option_id(field, "Gold"), option_id(field, "Silver")]})
    client = web(Role.VIEWER)
    page = client.get("/leads/").content.decode()
    assert 'value="custom.tier"' in page  # the chooser offers it
    saved = client.post("/leads/columns/", {"columns": ["company", "custom.tier"]})
    assert saved.status_code == 302
    listed = client.get("/leads/").content.decode()
    assert re.search(r"<dt>Tier</dt><dd>Gold, Silver</dd>", listed)
    unknown = client.post("/leads/columns/", {"columns": ["custom.nope"]}, follow=True)
    assert "Unknown column: custom.nope." in unknown.content.decode()


def test_a_deleted_fields_column_is_dropped_from_the_members_choice(web, org, make_field, member):
    field = make_field("tier", "text")
    viewer = member(role=Role.VIEWER)
    with schema_context(org.schema_name):
        list_columns_set(member=viewer, list_name="leads", columns=["company", "custom.tier"])
        services.custom_field_delete(field_id=field.pk, actor=None)
        values.forget()
        from tenant_apps.web.selectors import list_columns

        assert list_columns(actor=viewer, list_name="leads") == ["company"]


# ---- the in-place editor on record pages ---------------------------------------------------------------


def test_record_pages_offer_every_custom_field_to_edit_in_place(web, make_field, make_opportunity):
    make_field("tier", "single_select", record_type="opportunity", options=["Gold", "Silver"])
    make_field("renewal", "date", record_type="opportunity")
    deal = make_opportunity(custom={"renewal": "2031-05-06"})
    page = web(Role.ADMIN).get(f"/opportunities/{deal.pk}/").content.decode()
    # an unset field too, with its input (a select of the options) ready in a template
    assert re.search(r'data-inline-field="custom.tier"[^>]*data-custom="tier">\u2013<', page)
    assert re.search(r'<template id="inline-input-1"><select name="custom.tier"', page)
    date_input = r'<template id="inline-input-2"><input type="date" name="custom.renewal" value="2031-05-06"'
    assert re.search(date_input, page)
    viewer = web(Role.VIEWER).get(f"/opportunities/{deal.pk}/").content.decode()
    assert 'data-inline-field="custom.' not in viewer and 'data-custom="renewal">May 6, 2031<' in viewer


def test_an_in_place_edit_changes_one_custom_field(web, make_field, make_opportunity, org):
    tier = make_field("tier", "single_select", record_type="opportunity", options=["Gold", "Silver"])
    make_field("regions", "multi_select", record_type="opportunity", options=["US", "EU"])
    make_field("budget", "money", record_type="opportunity")
    gold = option_id(tier, "Gold")
    client = web(Role.ADMIN)
    deal = make_opportunity(name="Inline deal")
    with schema_context(org.schema_name):
        regions = CustomField.objects.get(record_type="opportunity", key="regions")
    url = f"/opportunities/{deal.pk}/edit/"
    inline = {"custom_inputs": "1"}
    answer = client.post(url, {**inline, "inline": "custom.tier", "custom.tier": gold}, **FETCH)
    assert answer.status_code == 200, answer.content
    assert answer.json()["fields"]["custom.tier"] == "Gold"
    posted = {**inline, "inline": "custom.regions", "custom.regions": [option_id(regions, "EU")]}
    client.post(url, posted, **FETCH)
    code = org.default_currency.upper()
    money = {**inline, "inline": "custom.budget", "custom.budget_0": "12.5", "custom.budget_1": code}
    answer = client.post(url, money, **FETCH)
    assert answer.status_code == 200 and answer.json()["fields"]["custom.budget"] == f"12.50 {code}", (
        answer.content
    )
    with schema_context(org.schema_name):
        deal.refresh_from_db()
        assert deal.custom == {
            "tier": gold,
            "regions": [option_id(regions, "EU")],
            "budget": {"amount": "12.50", "currency": code},
        }
        assert deal.name == "Inline deal"
    # nothing ticked clears a multi-select (its boxes post nothing at all)
    client.post(url, {**inline, "inline": "custom.regions"}, **FETCH)
    refused = client.post(url, {**inline, "inline": "custom.tier", "custom.tier": "nope"}, **FETCH)
    assert refused.status_code == 400 and "custom.tier" in refused.json()["errors"]
    with schema_context(org.schema_name):
        deal.refresh_from_db()
        assert "regions" not in deal.custom and deal.custom["tier"] == gold


def test_a_lead_pages_custom_field_is_edited_in_place(web, make_field, make_lead, member, org):
    make_field("tier", "single_select", options=["Gold", "Silver"])
    field = make_field("referrer", "text")
    client = web(Role.REP)
    lead = make_lead(name="Inline lead", owner_id=client.user.pk)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert f'data-inline-url="/leads/{lead.pk}/edit/"' in page
    assert re.search(r'<template id="inline-input-2"><input type="text" name="custom.referrer"', page)
    posted = {"custom_inputs": "1", "inline": "custom.referrer", "custom.referrer": "Ada"}
    answer = client.post(f"/leads/{lead.pk}/edit/", posted, **FETCH)
    assert answer.status_code == 200, answer.content
    assert answer.json()["fields"]["custom.referrer"] == "Ada"
    with schema_context(org.schema_name):
        lead.refresh_from_db()
        assert (lead.name, lead.custom) == ("Inline lead", {field.key: "Ada"})
    refused = client.post(
        f"/leads/{lead.pk}/edit/", {**posted, "inline": "custom.tier", "custom.tier": "x"}, **FETCH
    )
    assert refused.status_code == 400 and "Tier" in refused.json()["message"]
    # another rep's lead is not theirs to change, nor offered to edit
    other = make_lead(name="Not mine", owner_id=member(role=Role.REP).pk)
    assert client.post(f"/leads/{other.pk}/edit/", posted, **FETCH).status_code in (403, 404)
    unassigned = make_lead(name="Nobody's lead")
    assert "data-inline-url" not in client.get(f"/leads/{unassigned.pk}/").content.decode()
