import pytest
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.leads.models import Lead

FIRST = """\
From: Jane Doe <jane@initech.example>
To: sales@acme.example
Subject: Pricing question
Date: Mon, 16 Nov 2026 09:30:00 +0000
Message-ID: <first-1@initech.example>
Content-Type: text/plain; charset=utf-8

Hi, what does the enterprise plan cost?
"""

REPLY = """\
From: Rita Rep <rep1@acme.example>
To: Jane Doe <jane@initech.example>
Subject: Re: Pricing question
Date: Mon, 16 Nov 2026 10:00:00 +0000
Message-ID: <reply-2@acme.example>
In-Reply-To: <first-1@initech.example>
References: <first-1@initech.example>

It depends on seats. Call tomorrow?
"""

HTML_ONLY = """\
From: jane@initech.example
Subject: Another topic
Message-ID: <other-3@initech.example>
Content-Type: text/html

<p>Separate <b>thread</b></p>
"""


@pytest.fixture
def lead(make_lead):
    return make_lead(name="Jane Doe", email="jane@initech.example")


def post(client, lead, **body):
    return client.post(f"/api/leads/{lead.pk}/emails/", body, format="json")


def test_raw_email_is_recorded_with_its_headers(api, lead, org):
    response = post(api(Role.MANAGER), lead, raw=FIRST)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["type"], body["subject"], body["message_id"]) == (
        "EMAIL",
        "Pricing question",
        "<first-1@initech.example>",
    )
    assert body["body"].startswith("Hi, what does")
    assert body["metadata"]["direction"] == "inbound"
    assert body["occurred_at"] == "2026-11-16T09:30:00Z"
    with schema_context(org.schema_name):
        assert Lead.objects.get(pk=lead.pk).last_contacted_at.isoformat() == "2026-11-16T09:30:00+00:00"


def test_replies_join_the_thread_and_threads_are_listed(api, lead):
    client = api(Role.MANAGER)
    post(client, lead, raw=FIRST)
    reply = post(client, lead, raw=REPLY).json()
    assert reply["thread_id"] == "<first-1@initech.example>"
    assert reply["metadata"]["direction"] == "outbound"
    other = post(client, lead, raw=HTML_ONLY).json()
    assert other["body"].split() == ["Separate", "thread"]
    # parsed fields work too, with the reference given as a bare id
    post(
        client,
        lead,
        **{
            "from": "jane@initech.example",
            "subject": "Re: Re: Pricing question",
            "message_id": "third-4@initech.example",
            "in_reply_to": "<reply-2@acme.example>",
            "body": "Tomorrow works.",
        },
    )

    threads = client.get(f"/api/leads/{lead.pk}/email-threads/").json()["results"]
    # latest message first: the undated reply was recorded last, so its thread leads
    assert [thread["thread_id"] for thread in threads] == [
        "<first-1@initech.example>",
        "<other-3@initech.example>",
    ]
    pricing = threads[0]
    assert pricing["count"] == 3
    assert [message["message_id"] for message in pricing["messages"]] == [
        "<first-1@initech.example>",
        "<reply-2@acme.example>",
        "<third-4@initech.example>",
    ]


def test_the_same_message_is_recorded_once(api, lead, org):
    client = api(Role.MANAGER)
    first = post(client, lead, raw=FIRST)
    again = post(client, lead, raw=FIRST)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    with schema_context(org.schema_name):
        assert Activity.objects.filter(lead_id=lead.pk, type=ActivityType.EMAIL).count() == 1


