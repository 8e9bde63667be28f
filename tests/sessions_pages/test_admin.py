"""A user's sessions in Django's admin: the change page's section, its "end this
session" and "end all sessions" buttons, and the list across users (test client)."""

from __future__ import annotations

import importlib
from functools import partial
from importlib import import_module

import pytest
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Permission, User
from django.template.loader import render_to_string
from django.test import Client
from django.urls import clear_url_caches

from django_express_session import users
from django_express_session.admin import (
    UserSessionsAdminMixin,
    register_user_admin,
)
from tests.sessions_pages import urls as sessions_pages_urls
from tests.sessions_pages.support import (
    PASSWORD,
    URLS,
    logged_in,
    ref_of,
    sid_of,
    unlisting_store,
    user_of,
)
from tests.test_identity import browser, express_login

pytestmark = pytest.mark.django_db


def staff(name: str, *permissions: str) -> User:
    user = User.objects.create_user(name, password=PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    return user


def change_page(user: User) -> str:
    return f"/admin/auth/user/{user.pk}/change/"


def end_url(user: User) -> str:
    return f"/admin/auth/user/{user.pk}/sessions/end/"


def end_all_url(user: User) -> str:
    return f"/admin/auth/user/{user.pk}/sessions/end-all/"


def test_the_stock_user_admin_has_the_sessions_and_a_custom_one_is_left_alone():
    site = admin.AdminSite()
    site.register(User, auth_admin.UserAdmin)
    register_user_admin(site)
    assert isinstance(site.get_model_admin(User), UserSessionsAdminMixin)
    import_module(URLS)  # the project's URLconf opts in for admin.site
    assert isinstance(admin.site.get_model_admin(User), UserSessionsAdminMixin)
    registered = admin.site.get_model_admin(User)

    class ProjectUserAdmin(auth_admin.UserAdmin):
        pass

    admin.site.unregister(User)
    admin.site.register(User, ProjectUserAdmin)
    try:
        register_user_admin()
        assert type(admin.site.get_model_admin(User)) is ProjectUserAdmin
    finally:
        admin.site.unregister(User)
        admin.site.register(User, type(registered))


def test_the_change_page_lists_the_users_sessions_and_no_one_elses(root, alice, bob):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    page = logged_in("root").get(change_page(alice)).content.decode()
    assert 'id="user-sessions"' in page
    for client in (laptop, phone):
        assert f'value="{ref_of(client)}"' in page
        assert f"<code>{sid_of(client)[:6]}…</code>" in page
    assert ref_of(other) not in page
    assert sid_of(laptop) not in page  # hints only, never an id
    assert "End all sessions" in page and "this is you" not in page


def test_the_admins_own_page_marks_this_browser_and_offers_no_end_for_it(root):
    me, elsewhere = logged_in("root"), logged_in("root")
    page = me.get(change_page(root)).content.decode()
    assert "this is you" in page
    assert f'value="{ref_of(elsewhere)}"' in page
    assert f'value="{ref_of(me)}"' not in page
    assert "End all my other sessions" in page


def test_end_this_session_ends_that_one_only(root, alice, bob):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    response = logged_in("root").post(end_url(alice), {"ref": ref_of(phone)}, follow=True)
    assert response.redirect_chain == [(change_page(alice), 302)]
    assert "Ended one session of alice." in response.content.decode()
    assert user_of(phone) is None
    assert user_of(laptop) == "alice" and user_of(other) == "bob"


def test_ending_a_session_that_is_gone_says_so(root, alice, bob):
    other = logged_in("bob")
    response = logged_in("root").post(end_url(alice), {"ref": ref_of(other)}, follow=True)
    assert "That session had already ended." in response.content.decode()
    assert user_of(other) == "bob"  # bob's ref names no session of alice


def test_end_all_sessions_ends_every_session_of_the_user_and_no_other(root, alice, bob):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    admin_client = logged_in("root")
    response = admin_client.post(end_all_url(alice), follow=True)
    assert "Ended 2 sessions of alice." in response.content.decode()
    assert user_of(laptop) is None and user_of(phone) is None
    assert user_of(other) == "bob" and user_of(admin_client) == "root"
    assert users.sessions_of(alice) == []


def test_end_all_on_the_admins_own_page_keeps_this_browser(root):
    me, elsewhere = logged_in("root"), logged_in("root")
    response = me.post(end_all_url(root), follow=True)
    assert "Ended 1 other session of root." in response.content.decode()
    assert user_of(elsewhere) is None and user_of(me) == "root"


def test_ending_this_browsers_own_session_from_the_admin_is_refused(root):
    me = logged_in("root")
    response = me.post(end_url(root), {"ref": ref_of(me)}, follow=True)
    assert "log out to end it" in response.content.decode()
    assert user_of(me) == "root"


def test_the_buttons_are_post_only_and_csrf_protected(root, alice):
    phone = logged_in("alice")
    admin_client = logged_in(
        "root", browser(client_class=partial(Client, enforce_csrf_checks=True))
    )
    assert admin_client.get(end_all_url(alice)).status_code == 405
    assert admin_client.post(end_all_url(alice)).status_code == 403
    assert admin_client.post(end_url(alice), {"ref": ref_of(phone)}).status_code == 403
    assert user_of(phone) == "alice"
    token = admin_client.get(change_page(alice)).context["csrf_token"]
    assert (
        admin_client.post(end_all_url(alice), {"csrfmiddlewaretoken": str(token)}).status_code
        == 302
    )
    assert user_of(phone) is None


def test_a_viewer_sees_the_sessions_but_cannot_end_them(alice):
    staff("viewer", "view_user")
    phone = logged_in("alice")
    viewer = logged_in("viewer")
    page = viewer.get(change_page(alice)).content.decode()
    assert f"<code>{sid_of(phone)[:6]}…</code>" in page
    assert f'action="{end_url(alice)}"' not in page and "End all sessions" not in page
    assert viewer.post(end_all_url(alice)).status_code == 403
    assert viewer.post(end_url(alice), {"ref": ref_of(phone)}).status_code == 403
    assert user_of(phone) == "alice"
    assert viewer.get("/admin/auth/user/sessions/").status_code == 200


def test_who_has_the_change_permission_on_users_can_end_them(alice):
    staff("helpdesk", "view_user", "change_user")
    phone = logged_in("alice")
    assert logged_in("helpdesk").post(end_all_url(alice)).status_code == 302
    assert user_of(phone) is None


def test_staff_without_a_permission_on_users_sees_nothing(alice):
    staff("editor")
    client = logged_in("editor")
    assert client.get(change_page(alice)).status_code == 403
    assert client.get("/admin/auth/user/sessions/").status_code == 403
    assert client.post(end_all_url(alice)).status_code == 403


def test_a_user_who_is_not_staff_is_sent_to_the_admin_login(alice):
    phone = logged_in("alice")
    response = phone.post(end_all_url(alice))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert user_of(phone) == "alice"


def sessions_list(client: Client, **query: str) -> str:
    response = client.get("/admin/auth/user/sessions/", query)
    assert response.status_code == 200
    return response.content.decode()


def test_the_sessions_list_shows_every_users_sessions_with_their_user(root, alice, bob):
    phone, other = logged_in("alice"), logged_in("bob")
    anonymous = browser()
    anonymous.get("/account/status")
    page = sessions_list(logged_in("root"))
    assert f"<code>{sid_of(phone)[:6]}…</code>" in page and f"?user={alice.pk}" in page
    assert f"<code>{sid_of(other)[:6]}…</code>" in page and f"?user={bob.pk}" in page
    assert "this is you" in page  # the admin's own session is listed too
    assert "3 sessions" in page


def test_the_sessions_list_filters_by_user_and_searches_by_username(root, alice, bob):
    phone, other = logged_in("alice"), logged_in("bob")
    admin_client = logged_in("root")
    for page in (
        sessions_list(admin_client, user=str(alice.pk)),
        sessions_list(admin_client, q="ALI"),
    ):
        assert sid_of(phone)[:6] in page and sid_of(other)[:6] not in page
        assert "1 session" in page
    assert "No live session of a user matching" in sessions_list(admin_client, q="nobody")
    assert admin_client.get("/admin/auth/user/sessions/", {"user": "999"}).status_code == 404
    assert admin_client.get("/admin/auth/user/sessions/", {"user": "x"}).status_code == 404


def test_ending_from_the_sessions_list_comes_back_to_it(root, alice):
    phone = logged_in("alice")
    back = f"/admin/auth/user/sessions/?user={alice.pk}"
    response = logged_in("root").post(
        end_url(alice), {"ref": ref_of(phone), "next": back}, follow=True
    )
    assert response.redirect_chain == [(back, 302)]
    assert user_of(phone) is None
    evil = logged_in("root").post(end_url(alice), {"ref": "x", "next": "https://evil.example/"})
    assert evil["Location"] == change_page(alice)


def test_the_user_list_links_to_the_sessions_list(root):
    page = logged_in("root").get("/admin/auth/user/").content.decode()
    assert 'href="/admin/auth/user/sessions/"' in page


def test_a_store_that_cannot_list_says_so_instead_of_failing(
    settings, memcached_server, root, alice
):
    unlisting_store(settings, memcached_server)
    admin_client = logged_in("root")
    assert "cannot tell its sessions from other keys" in sessions_list(admin_client)
    page = admin_client.get(change_page(alice)).content.decode()
    assert "The sessions cannot be listed" in page
    response = admin_client.post(end_all_url(alice), follow=True)
    assert "No session was ended" in response.content.decode()


def test_a_session_the_express_app_logged_in_is_listed_with_its_user(express, root, alice):
    store = express(passport={"field": "username"})
    express_login(store, "from-express-app", "alice")
    admin_client = logged_in("root")
    assert "<code>from-e…</code>" in admin_client.get(change_page(alice)).content.decode()
    page = sessions_list(admin_client)
    assert "<code>from-e…</code>" in page and f"?user={alice.pk}" in page
    admin_client.post(end_all_url(alice))
    assert store.read("from-express-app") is None


def test_the_section_renders_nothing_without_the_mixins_context():
    # As on an add page, which a user admin without add_form_template renders with the
    # mixin's change_form_template.
    assert render_to_string("django_express_session/admin/user_sessions.html").strip() == ""


@pytest.fixture
def admin_hiding_superusers():
    """A project's user admin that shows staff no superuser and lets them view only
    themselves and users without staff status."""
    registered = admin.site.get_model_admin(User)

    class ScopedUserAdmin(UserSessionsAdminMixin, auth_admin.UserAdmin):
        def get_queryset(self, request):
            return super().get_queryset(request).filter(is_superuser=False)

        def has_view_permission(self, request, obj=None):
            allowed = super().has_view_permission(request, obj)
            return allowed and (obj is None or not obj.is_staff or obj == request.user)

    def register(admin_class):
        # The admin's URLs are bound to the ModelAdmin instance when the URLconf is
        # built: build it anew around each registration.
        admin.site.unregister(User)
        admin.site.register(User, admin_class)
        importlib.reload(sessions_pages_urls)
        clear_url_caches()

    register(ScopedUserAdmin)
    yield
    register(type(registered))


def test_the_sessions_list_shows_only_users_the_user_admin_shows(
    root, alice, admin_hiding_superusers
):
    staff("helper", "view_user")
    staff("colleague", "view_user")
    phone, boss, colleague = logged_in("alice"), logged_in("root"), logged_in("colleague")
    viewer = logged_in("helper")
    page = sessions_list(viewer)
    assert sid_of(phone)[:6] in page
    assert sid_of(boss)[:6] not in page  # not in get_queryset
    assert sid_of(colleague)[:6] not in page  # no view permission on that row
    assert "2 sessions" in page  # alice's and the helper's own
    for query in ({"q": "root"}, {"q": "coll"}):
        assert sid_of(boss)[:6] not in sessions_list(viewer, **query)
        assert sid_of(colleague)[:6] not in sessions_list(viewer, **query)
    root_user = User.objects.get(username="root")
    assert viewer.get("/admin/auth/user/sessions/", {"user": root_user.pk}).status_code == 404


def test_the_list_across_users_puts_sessions_with_no_recorded_visit_last(express, root, alice):
    store = express(passport={"field": "username"}, track=["ip"])  # visits recorded
    express_login(store, "no-visit-recorded", "alice")  # no createdAt, no lastSeenAt
    phone = logged_in("alice")
    admin_client = logged_in("root")
    page = sessions_list(admin_client)
    assert page.index(f"<code>{sid_of(phone)[:6]}…</code>") < page.index("<code>no-vis…</code>")


def test_end_all_is_offered_even_when_no_session_is_listed(root, alice):
    admin_client = logged_in("root")
    page = admin_client.get(change_page(alice)).content.decode()
    assert "No live session." in page and "End all sessions" in page
