"""A user's sessions in Django's admin: on the user's change page, and a list across users.

Sessions are records in a store (Redis, files, a cache, ...), not rows of a table, so
there is no model for them: an unmanaged model would need a migration for a table that
does not exist, and a changelist built on a queryset that cannot be one. They are
shown by views attached to the admin of the user model instead, through
``UserSessionsAdminMixin``: the user change page lists the user's sessions and ends
them, and ``<users>/sessions/`` lists sessions across users. The user admin is where
these belong: its permissions already say who may look at and change a user, and its
URLs and breadcrumbs are the ones an admin follows to a user.

Django's stock ``User`` admin gets the mixin when the project calls
``register_user_admin()`` (below); a project with a user admin of its own adds the mixin
to it::

    @admin.register(MyUser)
    class MyUserAdmin(UserSessionsAdminMixin, UserAdmin): ...

Who may do what: anyone who may view a user (the ``view`` or ``change`` permission on
the user model, or a superuser) sees the user's sessions, and the list across users;
ending them takes the ``change`` permission on that user, the one Django's admin asks
before it lets anyone change the user's password, which ending sessions is akin to
(both log the user out of their devices).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import conf, users
from .owner import django_user_id, passport_user
from .record import now_ms

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.db.models import QuerySet
    from django.http import HttpRequest, HttpResponse

__all__ = ["UserSessionsAdminMixin"]


@dataclass(frozen=True)
class SessionRow:
    """One line of the list across users: whose session it is, and the session."""

    user: Any
    session: users.UserSession


class UserSessionsAdminMixin:
    """Adds a user's sessions to a user model's ``ModelAdmin``: a "Sessions" section on
    the change page with "end this session" and "end all sessions", and a sessions list
    across users at ``sessions/`` (``?user=<pk>`` filters it, ``?q=`` searches by
    username). A project whose admin has a ``change_form_template`` of its own includes
    ``django_express_session/admin/user_sessions.html`` at the end of its ``content``
    block (and a ``change_list_template`` of its own links to the list)."""

    change_form_template = "django_express_session/admin/user_change_form.html"
    change_list_template = "django_express_session/admin/user_change_list.html"
    sessions_list_template = "django_express_session/admin/sessions_list.html"

    # -- URLs -----------------------------------------------------------------------------

    def get_urls(self) -> list:
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("sessions/", wrap(self.sessions_list_view), name=f"{name}_sessions"),
            path(
                "<path:object_id>/sessions/end/",
                wrap(require_POST(self.end_session_view)),
                name=f"{name}_end_session",
            ),
            path(
                "<path:object_id>/sessions/end-all/",
                wrap(require_POST(self.end_all_sessions_view)),
                name=f"{name}_end_all_sessions",
            ),
            *super().get_urls(),
        ]

    def _url(self, view: str, *args: Any) -> str:
        opts = self.model._meta
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_{view}",
            args=args,
            current_app=self.admin_site.name,
        )

    # -- the user list and the change page ------------------------------------------------

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"user_sessions_list_url": self._url("sessions"), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        user = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if user is not None and self.has_view_or_change_permission(request, user):
            context.update(self._sessions_context(request, user))
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _sessions_context(self, request: HttpRequest, user: AbstractBaseUser) -> dict[str, Any]:
        sessions, cannot_list = _listed(lambda: users.sessions_of(user, request, thorough=True))
        return {
            "user_sessions": sessions,
            "user_sessions_cannot_list": cannot_list,
            "user_sessions_can_end": self.has_change_permission(request, user),
            "user_sessions_is_self": user.pk == request.user.pk,
            "user_sessions_end_url": self._url("end_session", user.pk),
            "user_sessions_end_all_url": self._url("end_all_sessions", user.pk),
            "user_sessions_list_url": f"{self._url('sessions')}?user={user.pk}",
        }

    # -- ending sessions ------------------------------------------------------------------

    def _user_to_change(self, request: HttpRequest, object_id: str) -> AbstractBaseUser:
        user = self.get_object(request, unquote(object_id))
        if user is None:
            raise Http404(f"no {self.model._meta.verbose_name} with the id {object_id!r}")
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        return user

    def end_session_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST ``ref``: end that session of the user."""
        user = self._user_to_change(request, object_id)
        ref = request.POST.get("ref", "")
        if _is_current(request, ref):
            # Ending the admin's own session from here would log them out mid-request.
            self.message_user(
                request, "That is this browser's session: log out to end it.", messages.WARNING
            )
        else:
            ended = _run(request, self, lambda: users.end_session(user, ref, request=request))
            if ended:
                self.message_user(request, f"Ended one session of {user.get_username()}.")
            elif ended is not None:
                self.message_user(request, "That session had already ended.", messages.WARNING)
        return self._back(request, user)

    def end_all_sessions_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """End every session of the user (but the admin's own, on their own page)."""
        user = self._user_to_change(request, object_id)
        keep = request.session if user.pk == request.user.pk else None
        ended = _run(
            request, self, lambda: users.logout_everywhere(user, keep=keep, request=request)
        )
        if ended is not None:
            others = " other" if keep is not None else ""
            plural = "" if ended == 1 else "s"
            self.message_user(
                request, f"Ended {ended}{others} session{plural} of {user.get_username()}."
            )
        return self._back(request, user)

    def _back(self, request: HttpRequest, user: AbstractBaseUser) -> HttpResponse:
        """To ``next`` (the sessions list the button was on), else the user's page."""
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = self._url("change", user.pk)
        return HttpResponseRedirect(target)

    # -- the list across users ------------------------------------------------------------

    def sessions_list_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        query = request.GET.get("q", "").strip()
        # Only the users this admin shows (its get_queryset), each one the staff member
        # may view: the same rule as the user list and the change pages.
        users_shown = self.get_queryset(request)
        chosen = self._chosen_user(users_shown, request.GET.get("user"))
        if chosen is not None:
            found: Any = [chosen]
        elif query:
            found = users_shown.filter(**{f"{self.model.USERNAME_FIELD}__icontains": query})
        else:
            found = None
        viewable = partial(self.has_view_or_change_permission, request)
        if found is not None:
            listing = lambda: _rows_of(filter(viewable, found), request)  # noqa: E731
        else:
            listing = lambda: _all_rows(users_shown, viewable, request)  # noqa: E731
        rows, cannot_list = _listed(listing)
        page = Paginator(rows, self.list_per_page).get_page(request.GET.get("p"))
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "title": "Sessions",
            "subtitle": None if chosen is None else chosen.get_username(),
            "page": page,
            "rows": page.object_list,
            "count": len(rows),
            "query": query,
            "chosen_user": chosen,
            "cannot_list": cannot_list,
            "can_end": self.has_change_permission(request),
            "list_url": self._url("sessions"),
            "change_url_name": f"admin:{opts.app_label}_{opts.model_name}_change",
            "end_url_name": f"admin:{opts.app_label}_{opts.model_name}_end_session",
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.sessions_list_template, context)

    def _chosen_user(self, users_shown: QuerySet, pk: str | None) -> AbstractBaseUser | None:
        if not pk:
            return None
        try:
            user = users_shown.filter(pk=pk).first()
        except (ValueError, ValidationError):
            user = None
        if user is None:
            raise Http404(f"no {self.model._meta.verbose_name} with the id {pk!r}")
        return user