def test_a_message_without_message_id_is_still_recognized_when_sent_again(api, lead):
    client = api(Role.MANAGER)
    raw = "From: jane@initech.example\nSubject: no id\n\nbody\n"
    assert post(client, lead, raw=raw).status_code == 201
    assert post(client, lead, raw=raw).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"raw": "just some text without headers"}, "raw"),
        ({"raw": ""}, "raw"),
        ({"raw": 42}, "raw"),
        ({}, "raw"),
        ({"from": "a@b.c", "message_id": "<<bad"}, "message_id"),
        ({"from": "a@b.c", "date": "the day after tomorrow"}, "date"),
    ],
)
def test_bad_emails_are_400(api, lead, body, field):
    response = post(api(Role.MANAGER), lead, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_an_email_logged_on_the_timeline_starts_a_thread_or_joins_the_one_it_answers(api, lead):
    client = api(Role.MANAGER)
    log = f"/api/leads/{lead.pk}/activities/"
    post(client, lead, raw=FIRST)

    alone = client.post(log, {"type": "EMAIL", "subject": "Intro"}, format="json").json()
    assert alone["thread_id"] and alone["thread_id"] == alone["message_id"]
    answer = client.post(
        log,
        {"type": "EMAIL", "subject": "Re: Pricing", "metadata": {"in_reply_to": "<first-1@initech.example>"}},
        format="json",
    ).json()
    assert answer["thread_id"] == "<first-1@initech.example>"
    # the same words logged twice are two messages, not a duplicate refused
    again = client.post(log, {"type": "EMAIL", "subject": "Intro"}, format="json")
    assert again.status_code == 201 and again.json()["thread_id"] != alone["thread_id"]

    threads = client.get(f"/api/leads/{lead.pk}/email-threads/").json()["results"]
    assert all(thread["thread_id"] for thread in threads)
    counts = {thread["thread_id"]: thread["count"] for thread in threads}
    assert counts["<first-1@initech.example>"] == 2 and counts[alone["thread_id"]] == 1


def test_an_email_logged_on_another_record_is_threaded_too(api, make_account):
    account = make_account()
    logged = api(Role.MANAGER).post(
        f"/api/accounts/{account.pk}/activities/", {"type": "EMAIL", "subject": "Renewal"}, format="json"
    )
    assert logged.status_code == 201
    assert logged.json()["thread_id"] == logged.json()["message_id"] != ""


def test_a_logged_email_naming_a_malformed_parent_is_a_400_naming_metadata(api, lead):
    response = api(Role.MANAGER).post(
        f"/api/leads/{lead.pk}/activities/",
        {"type": "EMAIL", "metadata": {"in_reply_to": "<not an id"}},
        format="json",
    )
    assert response.status_code == 400 and "metadata" in response.json()["errors"]


FROM = {"from": "many@initech.example"}


def test_email_threads_come_a_bounded_page_at_a_time(api, make_lead, monkeypatch):
    from tenant_apps.activities import selectors

    monkeypatch.setattr(selectors, "MESSAGES_PER_THREAD", 2)
    client = api(Role.MANAGER)
    lead = make_lead(name="Many Threads", email="many@initech.example")
    for n in range(5):
        sent = post(client, lead, subject=f"Thread {n}", message_id=f"t{n}@x.example", body="Hello", **FROM)
        assert sent.status_code == 201, sent.content
    for n in range(3):  # three replies in thread 0: its count is 4, two shown
        reply = post(
            client, lead, subject="Re", message_id=f"r{n}@x.example", in_reply_to="<t0@x.example>", **FROM
        )
        assert reply.status_code == 201, reply.content
    url = f"/api/leads/{lead.pk}/email-threads/"
    first = client.get(url, {"page_size": 2}).json()
    assert first["previous"] is None and first["next"]
    assert first["results"][0]["count"] == 4 and len(first["results"][0]["messages"]) == 2
    seen = [thread["thread_id"] for thread in first["results"]]
    page = first
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [thread["thread_id"] for thread in page["results"]]
    assert len(seen) == len(set(seen)) == 5
    too_big = client.get(url, {"page_size": 1000})
    assert too_big.status_code == 400 and "page_size" in too_big.json()["errors"]
    assert client.get(url, {"page": "x"}).status_code == 400