def _listed(listing: Any) -> tuple[list, str | None]:
    """What ``listing()`` lists, or nothing and why: a store that cannot list its
    sessions (the cache store without a key prefix, a memcached that cannot dump its
    keys) says so, and the page shows that instead of failing."""
    try:
        return listing(), None
    except NotImplementedError as error:
        return [], str(error) or "this session store cannot list sessions"


def _run(request: HttpRequest, model_admin: Any, action: Any) -> Any:
    """``action()``, or None with the reason as an error message when the store cannot
    list the sessions to end."""
    try:
        return action()
    except NotImplementedError as error:
        reason = str(error) or "this session store cannot list sessions"
        model_admin.message_user(request, f"No session was ended: {reason}.", messages.ERROR)
        return None


def _is_current(request: HttpRequest, ref: str) -> bool:
    sid = getattr(request.session, "session_key", None)
    return sid is not None and users.ref_of(sid) == ref


def _rows_of(found: Any, request: HttpRequest) -> list[SessionRow]:
    """The sessions of each user ``found``, all of them (thorough), in the order of the
    list across users."""
    rows = [
        SessionRow(user, s)
        for user in found
        for s in users.sessions_of(user, request, thorough=True)
    ]
    return sorted(rows, key=lambda row: users.recency(row.session), reverse=True)


def _all_rows(
    users_shown: QuerySet, viewable: Callable[[Any], bool], request: HttpRequest
) -> list[SessionRow]:
    """Every live session of the store with its user (a scan of ``all()``), the most
    recently seen first, those with no recorded visit last; records of no user (anonymous sessions) and of users not
    ``users_shown`` or not ``viewable`` are left out."""
    store = conf.get_store()
    records = store.all()
    owners = _owners(users_shown, records)
    current, now = getattr(request.session, "session_key", None), now_ms()
    rows = [
        SessionRow(owners[sid], users.describe(sid, record, current))
        for sid, record in records.items()
        if sid in owners and viewable(owners[sid]) and not store.past_cap(record, now)
    ]
    return sorted(rows, key=lambda row: users.recency(row.session), reverse=True)


def _owners(users_shown: QuerySet, records: dict[str, Any]) -> dict[str, Any]:
    """The user of each record among ``users_shown``, by sid: by ``_auth_user_id`` (one
    query for all), else by ``passport.user`` as the identity bridge would log it in."""
    pk_field = users_shown.model._meta.pk
    ids = {}
    for sid, record in records.items():
        pk = django_user_id(record)
        if pk is not None:
            try:
                ids[sid] = pk_field.to_python(pk)
            except ValidationError:
                continue  # not a key of this user model: the record names no user here
    by_pk = users_shown.in_bulk(set(ids.values()))
    owners = {sid: by_pk[pk] for sid, pk in ids.items() if pk in by_pk}
    passport = conf.get_options().passport
    if passport is not None:
        bridged = {}
        for sid, record in records.items():
            value = passport_user(record)
            if sid not in owners and value is not None:
                user = passport.serializer.from_passport(value)
                if user is not None and passport.names(user, value):
                    bridged[sid] = user
        shown = set(
            users_shown.filter(pk__in={u.pk for u in bridged.values()}).values_list("pk", flat=True)
        )
        owners.update({sid: user for sid, user in bridged.items() if user.pk in shown})
    return owners


def register_user_admin(site: admin.AdminSite = admin.site) -> None:
    """Give Django's stock user admin the sessions: replace ``django.contrib.auth``'s
    ``UserAdmin`` registration on ``site`` by one with ``UserSessionsAdminMixin``. The
    project opts in with this one call (in its ``urls.py``, say); importing this module
    registers nothing. A project that registered a user admin of its own is left alone
    (it adds the mixin)."""
    if not apps.is_installed("django.contrib.auth"):
        return
    from django.contrib.auth import admin as auth_admin  # registers User, whatever the order
    from django.contrib.auth.models import User

    if not site.is_registered(User):
        return  # swapped for a custom user model, or unregistered by the project
    if type(site.get_model_admin(User)) is not auth_admin.UserAdmin:
        return

    class UserAdmin(UserSessionsAdminMixin, auth_admin.UserAdmin):
        pass

    site.unregister(User)
    site.register(User, UserAdmin)
